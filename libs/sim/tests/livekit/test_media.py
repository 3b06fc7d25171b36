import asyncio
import contextlib
from collections.abc import AsyncIterator

import numpy as np
import pytest
from livekit import rtc

from switchboard.sim.livekit import LiveKitEmulator

from .conftest import join_token

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

RATE = 48000
FRAME = RATE // 100  # 10 ms


def tone(frequency: float, seconds: float) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.3 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


async def speak(source: rtc.AudioSource, samples: np.ndarray) -> None:
    for start in range(0, len(samples) - FRAME + 1, FRAME):
        chunk = samples[start : start + FRAME]
        await source.capture_frame(rtc.AudioFrame(chunk.tobytes(), RATE, 1, FRAME))


async def publish_tone(room: rtc.Room, frequency: float) -> tuple[rtc.AudioSource, asyncio.Task[None]]:
    source = rtc.AudioSource(RATE, 1)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(track, options)
    return source, asyncio.create_task(speak(source, tone(frequency, 8.0)))


async def heard(room: rtc.Room, identity: str, seconds: float) -> np.ndarray:
    """What `room` hears from `identity` during `seconds`, as 48 kHz mono samples."""
    subscribed: asyncio.Future[rtc.Track] = asyncio.get_running_loop().create_future()

    def on_subscribed(track: rtc.Track, _pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant) -> None:
        if p.identity == identity and not subscribed.done():
            subscribed.set_result(track)

    room.on("track_subscribed", on_subscribed)
    for participant in room.remote_participants.values():
        for publication in participant.track_publications.values():
            if participant.identity == identity and publication.track is not None and not subscribed.done():
                subscribed.set_result(publication.track)
    track = await asyncio.wait_for(subscribed, 20)
    stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1)
    chunks: list[np.ndarray] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for event in stream:
                chunks.append(np.frombuffer(event.frame.data, dtype=np.int16).copy())
    await stream.aclose()
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def dominant_frequency(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[int(np.argmax(spectrum))])


@contextlib.asynccontextmanager
async def joined(emulator: LiveKitEmulator, identity: str) -> AsyncIterator[rtc.Room]:
    room = rtc.Room()
    await room.connect(emulator.ws_url, join_token("media", identity))
    try:
        yield room
    finally:
        await room.disconnect()


async def test_two_participants_hear_each_other(emulator: LiveKitEmulator) -> None:
    async with joined(emulator, "alice") as alice, joined(emulator, "bob") as bob:
        _a, alice_speaking = await publish_tone(alice, 440.0)
        _b, bob_speaking = await publish_tone(bob, 1000.0)
        try:
            alice_hears, bob_hears = await asyncio.gather(heard(alice, "bob", 3.0), heard(bob, "alice", 3.0))
        finally:
            alice_speaking.cancel()
            bob_speaking.cancel()
    for samples, frequency in ((alice_hears, 1000.0), (bob_hears, 440.0)):
        loud = samples[np.abs(samples) > 1000]
        assert len(loud) > RATE // 2, "less than half a second of audible audio arrived"
        assert abs(dominant_frequency(samples) - frequency) < 20


async def test_an_unpublished_track_leaves_the_other_participants(emulator: LiveKitEmulator) -> None:
    async with joined(emulator, "alice") as alice, joined(emulator, "bob") as bob:
        unpublished = asyncio.get_running_loop().create_future()
        bob.on(
            "track_unpublished",
            lambda publication, p: (
                unpublished.done() or unpublished.set_result((p.identity, publication.sid))
            ),
        )
        _source, speaking = await publish_tone(alice, 440.0)
        try:
            assert (await heard(bob, "alice", 1.0)).size > 0
            (sid,) = alice.local_participant.track_publications
            await alice.local_participant.unpublish_track(sid)
            assert await asyncio.wait_for(unpublished, 10) == ("alice", sid)
        finally:
            speaking.cancel()
        assert not emulator.rooms["media"].tracks

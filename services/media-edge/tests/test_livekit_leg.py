"""A LiveKit call through the real edge, the LiveKit emulator and the real rtc SDK on both sides of the room."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import numpy as np
import pytest
from livekit import api, rtc

from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachRequest, request_attach
from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import (
    CallProgress,
    Control,
    DtmfReceived,
    Hangup,
    MediaStarted,
    MediaStopped,
    SendDtmf,
)
from switchboard.common.calls.record import CallStatus
from switchboard.common.errors import AttachError
from switchboard.common.recordings.store import RecordingStore, ensure_recordings
from switchboard.media_edge.livekit_leg import LiveKitAccess
from switchboard.media_edge.livekit_rooms import LiveKitRooms
from switchboard.sim.livekit import ApiKeys, LiveKitEmulator
from switchboard.sim.stand_in_agent import StandInAgent

from .conftest import AgentFactory, RunningEdge, RunningEdgeFactory, seed_call, wait_for
from .test_recording import channels, finished_recording, loud_ms, recorded_call

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

KEYS = ApiKeys(api_key="edgekey", api_secret="edge-secret-edge-secret-edge-secret")
RATE = 48000


@pytest.fixture
async def emulator() -> AsyncIterator[LiveKitEmulator]:
    async with LiveKitEmulator(keys=KEYS) as running:
        yield running


@contextlib.asynccontextmanager
async def livekit_calls(running: RunningEdge, emulator: LiveKitEmulator, secret: str = KEYS.api_secret):
    rooms = LiveKitRooms(running.edge, LiveKitAccess(emulator.ws_url, KEYS.api_key, secret), capacity=10)
    await rooms.start()
    try:
        yield rooms
    finally:
        await rooms.stop()


def tone(seconds: float, rate: int = 24000) -> np.ndarray:
    """A steady 440 Hz tone at the agent's rate: every 10 ms of it is loud."""
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


class Phone:
    """The SIP participant, as LiveKit's SIP service puts a phone in the room: it speaks, hears and keys DTMF."""

    def __init__(self) -> None:
        self.room = rtc.Room()
        self.heard: list[np.ndarray] = []
        self.digits: list[str] = []
        self.hearing = asyncio.Event()
        self.source = rtc.AudioSource(RATE, 1)
        self._tasks: list[asyncio.Task[None]] = []

    async def join(self, emulator: LiveKitEmulator, room: str, status: str = "active") -> None:
        token = (
            api.AccessToken(KEYS.api_key, KEYS.api_secret)
            .with_identity("sip_+15550100")
            .with_kind("sip")
            .with_attributes(
                {"sip.callStatus": status, "sip.callID": "SCL_test", "sip.phoneNumber": "+15550100"}
            )
            .with_grants(api.VideoGrants(room_join=True, room=room, can_update_own_metadata=True))
        )
        self.room.on("track_subscribed", self._on_track)
        self.room.on("sip_dtmf_received", lambda dtmf: self.digits.append(dtmf.digit))
        await self.room.connect(emulator.ws_url, token.to_jwt())
        track = rtc.LocalAudioTrack.create_audio_track("mic", self.source)
        await self.room.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )

    def _on_track(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, _p: rtc.RemoteParticipant
    ) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            self._tasks.append(asyncio.create_task(self._hear(track)))

    async def _hear(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=RATE, num_channels=1)
        async for event in stream:
            self.hearing.set()
            self.heard.append(np.frombuffer(event.frame.data, dtype=np.int16).copy())

    def loud_ms(self) -> int:
        """Milliseconds heard with the agent speaking (10 ms frames above a quiet floor)."""
        return 10 * sum(1 for chunk in self.heard if np.abs(chunk.astype(np.int32)).mean() > 300)

    async def say(self, seconds: float) -> None:
        t = np.arange(int(RATE * seconds)) / RATE
        samples = (0.3 * 32767 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
        for start in range(0, len(samples) - 480 + 1, 480):
            await self.source.capture_frame(
                rtc.AudioFrame(samples[start : start + 480].tobytes(), RATE, 1, 480)
            )

    async def hang_up(self) -> None:
        await self.room.disconnect()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def test_a_livekit_call_speaks_both_ways_with_barge_in_dtmf_and_the_callers_hang_up(
    client: Bus, media_edge: RunningEdgeFactory, agent: StandInAgent, emulator: LiveKitEmulator
) -> None:
    call_id = "lk-both-ways"
    await seed_call(client, call_id, transport="livekit", room="call-lk-1", status=CallStatus.RINGING)
    progress: list[CallProgress] = []
    hangups: list[Hangup] = []

    async def on_control(message: Control) -> None:
        if isinstance(message, CallProgress):
            progress.append(message)
        elif isinstance(message, Hangup):
            hangups.append(message)

    await client.subscribe_control(call_id, on_control)
    phone = Phone()
    async with media_edge() as running, livekit_calls(running, emulator):
        try:
            reply = await request_attach(
                client, subjects.edge_attach("livekit"), AttachRequest(call_id=call_id)
            )
            assert reply.accepted and reply.instance == "edge-under-test"
            await phone.join(emulator, "call-lk-1")
            answer = await agent.wait_for_call(call_id)
            await asyncio.wait_for(phone.hearing.wait(), 10)
            await wait_for(
                lambda: [p.status for p in progress] == ["in-progress"], what="the caller's status"
            )

            greeting = await answer.play(tone(1.0))
            report = await answer.wait_playout(greeting, timeout_s=10)
            assert report.played_ms == pytest.approx(1000, abs=25)
            await wait_for(lambda: phone.loud_ms() >= 950, what="the greeting at the phone")
            assert phone.loud_ms() <= 1010

            await phone.say(1.0)
            await wait_for(lambda: answer.caller_frames >= 40, what="the caller's audio at the agent")

            await asyncio.sleep(0.3)
            before = phone.loud_ms()
            long_answer = await answer.play(tone(5.0))
            await wait_for(lambda: phone.loud_ms() - before >= 600, what="the answer at the phone")
            await answer.clear(long_answer)
            cut = await answer.wait_playout(long_answer, timeout_s=10)
            await asyncio.sleep(1.0)
            heard = phone.loud_ms() - before
            print(f"reported played {cut.played_ms} ms, the phone heard {heard} ms")
            assert 600 <= cut.played_ms < 5000
            assert abs(heard - cut.played_ms) <= 60, "the report is not what the caller heard"

            await phone.room.local_participant.publish_dtmf(code=7, digit="7")
            await client.publish_control(call_id, SendDtmf(digits="1#"))
            await wait_for(lambda: phone.digits == ["1", "#"], what="the agent's DTMF at the phone")
        finally:
            await phone.hang_up()
        await wait_for(lambda: not running.edge.sessions, what="the call to end")
    history = await client.call_history(call_id)
    kinds = [type(event) for event in history]
    assert kinds.index(MediaStarted) < kinds.index(DtmfReceived) < kinds.index(MediaStopped)
    assert [e.digit for e in history if isinstance(e, DtmfReceived)] == ["7"]
    assert [e.reason for e in history if isinstance(e, MediaStopped)] == ["stop"]
    assert [(p.status, p.sequence) for p in progress] == [("in-progress", 1), ("completed", 2)]
    assert hangups == [], "the caller hung up: nothing for call-control to end"


async def test_a_ringing_phone_is_reported_and_the_agent_attached_once_it_answers(
    client: Bus, media_edge: RunningEdgeFactory, agent: StandInAgent, emulator: LiveKitEmulator
) -> None:
    call_id = "lk-ringing"
    await seed_call(client, call_id, transport="livekit", room="call-lk-ringing", status=CallStatus.INITIATED)
    progress: list[CallProgress] = []

    async def on_progress(message: Control) -> None:
        if isinstance(message, CallProgress):
            progress.append(message)

    await client.subscribe_control(call_id, on_progress, CallProgress.type_name())
    phone = Phone()
    async with media_edge() as running, livekit_calls(running, emulator):
        try:
            reply = await request_attach(
                client, subjects.edge_attach("livekit"), AttachRequest(call_id=call_id)
            )
            assert reply.accepted
            await phone.join(emulator, "call-lk-ringing", status="ringing")
            await wait_for(lambda: [p.status for p in progress] == ["ringing"], what="the ringing")
            await asyncio.sleep(0.3)
            assert call_id not in agent.calls, "no agent before the answer"
            await phone.room.local_participant.set_attributes({"sip.callStatus": "active"})
            await agent.wait_for_call(call_id)
            await wait_for(
                lambda: [(p.status, p.sequence) for p in progress] == [("ringing", 1), ("in-progress", 2)],
                what="the answer",
            )
        finally:
            await phone.hang_up()
        await wait_for(lambda: not running.edge.sessions, what="the call to end")


async def test_an_edge_with_the_wrong_secret_is_refused_and_asks_for_the_hang_up(
    client: Bus, media_edge: RunningEdgeFactory, agent: StandInAgent, emulator: LiveKitEmulator
) -> None:
    call_id = "lk-wrong-secret"
    await seed_call(client, call_id, transport="livekit", room="call-lk-2")
    hangups: list[Hangup] = []

    async def on_hangup(message: Control) -> None:
        if isinstance(message, Hangup):
            hangups.append(message)

    await client.subscribe_control(call_id, on_hangup, Hangup.type_name())
    async with (
        media_edge() as running,
        livekit_calls(running, emulator, secret="not-the-secret-not-the-secret-not-it"),
    ):
        reply = await request_attach(client, subjects.edge_attach("livekit"), AttachRequest(call_id=call_id))
        assert reply.accepted
        await wait_for(lambda: [h.reason for h in hangups] == ["livekit_refused"], what="the hang-up request")
        await wait_for(lambda: not running.edge.sessions, what="the call to end")
        assert running.metric("switchboard_edge_streams_refused_total", reason="livekit_refused") == 1
    assert emulator.rooms.get("call-lk-2") is None or not emulator.rooms["call-lk-2"].members


async def test_a_livekit_call_is_recorded_with_what_the_caller_heard(
    client: Bus, media_edge: RunningEdgeFactory, agent: StandInAgent, emulator: LiveKitEmulator
) -> None:
    call_id = "lk-recorded"
    store = RecordingStore(await ensure_recordings(client.js))
    await recorded_call(client, call_id, transport="livekit", room="call-lk-rec", status=CallStatus.RINGING)
    phone = Phone()
    async with media_edge() as running, livekit_calls(running, emulator):
        running.edge.recordings = store
        try:
            reply = await request_attach(
                client, subjects.edge_attach("livekit"), AttachRequest(call_id=call_id)
            )
            assert reply.accepted
            await phone.join(emulator, "call-lk-rec")
            answer = await agent.wait_for_call(call_id)
            async with asyncio.timeout(10):  # what is said before the edge has the phone's track is not heard
                while answer.caller_frames == 0:
                    await phone.say(0.1)
            await phone.say(1.0)
            long_answer = await answer.play(tone(5.0))
            await wait_for(lambda: phone.loud_ms() >= 600, what="the answer at the phone")
            await answer.clear(long_answer)
            cut = await answer.wait_playout(long_answer, timeout_s=10)
            await asyncio.sleep(1.0)
        finally:
            await phone.hang_up()
        await wait_for(lambda: not running.edge.sessions, what="the call to end")
    record = await finished_recording(client, call_id)
    assert record.recording is not None and record.recording.state == "complete"
    info = await store.info(call_id)
    assert info is not None and info.complete
    stereo = await channels(store, call_id, info)
    heard, recorded = phone.loud_ms(), loud_ms(stereo[:, 1])
    print(f"heard {heard} ms, reported played {cut.played_ms} ms, the right channel holds {recorded:.0f} ms")
    assert 600 <= heard < 5000, "the clear cut the answer short"
    # The right channel follows the edge's playout clock: what it reported as played (how closely that follows
    # the phone is the leg's own test).
    assert abs(recorded - cut.played_ms) <= 100
    assert loud_ms(stereo[:, 0]) >= 700, "the caller's second of speech is on the left channel"


async def test_a_livekit_call_survives_the_loss_of_its_agent_replica(
    client: Bus, media_edge: RunningEdgeFactory, agents: AgentFactory, emulator: LiveKitEmulator
) -> None:
    call_id = "lk-replica-lost"
    await seed_call(client, call_id, transport="livekit", room="call-lk-3")
    dying = await agents("lk-replica-a")
    phone = Phone()
    watched = {"component_timeout_s": 1.0, "heartbeat_interval_s": 0.2, "attach_timeout_s": 0.5}
    async with media_edge(**watched) as running, livekit_calls(running, emulator):
        try:
            await request_attach(client, subjects.edge_attach("livekit"), AttachRequest(call_id=call_id))
            await phone.join(emulator, "call-lk-3")
            first = await dying.wait_for_call(call_id)
            await asyncio.wait_for(phone.hearing.wait(), 10)
            played = await first.play(tone(0.4))
            await first.wait_playout(played, timeout_s=10)
            survivor = await agents("lk-replica-b")
            await dying.stop()  # the pod is gone: no heartbeats, no attach replies
            second = await survivor.wait_for_call(call_id, timeout_s=15)
            assert second.request.resume and second.request.first_generation > played
            before = phone.loud_ms()
            generation = await second.play(tone(0.5))
            report = await second.wait_playout(generation, timeout_s=10)
            assert report.played_ms == pytest.approx(500, abs=25), "the new agent's answer was not played"
            await wait_for(lambda: phone.loud_ms() - before >= 450, what="the new agent at the phone")
            await phone.say(0.5)
            await wait_for(lambda: second.caller_frames >= 20, what="caller audio at the new agent")
        finally:
            await phone.hang_up()
        await wait_for(lambda: not running.edge.sessions, what="the call to end")
        assert running.metric("switchboard_edge_components_lost_total", component="agent") == 1


async def test_a_draining_edge_takes_no_new_livekit_call_and_waits_for_the_one_it_has(
    client: Bus, media_edge: RunningEdgeFactory, agent: StandInAgent, emulator: LiveKitEmulator
) -> None:
    await seed_call(client, "lk-drain-1", transport="livekit", room="call-lk-4")
    await seed_call(client, "lk-drain-2", transport="livekit", room="call-lk-5")
    phone = Phone()
    async with media_edge() as running, livekit_calls(running, emulator):
        try:
            await request_attach(client, subjects.edge_attach("livekit"), AttachRequest(call_id="lk-drain-1"))
            await phone.join(emulator, "call-lk-4")
            await agent.wait_for_call("lk-drain-1")
            drain = asyncio.create_task(running.edge.drain(deadline_s=30))
            await wait_for(lambda: running.edge.draining, what="the drain to start")
            with pytest.raises(AttachError):
                await request_attach(
                    client,
                    subjects.edge_attach("livekit"),
                    AttachRequest(call_id="lk-drain-2"),
                    timeout_s=0.5,
                    attempts=2,
                )
            assert not drain.done(), "the drain did not wait for the call"
        finally:
            await phone.hang_up()
        result = await asyncio.wait_for(drain, 20)
        assert result.drained and result.streams_at_start == 1

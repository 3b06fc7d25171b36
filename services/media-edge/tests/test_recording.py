import asyncio
import os
import signal
import sys
from typing import Any

import aiohttp
import numpy as np
import numpy.typing as npt
import pytest

from switchboard.common.audio.g711 import decode_table
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.calls.record import CallRecord
from switchboard.common.calls.store import CallStore
from switchboard.common.profiles import ProfileStore
from switchboard.common.recordings.layout import CHUNK_BYTES, RATE
from switchboard.common.recordings.store import RecordingInfo, RecordingStore, ensure_recordings
from switchboard.devkit.nats_server import free_port
from switchboard.sim.stand_in_agent import StandInAgent
from switchboard.transcoder.service import TranscoderService

from .conftest import AUTH_TOKEN, PUBLIC_URL, STREAM_SECRET, RunningEdgeFactory, dial, seed_call

pytestmark = pytest.mark.integration

LOUD = 300  # PCM16 magnitude above which a sample is sound rather than silence


async def recorded_call(client: Bus, call_id: str, **fields: Any) -> None:
    """A call of a profile with `recording: on`."""
    await seed_call(client, call_id, **fields)
    profiles = ProfileStore(await client.js.key_value(subjects.PROFILES_BUCKET))
    profile, _ = await profiles.get("stand-in-openai")
    await profiles.put(profile.model_copy(update={"name": "recorded", "recording": "on"}))
    calls = CallStore(await client.js.key_value(subjects.CALLS_BUCKET))

    def recorded(record: CallRecord) -> CallRecord:
        record.profile = "recorded"
        return record

    await calls.update(call_id, recorded)


async def channels(store: RecordingStore, call_id: str, info: RecordingInfo) -> npt.NDArray[np.int16]:
    data = b"".join([piece async for piece in store.read(call_id, info, 0, info.size)])
    pcm = decode_table()[np.frombuffer(data, dtype=np.uint8)]
    return pcm.reshape(-1, 2)


def loud_ms(samples: npt.NDArray[np.int16]) -> float:
    return float(np.count_nonzero(np.abs(samples.astype(np.int32)) > LOUD)) * 1000 / RATE


def sound_extent_ms(samples: npt.NDArray[np.int16]) -> float:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > LOUD)
    return 0.0 if loud.size == 0 else (loud[-1] - loud[0] + 1) * 1000 / RATE


async def finished_recording(client: Bus, call_id: str) -> CallRecord:
    """The record once the edge has noted the end of its recording."""
    calls = CallStore(await client.js.key_value(subjects.CALLS_BUCKET))
    async with asyncio.timeout(10):
        while True:
            record = await calls.find(call_id)
            assert record is not None and record.recording is not None
            if record.recording.state != "recording":
                return record
            await asyncio.sleep(0.05)


@pytest.mark.timeout(90)
async def test_the_right_channel_holds_what_the_caller_heard_and_nothing_a_barge_in_flushed(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService, agent: StandInAgent
) -> None:
    store = RecordingStore(await ensure_recordings(client.js))
    await recorded_call(client, "rec-1")
    calls = CallStore(await client.js.key_value(subjects.CALLS_BUCKET))
    async with media_edge(transcode="inline") as running:
        running.edge.recordings = store
        async with running.phone("rec-1") as call:
            answer = await agent.wait_for_call("rec-1")
            generation = await answer.speak(3.0)  # 3 s queued at once; the edge paces it out
            await asyncio.wait_for(call.wait_for_audio(), 10)
            await asyncio.sleep(0.6)
            await answer.clear(generation)
            await answer.wait_playout(generation)
            await asyncio.sleep(0.3)
            heard = [s.audio for s in call.buffer.segments]
            heard_ms = loud_ms(decode_table()[np.frombuffer(b"".join(heard), dtype=np.uint8)])
            utterance = await call.say("yes")
            await call.wait_spoken()
            await asyncio.sleep(0.5)
            del utterance
        async with asyncio.timeout(10):
            while True:
                record = await calls.find("rec-1")
                assert record is not None and record.recording is not None
                if record.recording.state != "recording":
                    break
                await asyncio.sleep(0.05)
        assert record.recording.state == "complete"
        assert running.metric("switchboard_edge_recordings_in_progress") == 0
        info = await store.info("rec-1")
        assert info is not None and info.complete
        assert (record.recording.size, record.recording.duration_ms) == (info.size, info.duration_ms)
        assert running.metric("switchboard_edge_recording_bytes_total") == info.size
        stereo = await channels(store, "rec-1", info)
        right_ms = loud_ms(stereo[:, 1])
        assert heard_ms < 2900, "the clear did not cut the answer short"
        print(f"heard {heard_ms:.0f} ms (loud samples), the right channel holds {right_ms:.0f} ms")
        assert abs(right_ms - heard_ms) <= 120, "the right channel is not what the caller heard"
        assert sound_extent_ms(stereo[:, 0]) > 100, "the caller's words are not on the left channel"
        assert abs(info.duration_ms / 1000 - call.elapsed_s()) < 2.0


@pytest.mark.timeout(120)
async def test_a_recording_survives_its_edge_being_killed_mid_call(
    client: Bus, nats_url: str, transcoder: TranscoderService, agent: StandInAgent
) -> None:
    store = RecordingStore(await ensure_recordings(client.js))
    await recorded_call(client, "rec-killed")
    port, ops = free_port(), free_port()
    env = {
        **os.environ,
        "MEDIA_EDGE_NATS_URL": nats_url,
        "MEDIA_EDGE_HOST": "127.0.0.1",
        "MEDIA_EDGE_PORT": str(port),
        "MEDIA_EDGE_OPS_PORT": str(ops),
        "MEDIA_EDGE_PUBLIC_STREAM_URL": PUBLIC_URL,
        "MEDIA_EDGE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "MEDIA_EDGE_STREAM_SECRET": STREAM_SECRET,
        "MEDIA_EDGE_INSTANCE_ID": "edge-to-kill",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.media_edge.main", env=env, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(60):  # a cold start on a loaded machine takes a while
                while True:
                    assert process.returncode is None, "the edge exited during start-up"
                    try:
                        async with http.get(f"http://127.0.0.1:{ops}/readyz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.05)
        call = dial(f"ws://127.0.0.1:{port}/twilio/stream", "rec-killed")
        await call.open()
        answer = await agent.wait_for_call("rec-killed")
        await answer.speak(8.0)
        async with asyncio.timeout(30):
            while (await store.info("rec-killed")) is None:  # noqa: ASYNC110 (the first chunk is stored mid-call)
                await asyncio.sleep(0.2)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        await call.hang_up(send_stop=False, raise_failures=False)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    info = await store.info("rec-killed")
    assert info is not None and not info.complete, "a killed edge wrote no manifest, yet the chunks are there"
    assert info.size >= CHUNK_BYTES
    stereo = await channels(store, "rec-killed", info)
    assert sound_extent_ms(stereo[:, 1]) > 500, "the agent's audio up to the kill is in the recording"

import wave
from io import BytesIO

import numpy as np
import pytest
from nats.aio.client import Client as NatsClient

from switchboard.common.audio.g711 import decode_table
from switchboard.common.bus import subjects
from switchboard.common.calls.record import CallRecord, CallRecording, CallStatus
from switchboard.common.calls.store import CallStore
from switchboard.common.recordings.layout import CHUNK_BYTES, Manifest, duration_ms
from switchboard.common.recordings.store import RecordingStore, ensure_recordings
from switchboard.common.recordings.wav import wav_size

from .conftest import RunCallControl

pytestmark = pytest.mark.integration


async def recorded_call(bus: NatsClient, call_id: str, audio: bytes) -> None:
    """A finished call and its recording, as the edge leaves them."""
    store = RecordingStore(await ensure_recordings(bus.jetstream()))
    for seq, start in enumerate(range(0, len(audio), CHUNK_BYTES)):
        await store.put_chunk(call_id, seq, audio[start : start + CHUNK_BYTES])
    chunks = -(-len(audio) // CHUNK_BYTES)
    await store.put_manifest(
        call_id, Manifest(chunks=chunks, size=len(audio), duration_ms=duration_ms(len(audio)))
    )
    await CallStore(await bus.jetstream().key_value(subjects.CALLS_BUCKET)).create(
        CallRecord(
            call_id=call_id,
            direction="inbound",
            to_number="+15550100",
            from_number="+15550199",
            profile="receptionist-openai",
            status=CallStatus.COMPLETED,
            recording=CallRecording(state="complete", size=len(audio), duration_ms=duration_ms(len(audio))),
        )
    )


async def test_the_recording_streams_as_wav_with_byte_ranges_and_can_be_deleted(
    call_control: RunCallControl, bus: NatsClient
) -> None:
    audio = np.random.default_rng(7).integers(0, 256, CHUNK_BYTES + 3000, dtype=np.uint8).tobytes()
    await recorded_call(bus, "call-rec-api", audio)
    size = wav_size(len(audio))
    async with call_control() as cc:
        detail = (await cc.http.get("/v1/calls/call-rec-api")).json()
        assert detail["recording"] == {
            "state": "complete",
            "duration_s": duration_ms(len(audio)) / 1000,
            "size_bytes": len(audio),
        }
        whole = await cc.http.get("/v1/calls/call-rec-api/recording")
        assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
        assert whole.headers["accept-ranges"] == "bytes" and len(whole.content) == size
        with wave.open(BytesIO(whole.content)) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        assert np.array_equal(pcm, decode_table()[np.frombuffer(audio, dtype=np.uint8)])
        for asked, start, end in [
            ("bytes=0-9", 0, 10),
            ("bytes=41-50", 41, 51),
            ("bytes=101-2000", 101, 2001),
            (f"bytes={2 * CHUNK_BYTES}-", 2 * CHUNK_BYTES, size),
            ("bytes=-7", size - 7, size),
        ]:
            part = await cc.http.get("/v1/calls/call-rec-api/recording", headers={"Range": asked})
            assert part.status_code == 206, asked
            assert part.headers["content-range"] == f"bytes {start}-{end - 1}/{size}"
            assert part.content == whole.content[start:end], asked
        beyond = await cc.http.get("/v1/calls/call-rec-api/recording", headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{size}"
        anonymous = await cc.http.get("/v1/calls/call-rec-api/recording", headers={"Authorization": ""})
        assert anonymous.status_code == 401
        assert (await cc.http.delete("/v1/calls/call-rec-api/recording")).status_code == 204
        gone = await cc.http.get("/v1/calls/call-rec-api/recording")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "recording_not_found"
        assert (await cc.http.get("/v1/calls/call-rec-api")).json()["recording"]["state"] == "deleted"
        assert (await cc.http.get("/v1/calls/no-such-call/recording")).status_code == 404

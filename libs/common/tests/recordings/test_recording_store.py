import asyncio
import wave
from io import BytesIO

import numpy as np
import pytest
from nats.aio.client import Client as NatsClient

from switchboard.common.recordings.layout import CHUNK_BYTES, Manifest, duration_ms
from switchboard.common.recordings.store import RecordingStore, ensure_recordings
from switchboard.common.recordings.wav import HEADER_BYTES, to_pcm16, wav_header, wav_size

pytestmark = pytest.mark.integration


def stereo(size: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


async def test_chunks_read_back_in_any_range_before_and_after_the_manifest(bus: NatsClient) -> None:
    store = RecordingStore(await ensure_recordings(bus.jetstream(), "rec_ranges"))
    audio = stereo(2 * CHUNK_BYTES + 1000, 1)
    assert await store.info("call-r") is None
    for seq, start in enumerate(range(0, len(audio), CHUNK_BYTES)):
        await store.put_chunk("call-r", seq, audio[start : start + CHUNK_BYTES])
    partial = await store.info("call-r")  # no manifest: as if the edge died here
    assert partial is not None and not partial.complete
    assert (partial.chunks, partial.size) == (3, len(audio))
    await store.put_manifest(
        "call-r", Manifest(chunks=3, size=len(audio), duration_ms=duration_ms(len(audio)))
    )
    info = await store.info("call-r")
    assert info is not None and info.complete and info.size == len(audio)
    for start, end in [
        (0, len(audio)),
        (5, 7),
        (CHUNK_BYTES - 3, CHUNK_BYTES + 4),
        (len(audio) - 10, len(audio)),
    ]:
        got = b"".join([piece async for piece in store.read("call-r", info, start, end)])
        assert got == audio[start:end], (start, end)
    assert await store.delete("call-r")
    assert await store.info("call-r") is None
    assert not await store.delete("call-r")


async def test_a_probe_finds_the_last_chunk_of_a_long_partial_recording(bus: NatsClient) -> None:
    store = RecordingStore(await ensure_recordings(bus.jetstream(), "rec_probe"))
    for seq in range(11):
        await store.put_chunk("call-p", seq, bytes(CHUNK_BYTES if seq < 10 else 16))
    info = await store.info("call-p")
    assert info is not None and (info.chunks, info.size) == (11, 10 * CHUNK_BYTES + 16)


@pytest.mark.timeout(30)
async def test_retention_deletes_old_recordings(bus: NatsClient) -> None:
    store = RecordingStore(await ensure_recordings(bus.jetstream(), "rec_retention", ttl_s=1.0))
    await store.put_chunk("call-old", 0, bytes(100))
    await store.put_manifest("call-old", Manifest(chunks=1, size=100, duration_ms=6))
    assert await store.info("call-old") is not None
    for _ in range(100):
        await asyncio.sleep(0.2)
        if await store.info("call-old") is None:
            break
    assert await store.info("call-old") is None, "the recording outlived the bucket's retention"


def test_the_wav_is_pcm16_stereo_and_its_size_is_known_in_advance() -> None:
    ulaw = stereo(1600, 2)
    data = wav_header(len(ulaw)) + to_pcm16(ulaw)
    assert len(data) == wav_size(len(ulaw)) and len(wav_header(0)) == HEADER_BYTES
    with wave.open(BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (
            2,
            2,
            8000,
            800,
        )

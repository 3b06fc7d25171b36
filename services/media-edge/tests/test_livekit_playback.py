from __future__ import annotations

import asyncio

import pytest
from livekit import rtc

from switchboard.media_edge.livekit_playback import SourcePlayback
from switchboard.media_edge.playout import SentChunk

pytestmark = pytest.mark.unit


class SlowSource:
    """An `AudioSource` whose frames land in the queue when the test lets them, as the SDK's task does."""

    sample_rate = 24000
    queued_duration = 0.0

    def __init__(self) -> None:
        self.queue: list[int] = []
        self.land = asyncio.Event()
        self.clears = 0

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await self.land.wait()
        self.queue.append(frame.samples_per_channel)

    def clear_queue(self) -> None:
        self.clears += 1
        self.queue.clear()


def chunk(generation: int, samples: int = 480) -> SentChunk:
    return SentChunk(f"{generation}:20:1", generation, 0, samples, b"\x00\x01" * samples, 0.0)


async def test_a_frame_that_lands_after_a_flush_is_flushed_too() -> None:
    source = SlowSource()
    playback = SourcePlayback(source, lambda: 0.0)  # type: ignore[arg-type]  # duck-typed source
    writing = asyncio.create_task(playback.write(chunk(1)))
    await asyncio.sleep(0)
    await playback.flush()  # the barge-in, while the frame is still on its way in
    source.land.set()
    await writing
    assert source.queue == [] and source.clears == 2


async def test_a_write_with_no_flush_in_between_stays_queued() -> None:
    source = SlowSource()
    source.land.set()
    playback = SourcePlayback(source, lambda: 0.0)  # type: ignore[arg-type]  # duck-typed source
    await playback.flush()
    await playback.write(chunk(2))
    assert source.queue == [480] and source.clears == 1

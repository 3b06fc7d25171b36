"""Agent audio into a LiveKit `AudioSource`: what played is what was pushed minus what the source still queues.

This is livekit-agents' `AudioOutput` bookkeeping (played = pushed − `AudioSource.queued_duration`, flush =
`clear_queue()`), kept per chunk and generation so that the call's `Downlink` reports positions exactly as it
does for Twilio. There are no echoes to wait for: `settle` confirms every chunk whose end has played.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from livekit import rtc

from switchboard.media_edge.playback import Playhead, StreamClosed
from switchboard.media_edge.playout import SentChunk


class QueuePlayhead:
    """The chunks pushed into a source and not yet played out of it; positions in samples of a generation."""

    __slots__ = ("_clock", "_confirmed", "_pending", "_pushed", "_queued", "rate")

    def __init__(self, queued: Callable[[], float], rate: int, clock: Callable[[], float]) -> None:
        self._queued = queued
        self.rate = rate
        self._clock = clock
        self._pending: deque[tuple[SentChunk, int]] = deque()  # the chunk, and the total pushed at its end
        self._pushed = 0
        self._confirmed: dict[int, int] = {}

    def _played_total(self) -> int:
        return self._pushed - math.ceil(self._queued() * self.rate)

    @property
    def play_end(self) -> float:
        """When what the source holds will have played."""
        return self._clock() + self._queued()

    def sent(self, chunk: SentChunk, now: float) -> None:
        """`chunk` is pushed into the source."""
        self._pushed += chunk.samples
        chunk.expected_end = now + self._queued() + chunk.samples / self.rate
        self._pending.append((chunk, self._pushed))

    def clear(self, upto_generation: int, now: float) -> list[SentChunk]:
        """The source is flushed: nothing pending plays; the chunks of newer generations go again."""
        newer = [chunk for chunk, _ in self._pending if chunk.generation > upto_generation]
        self._pending.clear()
        return newer

    def settle(self, now: float) -> SentChunk | None:
        """Confirm every chunk the source has played out; the last of them."""
        played = self._played_total()
        pending = self._pending
        last = None
        while pending and pending[0][1] <= played:
            last, _ = pending.popleft()
            self._confirmed[last.generation] = last.end
        return last

    def forget(self, generation: int) -> None:
        """Drop the generation's confirmed position."""
        self._confirmed.pop(generation, None)

    def lead(self, now: float) -> float:
        """What the source still queues, in seconds."""
        return self._queued()

    def has_pending(self, generation: int) -> bool:
        """Whether audio of `generation` is in the source."""
        return any(chunk.generation == generation for chunk, _ in self._pending)

    def has_pending_upto(self, generation: int) -> bool:
        """Whether audio of `generation` or older is in the source."""
        return any(chunk.generation <= generation for chunk, _ in self._pending)

    def played(self, generation: int, now: float) -> int:
        """Samples of `generation` played out of the source."""
        played = self._confirmed.get(generation, 0)
        total = self._played_total()
        for chunk, end_total in self._pending:
            start_total = end_total - chunk.samples
            if total <= start_total:
                break
            if chunk.generation == generation:
                played = chunk.start + min(chunk.samples, total - start_total)
        return played


class SourcePlayback:
    """PCM16 mono at the agent's output rate into the call's published `AudioSource`."""

    sample_width = 2

    def __init__(self, source: rtc.AudioSource, clock: Callable[[], float]) -> None:
        self._source = source
        self.rate = source.sample_rate
        self.playhead: Playhead = QueuePlayhead(lambda: source.queued_duration, self.rate, clock)
        self._flushes = 0

    async def write(self, chunk: SentChunk) -> None:
        """Push the chunk into the source (it plays out in real time from there).

        The SDK queues the frame from a task of its own: a flush while the frame is on its way in can come
        before the frame lands, so a write that a flush overtook flushes again once the frame is in (the
        downlink writes one chunk at a time, so nothing newer is in the source yet).
        """
        frame = rtc.AudioFrame(chunk.payload, self.rate, 1, chunk.samples)
        flushes = self._flushes
        try:
            await self._source.capture_frame(frame)
        except Exception as exc:  # the source is closed, or the room is gone
            raise StreamClosed(str(exc)) from exc
        if self._flushes != flushes:
            self._source.clear_queue()

    async def confirm(self, chunk: SentChunk) -> None:
        """Nothing to ask: the source's queue says what played."""

    async def flush(self) -> None:
        """`clear_queue()`: what the source still held is never heard."""
        self._flushes += 1
        self._source.clear_queue()

"""What the edge sent to Twilio, what Twilio confirmed it played, and where its playhead probably is.

Each chunk of agent audio goes to Twilio followed by a `mark`. Twilio echoes marks in order once the audio queued
before them has played, so an echo confirms its chunk and every chunk before it. Between two echoes the playhead
is interpolated on the edge's own clock: the first unconfirmed chunk started playing at the later of the last
echo and its own sending, and plays in real time; the estimate never goes beyond the audio actually sent.

A `clear` ends the bookkeeping of every pending chunk: Twilio echoes the pending marks at once when it clears its
buffer, and those echoes do not mean "played", so they must find nothing left to confirm.

Audio is μ-law at 8 kHz by default (one byte is one sample); positions are counted in samples of a generation.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

RATE = 8000
SAMPLES_PER_MS = RATE // 1000


@dataclass(slots=True)
class SentChunk:
    """A chunk sent to Twilio and the mark that follows it; `start`/`end` are positions in its generation."""

    mark: str
    generation: int
    start: int
    end: int
    payload: bytes
    sent_at: float
    expected_end: float = 0.0

    @property
    def samples(self) -> int:
        """Its length in samples."""
        return self.end - self.start


class PlayoutLedger:
    """The chunks whose marks Twilio has not echoed yet, and the confirmed position of each generation."""

    __slots__ = ("_anchor", "_confirmed", "_pending", "_play_end", "rate")

    def __init__(self, rate: int = RATE) -> None:
        self.rate = rate
        self._pending: deque[SentChunk] = deque()
        self._confirmed: dict[int, int] = {}
        self._anchor = -math.inf
        self._play_end = -math.inf

    # --- what happens -----------------------------------------------------------------------------

    def sent(self, chunk: SentChunk, now: float) -> None:
        """`chunk` and its mark were handed to the socket at `now`."""
        self._play_end = max(self._play_end, now) + chunk.samples / self.rate
        chunk.expected_end = self._play_end
        self._pending.append(chunk)

    def echoed(self, mark: str, now: float) -> SentChunk | None:
        """Twilio echoed `mark` at `now`: its chunk and every one before it have played.

        Returns the chunk, or None when the mark is not pending (cleared, or not ours).
        """
        pending = self._pending
        if not any(chunk.mark == mark for chunk in pending):
            return None
        confirmed = self._confirmed
        while True:
            chunk = pending.popleft()
            confirmed[chunk.generation] = chunk.end
            if chunk.mark == mark:
                break
        self._anchor = now
        # Re-anchor the playout clock on what Twilio reports: what is still pending plays from now on.
        self._play_end = now + sum(c.samples for c in pending) / self.rate
        return chunk

    def clear(self, upto_generation: int, now: float) -> list[SentChunk]:
        """Twilio was told to clear its buffer at `now`: nothing pending can be confirmed any more.

        Returns the pending chunks of generations newer than `upto_generation`, in order: they were cleared too,
        but were never meant to be, so the caller sends them again.
        """
        newer = [chunk for chunk in self._pending if chunk.generation > upto_generation]
        self._pending.clear()
        self._play_end = now
        return newer

    def settle(self, now: float) -> SentChunk | None:
        """Nothing is confirmed without an echo."""
        return None

    def forget(self, generation: int) -> None:
        """The generation is over: drop its confirmed position."""
        self._confirmed.pop(generation, None)

    # --- what we know -----------------------------------------------------------------------------

    def lead(self, now: float) -> float:
        """Seconds of audio sent that have not played yet, by the edge's clock."""
        return max(0.0, self._play_end - now)

    @property
    def play_end(self) -> float:
        """When everything sent so far should have finished playing (monotonic seconds)."""
        return self._play_end

    def confirmed(self, generation: int) -> int:
        """Samples of `generation` that Twilio confirmed played."""
        return self._confirmed.get(generation, 0)

    def has_pending(self, generation: int) -> bool:
        """Whether audio of `generation` is sent but not confirmed."""
        return any(chunk.generation == generation for chunk in self._pending)

    def has_pending_upto(self, generation: int) -> bool:
        """Whether audio of `generation` or an older one is sent but not confirmed."""
        return any(chunk.generation <= generation for chunk in self._pending)

    @property
    def pending_count(self) -> int:
        """Chunks sent whose marks were not echoed yet."""
        return len(self._pending)

    def played(self, generation: int, now: float) -> int:
        """Samples of `generation` the caller has most probably heard by `now`: confirmed, then interpolated."""
        played = self._confirmed.get(generation, 0)
        cursor = self._anchor
        for chunk in self._pending:
            start = max(cursor, chunk.sent_at)
            if now <= start:
                break
            elapsed = int((now - start) * self.rate + 1e-6)
            if elapsed < chunk.samples:
                if chunk.generation == generation:
                    played = chunk.start + elapsed
                break
            if chunk.generation == generation:
                played = chunk.end
            cursor = start + chunk.samples / self.rate
        return played

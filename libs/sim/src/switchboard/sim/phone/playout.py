"""Twilio's playout buffer for the audio a server sends into a call, emulated without sockets.

Server `media` payloads are appended to a buffer that plays at 8000 samples a second. A `mark` is echoed once
all the audio queued before it has played, at once if nothing is queued. A `clear` drops whatever has not played
yet and echoes every pending mark immediately. Time comes from an injectable clock and is counted in samples
since the stream started, so the emulation is exact and unit tests can drive it with a fake clock.

Everything that played is kept as segments placed on that sample timeline, which is what the caller heard.
"""

from __future__ import annotations

import bisect
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from switchboard.common.audio.g711 import ulaw_decode
from switchboard.sim.phone.heard import HeardAudio
from switchboard.sim.phone.messages import SAMPLE_RATE

Clock = Callable[[], float]

ULAW_SILENCE = 0xFF
MAX_BUFFERED_S = 600.0  # Twilio discards audio beyond 10 minutes buffered (warning 31931)
_EPSILON_SAMPLES = 1e-6  # absorbs float error when the clock sits exactly on a sample boundary


@dataclass(frozen=True, slots=True)
class PlayedSegment:
    """Audio from one server `media` message, placed where it plays (samples since stream start)."""

    start: int
    audio: bytes
    generation: int
    received_s: float

    @property
    def end(self) -> int:
        """The sample after its last one."""
        return self.start + len(self.audio)


@dataclass(slots=True)
class MarkRecord:
    """A mark the server sent and what became of it."""

    name: str
    received_s: float
    due: int
    echoed_s: float | None = None
    cleared: bool = False

    @property
    def due_s(self) -> float:
        """When the audio queued before it finishes playing, in seconds since stream start."""
        return self.due / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class ClearRecord:
    """A server `clear`: when, how much unplayed audio it dropped, and the marks it echoed."""

    at_s: float
    generation: int
    dropped_samples: int
    echoed_marks: tuple[str, ...]

    @property
    def dropped_ms(self) -> float:
        """Milliseconds of audio that were queued and never played."""
        return self.dropped_samples * 1000.0 / SAMPLE_RATE


class PlayoutBuffer:
    """The caller's side of a call's downlink: a real-time playout buffer with marks and clears.

    `generation` counts clears: audio appended after the n-th clear belongs to generation n.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        origin: float | None = None,
        max_buffered_s: float = MAX_BUFFERED_S,
    ) -> None:
        self._clock = clock
        self.origin = clock() if origin is None else origin
        self._max_buffered = int(max_buffered_s * SAMPLE_RATE)
        self._end = 0
        self._segments: list[PlayedSegment] = []
        self._marks: list[MarkRecord] = []
        self._pending: deque[MarkRecord] = deque()
        self._clears: list[ClearRecord] = []
        self._stopped_at: int | None = None
        self.generation = 0
        self.overflow_samples = 0

    # Time.

    def now_sample(self) -> int:
        """Samples played since the stream started, whether or not the buffer had audio."""
        if self._stopped_at is not None:
            return self._stopped_at
        elapsed = (self._clock() - self.origin) * SAMPLE_RATE
        return max(0, math.floor(elapsed + _EPSILON_SAMPLES))

    def elapsed_s(self) -> float:
        """Seconds since the stream started (frozen at hang-up)."""
        if self._stopped_at is not None:
            return self._stopped_at / SAMPLE_RATE
        return max(0.0, self._clock() - self.origin)

    @property
    def queued_samples(self) -> int:
        """Audio waiting to play."""
        return max(0, self._end - self.now_sample())

    @property
    def queued_ms(self) -> float:
        """Audio waiting to play, in milliseconds."""
        return self.queued_samples * 1000.0 / SAMPLE_RATE

    @property
    def stopped(self) -> bool:
        """Whether the call has hung up."""
        return self._stopped_at is not None

    # Server messages.

    def append(self, audio: bytes, *, received_s: float | None = None) -> None:
        """Queue μ-law audio after what is already queued (or now, if the buffer ran empty).

        `received_s` is when the audio reached the phone's side of the call, in seconds since the stream
        started: now, unless it was delivered before it got to the buffer (through a SIP gateway's jitter buffer).
        """
        if self.stopped or not audio:
            return
        now = self.now_sample()
        start = max(self._end, now)
        room = max(0, self._max_buffered - (start - now))
        if len(audio) > room:
            self.overflow_samples += len(audio) - room
            audio = audio[:room]
            if not audio:
                return
        received = self.elapsed_s() if received_s is None else received_s
        self._segments.append(PlayedSegment(start, bytes(audio), self.generation, received))
        self._end = start + len(audio)

    def mark(self, name: str) -> list[str]:
        """Register a mark; returns the marks to echo now, in order (this one too if nothing is queued)."""
        if self.stopped:
            return []
        echoes = self.poll()
        record = MarkRecord(name, self.elapsed_s(), max(self._end, self.now_sample()))
        self._marks.append(record)
        if record.due <= self.now_sample():
            record.echoed_s = self.elapsed_s()
            echoes.append(name)
        else:
            self._pending.append(record)
        return echoes

    def clear(self, *, drop: bool = True) -> list[str]:
        """Drop the unplayed audio; returns the marks to echo now: those already played, then all pending.

        Without `drop` the clear is only recorded: the agent's side flushed, but what had reached the phone
        still plays (a SIP phone is never cleared; its own buffer plays out).
        """
        if self.stopped:
            return []
        echoes = self.poll()
        now = self.now_sample()
        dropped = self._truncate(now) if drop else 0
        cleared = list(self._pending)
        self._pending.clear()
        at_s = self.elapsed_s()
        for record in cleared:
            record.echoed_s = at_s
            record.cleared = True
        names = tuple(record.name for record in cleared)
        self._clears.append(ClearRecord(at_s, self.generation, dropped, names))
        self.generation += 1
        return echoes + list(names)

    def poll(self) -> list[str]:
        """The marks whose audio has finished playing by now, in order; each is returned once."""
        now = self.now_sample()
        echoes: list[str] = []
        while self._pending and self._pending[0].due <= now:
            record = self._pending.popleft()
            record.echoed_s = self.elapsed_s()
            echoes.append(record.name)
        return echoes

    def next_due(self) -> float | None:
        """The clock time at which the next pending mark is due, if any."""
        if not self._pending or self.stopped:
            return None
        return self.origin + self._pending[0].due / SAMPLE_RATE

    def hang_up(self) -> None:
        """The call ends: audio still queued is never heard and pending marks are never echoed."""
        if self.stopped:
            return
        now = self.now_sample()
        self._truncate(now)
        self._stopped_at = now

    def _truncate(self, cut: int) -> int:
        dropped = max(0, self._end - cut)
        while self._segments and self._segments[-1].start >= cut:
            self._segments.pop()
        if self._segments and self._segments[-1].end > cut:
            last = self._segments[-1]
            self._segments[-1] = PlayedSegment(
                last.start, last.audio[: cut - last.start], last.generation, last.received_s
            )
        self._end = min(self._end, cut)
        return dropped

    # What happened.

    @property
    def segments(self) -> tuple[PlayedSegment, ...]:
        """What played or is queued to play, in playing order."""
        return tuple(self._segments)

    @property
    def marks(self) -> tuple[MarkRecord, ...]:
        """Every mark received, in order."""
        return tuple(self._marks)

    @property
    def pending_marks(self) -> tuple[str, ...]:
        """Marks not echoed yet."""
        return tuple(record.name for record in self._pending)

    @property
    def clears(self) -> tuple[ClearRecord, ...]:
        """Every clear received, in order."""
        return tuple(self._clears)

    def heard(self, since_s: float = 0.0) -> HeardAudio:
        """What the caller has heard from `since_s` to now: decoded PCM, silence where the buffer was empty."""
        first = min(max(0, round(since_s * SAMPLE_RATE)), self.now_sample())
        length = self.now_sample() - first
        ulaw = np.full(length, ULAW_SILENCE, dtype=np.uint8)
        played = np.zeros(length, dtype=np.bool_)
        skip = bisect.bisect_right(self._segments, first, key=_segment_end)
        for segment in itertools.islice(self._segments, skip, None):
            start, stop = max(segment.start, first), min(segment.end, first + length)
            if start >= first + length:
                break
            if stop <= start:
                continue
            span = slice(start - first, stop - first)
            ulaw[span] = np.frombuffer(segment.audio, dtype=np.uint8)[
                start - segment.start : stop - segment.start
            ]
            played[span] = True
        return HeardAudio(ulaw_decode(ulaw.tobytes()), played, first / SAMPLE_RATE)


def _segment_end(segment: PlayedSegment) -> int:
    return segment.end

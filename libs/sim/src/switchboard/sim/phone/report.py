"""What a simulated call measured: latency to first audio, underruns, clears, marks, pacing, protocol errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from switchboard.common.audio.g711 import ulaw_decode
from switchboard.sim.phone.heard import SILENCE_DBFS, HeardAudio
from switchboard.sim.phone.messages import FRAME_MS, SAMPLE_RATE
from switchboard.sim.phone.pacing import PacingStats
from switchboard.sim.phone.playout import ClearRecord, MarkRecord, PlayedSegment

LEAK_WINDOW_S = 0.3
_LEAK_BLOCK_MS = 5.0
UNDERRUN_MAX_S = 1.0


@dataclass(slots=True)
class StreamCounters:
    """Counts the call keeps as messages come and go."""

    media_received: int = 0
    binary_frames: int = 0
    violations: list[str] = field(default_factory=list)
    dtmf_sent: int = 0
    raw_sent: int = 0
    close_code: int | None = None
    closed_by: str = ""


@dataclass(frozen=True, slots=True)
class Gap:
    """The buffer ran empty in the middle of a stretch of audio (an underrun the caller hears as a hole)."""

    start_s: float
    duration_ms: float


@dataclass(frozen=True, slots=True)
class ClearReport:
    """One `clear` from the server.

    `heard_after_ms` is audible audio the caller heard from the clear until `window_end_s` (the later of
    `LEAK_WINDOW_S` after the clear and the end of the caller's speech under way at the clear: a new answer
    cannot legitimately start while the caller is still talking) that reached the phone's side after the
    clear. It is the interrupted answer's audio sent after the flush, and should be about 0. Audio delivered
    before the clear is not counted: on Twilio the clear drops what is queued; a SIP gateway forwards what
    reached it (its segments carry when it did), and that was in flight, not left unflushed.
    """

    at_s: float
    dropped_ms: float
    echoed_marks: tuple[str, ...]
    heard_after_ms: float
    window_end_s: float


@dataclass(frozen=True, slots=True)
class CallReport:
    """The measurements of one call; times are seconds since the stream started."""

    stream_sid: str
    call_sid: str
    duration_s: float
    time_to_first_audio_ms: float | None
    heard_ms: float
    audible_ms: float
    gaps: tuple[Gap, ...]
    clears: tuple[ClearReport, ...]
    marks_received: int
    marks_echoed: int
    marks_echoed_by_clear: int
    marks_unechoed: int
    media_sent: int
    media_received: int
    dtmf_sent: int
    late_frames: int
    max_lateness_ms: float
    mean_lateness_ms: float
    overflow_ms: float
    binary_frames: int
    protocol_errors: tuple[str, ...]
    close_code: int | None
    closed_by: str

    @property
    def gap_ms(self) -> float:
        """Total length of the underruns."""
        return sum(gap.duration_ms for gap in self.gaps)

    def summary(self) -> str:
        """A few human-readable lines."""
        ttfa = "never" if self.time_to_first_audio_ms is None else f"{self.time_to_first_audio_ms:.0f} ms"
        lines = [
            f"call {self.call_sid} stream {self.stream_sid}: {self.duration_s:.2f} s, "
            f"closed by {self.closed_by or 'nobody'} (code {self.close_code})",
            f"  first audio after {ttfa}; heard {self.heard_ms:.0f} ms played, {self.audible_ms:.0f} ms audible",
            f"  underruns: {len(self.gaps)} totalling {self.gap_ms:.0f} ms",
            f"  marks: {self.marks_received} received, {self.marks_echoed} echoed "
            f"({self.marks_echoed_by_clear} by a clear), {self.marks_unechoed} never echoed",
            f"  sent: {self.media_sent} media, {self.dtmf_sent} dtmf; late frames {self.late_frames}, "
            f"lateness max {self.max_lateness_ms:.1f} ms mean {self.mean_lateness_ms:.2f} ms",
            f"  received: {self.media_received} media, {self.binary_frames} binary frames, "
            f"{len(self.protocol_errors)} protocol errors, {self.overflow_ms:.0f} ms over the buffer limit",
        ]
        for clear in self.clears:
            lines.append(
                f"  clear at {clear.at_s:.3f} s: dropped {clear.dropped_ms:.0f} ms, "
                f"heard {clear.heard_after_ms:.0f} ms after, echoed {list(clear.echoed_marks)}"
            )
        lines.extend(f"  error: {error}" for error in self.protocol_errors)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """Everything a report is computed from."""

    stream_sid: str
    call_sid: str
    heard: HeardAudio
    segments: Sequence[PlayedSegment]
    clears: Sequence[ClearRecord]
    marks: Sequence[MarkRecord]
    overflow_samples: int
    caller_speech: Sequence[tuple[float, float]]
    pacing: PacingStats
    counters: StreamCounters


def build_report(
    record: StreamRecord,
    *,
    silence_dbfs: float = SILENCE_DBFS,
    leak_window_s: float = LEAK_WINDOW_S,
    underrun_max_s: float = UNDERRUN_MAX_S,
) -> CallReport:
    """Compute the report of a call.

    An underrun is an empty stretch of at most `underrun_max_s` between two pieces of audio of the same
    generation (no clear in between); longer silences are taken as pauses between turns.
    """
    heard = record.heard
    first = heard.first_sound(threshold_dbfs=silence_dbfs)
    echoed = [mark for mark in record.marks if mark.echoed_s is not None]
    counters = record.counters
    return CallReport(
        stream_sid=record.stream_sid,
        call_sid=record.call_sid,
        duration_s=heard.duration_s,
        time_to_first_audio_ms=None if first is None else first * 1000.0,
        heard_ms=heard.played_ms(),
        audible_ms=heard.audible_ms(threshold_dbfs=silence_dbfs),
        gaps=find_gaps(record.segments, underrun_max_s),
        clears=tuple(
            _clear_report(clear, index, record, silence_dbfs, leak_window_s)
            for index, clear in enumerate(record.clears)
        ),
        marks_received=len(record.marks),
        marks_echoed=len(echoed),
        marks_echoed_by_clear=sum(1 for mark in echoed if mark.cleared),
        marks_unechoed=len(record.marks) - len(echoed),
        media_sent=record.pacing.frames,
        media_received=counters.media_received,
        dtmf_sent=counters.dtmf_sent,
        late_frames=record.pacing.late_frames,
        max_lateness_ms=record.pacing.max_lateness_ms,
        mean_lateness_ms=record.pacing.mean_lateness_ms,
        overflow_ms=record.overflow_samples * 1000.0 / SAMPLE_RATE,
        binary_frames=counters.binary_frames,
        protocol_errors=tuple(counters.violations),
        close_code=counters.close_code,
        closed_by=counters.closed_by,
    )


def find_gaps(segments: Sequence[PlayedSegment], underrun_max_s: float = UNDERRUN_MAX_S) -> tuple[Gap, ...]:
    """Underruns between consecutive segments of the same generation."""
    longest = underrun_max_s * SAMPLE_RATE
    gaps: list[Gap] = []
    for before, after in pairwise(segments):
        hole = after.start - before.end
        if after.generation == before.generation and 0 < hole <= longest:
            gaps.append(Gap(before.end / SAMPLE_RATE, hole * 1000.0 / SAMPLE_RATE))
    return tuple(gaps)


def caller_speech_end(speech: Sequence[tuple[float, float]], at_s: float) -> float:
    """When the caller's speech under way at `at_s` ends (utterances less than a frame apart chain up)."""
    end = at_s
    for start, stop in sorted(speech):
        if start <= end + FRAME_MS / 1000.0 and stop > end:
            end = stop
    return end


def _clear_report(
    clear: ClearRecord, index: int, record: StreamRecord, silence_dbfs: float, leak_window_s: float
) -> ClearReport:
    window_end = max(clear.at_s + leak_window_s, caller_speech_end(record.caller_speech, clear.at_s))
    if index + 1 < len(record.clears):
        window_end = min(window_end, record.clears[index + 1].at_s)
    window_end = min(window_end, record.heard.duration_s)
    return ClearReport(
        at_s=clear.at_s,
        dropped_ms=clear.dropped_ms,
        echoed_marks=clear.echoed_marks,
        heard_after_ms=audible_received_after(record.segments, clear.at_s, window_end, silence_dbfs),
        window_end_s=window_end,
    )


def audible_received_after(
    segments: Sequence[PlayedSegment], at_s: float, until_s: float, silence_dbfs: float = SILENCE_DBFS
) -> float:
    """Milliseconds of audible audio that reached the phone at or after `at_s` and played before `until_s`.

    The audio is taken as it arrived, in 5 ms blocks from its first sample, so that a packet counts what it
    carries however it falls against the clock (the 10 ms blocks of `HeardAudio.audible_ms` on the timeline
    would count up to 10 ms more).
    """
    first, last = round(at_s * SAMPLE_RATE), round(until_s * SAMPLE_RATE)
    pieces = [
        segment.audio[max(0, first - segment.start) : max(0, last - segment.start)]
        for segment in segments
        if segment.received_s >= at_s
    ]
    pcm = ulaw_decode(b"".join(pieces))
    heard = HeardAudio(pcm, np.ones(pcm.size, dtype=np.bool_))
    return heard.audible_ms(threshold_dbfs=silence_dbfs, block_ms=_LEAK_BLOCK_MS)

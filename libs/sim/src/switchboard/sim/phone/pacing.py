"""Real-time pacing of the caller's frames on a monotonic schedule.

Frame n is due at `origin + n × 20 ms`, computed from n rather than accumulated, so sleeping late never shifts
the rest of the stream. A frame sent after its deadline is counted; frames that are overdue are sent at once,
back to back, until the stream is on schedule again, as a source with a steady clock would.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.sim.phone.messages import FRAME_MS


@dataclass(slots=True)
class PacingStats:
    """How closely frames kept to their deadlines."""

    frames: int = 0
    late_frames: int = 0
    max_lateness_ms: float = 0.0
    total_lateness_ms: float = 0.0

    @property
    def mean_lateness_ms(self) -> float:
        """Average delay past the deadline over all frames."""
        return self.total_lateness_ms / self.frames if self.frames else 0.0


class FrameSchedule:
    """Deadlines every `period_ms` from `origin` (seconds on a monotonic clock)."""

    def __init__(
        self, origin: float, *, period_ms: float = FRAME_MS, late_after_ms: float = FRAME_MS
    ) -> None:
        self.origin = origin
        self.period_s = period_ms / 1000.0
        self.late_after_ms = late_after_ms
        self.index = 0
        self.stats = PacingStats()

    @property
    def deadline(self) -> float:
        """When the next frame is due."""
        return self.origin + self.index * self.period_s

    @property
    def offset_s(self) -> float:
        """The next frame's position in the stream, in seconds since `origin`."""
        return self.index * self.period_s

    def delay(self, now: float) -> float:
        """How long to wait before sending the next frame (0 when it is due or overdue)."""
        return max(0.0, self.deadline - now)

    def sent(self, now: float) -> None:
        """Record that the next frame went out at `now` and move to the one after."""
        lateness_ms = max(0.0, (now - self.deadline) * 1000.0)
        stats = self.stats
        stats.frames += 1
        stats.total_lateness_ms += lateness_ms
        stats.max_lateness_ms = max(stats.max_lateness_ms, lateness_ms)
        if lateness_ms > self.late_after_ms:
            stats.late_frames += 1
        self.index += 1

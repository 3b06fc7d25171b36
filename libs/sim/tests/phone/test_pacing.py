from __future__ import annotations

import pytest

from switchboard.sim.phone.pacing import FrameSchedule

pytestmark = pytest.mark.unit


def test_deadlines_are_computed_from_the_origin_not_accumulated() -> None:
    schedule = FrameSchedule(10.0)
    for _ in range(1000):
        schedule.sent(schedule.deadline + 0.001)
    assert schedule.deadline == pytest.approx(10.0 + 1000 * 0.02, abs=1e-9)
    assert schedule.offset_s == pytest.approx(20.0)
    assert schedule.stats.frames == 1000
    assert schedule.stats.late_frames == 0
    assert schedule.stats.mean_lateness_ms == pytest.approx(1.0)


def test_overdue_frames_are_due_at_once_and_counted_late() -> None:
    schedule = FrameSchedule(0.0)
    now = 0.105  # woke up 105 ms late: frames 0..5 are due now
    sent = 0
    while schedule.delay(now) == 0.0:
        schedule.sent(now)
        sent += 1
    assert sent == 6
    assert schedule.delay(now) == pytest.approx(0.015)
    assert schedule.stats.late_frames == 5  # more than 20 ms late: all but the last
    assert schedule.stats.max_lateness_ms == pytest.approx(105.0)

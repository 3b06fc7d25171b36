import itertools

import pytest

from switchboard.call_control.status import StatusReport, _Change, apply_report
from switchboard.common.calls.record import CallRecord, CallStatus

pytestmark = pytest.mark.unit

SECOND = 1_000_000_000


def report(status: str, sequence: int, **extra: str) -> StatusReport:
    parsed = StatusReport.parse({"CallStatus": status, "SequenceNumber": str(sequence), **extra})
    assert parsed is not None
    return parsed


CALLBACKS = [
    report("initiated", 0),
    report("ringing", 1),
    report("in-progress", 2, AnsweredBy="human"),
    report("completed", 3, CallDuration="42"),
]


def replay(order: tuple[int, ...]) -> CallRecord:
    record = CallRecord(call_id="c", direction="outbound", to_number="+1", from_number="+1", profile="p")
    for step, index in enumerate(order):
        change = _Change()
        updated = apply_report(record, CALLBACKS[index], (100 + step) * SECOND, change)
        if updated is not None:
            record = updated
    return record


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_any_arrival_order_ends_completed_with_twilios_duration(order: tuple[int, ...]) -> None:
    record = replay(order)
    assert record.status == CallStatus.COMPLETED
    assert record.status_sequence == 3
    assert record.duration_s == 42.0
    assert record.answered_by == "human"
    assert record.ended_reason == "completed"


def test_duplicates_and_stale_callbacks_change_nothing() -> None:
    record = replay((0, 1, 2))
    change = _Change()
    assert apply_report(record, CALLBACKS[1], 0, change) is None
    assert apply_report(record, CALLBACKS[2], 0, change) is None
    assert not change.moved and not change.ended


def test_a_hangup_reason_survives_the_final_callback() -> None:
    record = replay((0, 1, 2))
    record.ended_reason = "agent_end_call"
    change = _Change()
    ended = apply_report(record, CALLBACKS[3], 200 * SECOND, change)
    assert ended is not None and ended.ended_reason == "agent_end_call" and change.ended


def test_unknown_statuses_and_missing_sequence_numbers() -> None:
    assert StatusReport.parse({"CallStatus": "exploded"}) is None
    no_sequence = StatusReport.parse({"CallStatus": "no-answer"})
    assert no_sequence is not None and no_sequence.sequence == -1
    record = replay((0, 1))
    change = _Change()
    ended = apply_report(record, no_sequence, 5 * SECOND, change)
    assert ended is not None and ended.status == CallStatus.NO_ANSWER and ended.duration_s == 0.0

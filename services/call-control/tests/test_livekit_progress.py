"""A LiveKit call's progress, as the edge reports it on `ctl.progress`, and the outcomes of failed dials."""

import time

import pytest

from switchboard.call_control.livekit_telephony import sip_outcome
from switchboard.call_control.livekit_webhooks import inbound_call_id
from switchboard.common.bus import subjects
from switchboard.common.bus.messages import CallEnded, CallProgress
from switchboard.common.calls.record import CallRecord, CallStatus

from .conftest import RunCallControl

CALLEE = "+14155550100"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (486, (CallStatus.BUSY, "busy")),
        (408, (CallStatus.NO_ANSWER, "no-answer")),
        (480, (CallStatus.NO_ANSWER, "no-answer")),
        (404, (CallStatus.FAILED, "invalid_number")),
        (484, (CallStatus.FAILED, "invalid_number")),
        (503, (CallStatus.FAILED, "failed")),
        (None, (CallStatus.FAILED, "failed")),
    ],
)
def test_a_failed_dial_has_a_clear_outcome(code: int | None, outcome: tuple[CallStatus, str]) -> None:
    assert sip_outcome(code) == outcome


@pytest.mark.unit
def test_an_inbound_call_id_is_a_subject_token() -> None:
    call_id = inbound_call_id("SCL_a.b*c>d")
    assert call_id == "lk_SCL_a_b_c_d" and subjects.valid_token(call_id)


@pytest.mark.integration
@pytest.mark.timeout(60)
async def test_the_edges_progress_reports_move_the_record_once_each(call_control: RunCallControl) -> None:
    async with call_control() as cc:
        call_id = "lk-progress-1"
        await cc.store.create(
            CallRecord(
                call_id=call_id,
                direction="outbound",
                transport="livekit",
                to_number=CALLEE,
                from_number="+15550100100",
                profile="carrier-registration",
                status=CallStatus.QUEUED,
                room="call-lk-progress-1",
                created_ns=time.time_ns(),
            )
        )
        cc.control.metrics.active_calls.inc()
        await cc.bus.publish_control(
            call_id, CallProgress(status="ringing", provider_status="ringing", sequence=1)
        )
        await cc.wait_record(call_id, lambda r: r.status == CallStatus.RINGING)
        await cc.bus.publish_control(
            call_id, CallProgress(status="in-progress", provider_status="active", sequence=2)
        )
        await cc.wait_record(call_id, lambda r: r.status == CallStatus.IN_PROGRESS and r.answered_ns > 0)
        await cc.bus.publish_control(
            call_id, CallProgress(status="ringing", provider_status="ringing", sequence=1)
        )
        await cc.bus.publish_control(call_id, CallProgress(status="whatever", sequence=3))
        await cc.bus.publish_control(
            call_id, CallProgress(status="completed", provider_status="hangup", sequence=4)
        )
        record = await cc.wait_record(call_id, lambda r: r.status.final)
        assert (record.status, record.ended_reason) == (CallStatus.COMPLETED, "completed")
        await cc.bus.publish_control(
            call_id, CallProgress(status="completed", provider_status="hangup", sequence=4)
        )
        history = await cc.bus.call_history(call_id)
        assert [type(e) for e in history].count(CallEnded) == 1

"""Retries of unanswered calls, scheduled calls and calling hours, through the real call-control and NATS."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from switchboard.call_control.call_attempts import carried_flow, next_attempt_id, zone_of
from switchboard.common.calls.attempts import CallingHours
from switchboard.common.calls.record import CallRecord, CallStatus
from switchboard.common.flows.state import FieldState, FlowState
from switchboard.sim.twilio_rest import Callee

from .conftest import RunCallControl
from .test_result_webhooks import Receiver, receiver, webhook_settings  # noqa: F401  # the fixture

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CALLEE = "+14155550123"
MEXICO = ZoneInfo("America/Mexico_City")
WEEKDAYS = CallingHours(start="09:00", end="20:00", days=(0, 1, 2, 3, 4))


@pytest.mark.unit
def test_calling_hours_push_a_saturday_evening_to_monday_morning() -> None:
    saturday_evening = datetime(2026, 12, 5, 21, 30, tzinfo=MEXICO)
    assert WEEKDAYS.opens(saturday_evening, MEXICO) == datetime(2026, 12, 7, 9, 0, tzinfo=MEXICO)
    tuesday_noon = datetime(2026, 12, 8, 12, 0, tzinfo=MEXICO)
    assert WEEKDAYS.opens(tuesday_noon, MEXICO) == tuesday_noon and WEEKDAYS.contains(tuesday_noon, MEXICO)
    tuesday_dawn = datetime(2026, 12, 8, 6, 15, tzinfo=MEXICO)
    assert WEEKDAYS.opens(tuesday_dawn, MEXICO) == datetime(2026, 12, 8, 9, 0, tzinfo=MEXICO)
    assert not WEEKDAYS.contains(tuesday_dawn, MEXICO)


@pytest.mark.unit
def test_the_callee_zone_comes_from_the_number_else_the_fallback() -> None:
    assert zone_of("+525512345678").key == "America/Mexico_City"
    assert zone_of("+14155550123").key == "America/Los_Angeles"
    assert zone_of("+999", "Europe/Madrid").key == "Europe/Madrid"


@pytest.mark.unit
def test_a_call_back_keeps_only_the_confirmed_fields() -> None:
    flow = FlowState(
        phase="fields",
        current=2,
        fields=[
            FieldState(id="name", raw=["juan"], value="Juan", confirmed=True, attempts=1),
            FieldState(id="plates", raw=["abc"], value="ABC", confirmed=False, attempts=2),
        ],
        outcome="call_back",
    )
    carried = carried_flow(flow)
    assert carried is not None and carried.phase == "permission" and not carried.outcome
    assert [(f.id, f.value, f.confirmed) for f in carried.fields] == [
        ("name", "Juan", True),
        ("plates", None, False),
    ]
    record = CallRecord(call_id="call_x", direction="outbound", to_number="+1", from_number="+1", profile="p")
    assert next_attempt_id(record) == "call_x-2"


def retry_body(**extra: Any) -> dict[str, Any]:
    return {
        "to": CALLEE,
        "profile": "receptionist-openai",
        "retry": {"on": ["busy", "no_answer"], "max_attempts": 2, "delay_s": 1},
        **extra,
    }


async def test_a_busy_call_is_tried_again_then_the_attempts_run_out(
    call_control: RunCallControl,
    receiver: Receiver,  # noqa: F811
) -> None:
    async with call_control(**webhook_settings()) as cc:
        cc.twilio.callees[CALLEE] = Callee.busy()
        created = await cc.create(retry_body(webhook_url=receiver.url))
        first = created.json()["call_id"]
        second = await cc.wait_record(first, lambda r: bool(r.next_call_id), within_s=20)
        assert second.next_call_id == f"{first}-2"
        retried = await cc.wait_record(f"{first}-2", lambda r: r.status.final, within_s=20)
        assert (retried.attempt, retried.first_call_id, retried.previous_call_id) == (2, first, first)
        assert retried.status == CallStatus.BUSY and retried.scheduled_reason == "retry"
        assert len(cc.twilio.requests_to("POST", "/Calls.json")) == 2
        async with asyncio.timeout(20):
            while not any(  # noqa: ASYNC110  # polling what an HTTP receiver got
                json.loads(body)["type"] == "call.attempts_exhausted" for _, body in receiver.delivered()
            ):
                await asyncio.sleep(0.05)
        exhausted = next(
            json.loads(body)
            for _, body in receiver.delivered()
            if json.loads(body)["type"] == "call.attempts_exhausted"
        )
        assert exhausted["data"]["attempts"] == [first, f"{first}-2"]
        detail = (await cc.http.get(f"/v1/calls/{first}-2")).json()
        assert detail["attempt"] == 2 and detail["first_call_id"] == first
        await asyncio.sleep(1.5)
        assert len(cc.twilio.requests_to("POST", "/Calls.json")) == 2


async def test_a_retry_survives_a_restart_of_call_control_and_is_placed_once(
    call_control: RunCallControl,
) -> None:
    body = retry_body(retry={"on": ["busy"], "max_attempts": 2, "delay_s": 3})
    async with call_control() as cc:
        cc.twilio.callees[CALLEE] = Callee.busy()
        first = (await cc.create(body)).json()["call_id"]
        await cc.wait_record(first, lambda r: bool(r.next_call_id), within_s=20)
        assert (await cc.record(f"{first}-2")).status == CallStatus.SCHEDULED
    async with call_control() as cc:
        retried = await cc.wait_record(f"{first}-2", lambda r: r.status.final, within_s=30)
        assert retried.status == CallStatus.BUSY
        await asyncio.sleep(1.0)
        assert len(cc.twilio.requests_to("POST", "/Calls.json")) == 2


async def test_calling_hours_push_an_attempt_to_the_next_window(call_control: RunCallControl) -> None:
    now = datetime.now(MEXICO)
    opening = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    if opening.minute == 59:  # a window needs a minute at least
        opening += timedelta(minutes=1)
    hours = {
        "start": opening.strftime("%H:%M"),
        "end": "23:59" if opening.hour < 23 else opening.strftime("%H:59"),
    }
    if opening.date() != now.date():  # the window would open tomorrow: same hours, any day
        hours = {"start": opening.strftime("%H:%M"), "end": f"{opening.hour:02d}:59"}
    body = retry_body(
        timezone="America/Mexico_City",
        retry={
            "on": ["busy"],
            "max_attempts": 2,
            "delay_s": 1,
            "calling_hours": {**hours, "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
        },
    )
    async with call_control() as cc:
        cc.twilio.callees[CALLEE] = Callee.busy()
        first = (await cc.create(body)).json()["call_id"]
        await cc.wait_record(first, lambda r: bool(r.next_call_id), within_s=20)
        retry = await cc.record(f"{first}-2")
        assert retry.status == CallStatus.SCHEDULED
        assert datetime.fromtimestamp(retry.scheduled_ns / 1e9, UTC) == opening.astimezone(UTC)
        canceled = await cc.http.post(f"/v1/calls/{first}-2/cancel")
        assert canceled.status_code == 202 and canceled.json()["status"] == "canceled"
        again = await cc.http.post(f"/v1/calls/{first}-2/cancel")
        assert again.status_code == 409


async def test_a_scheduled_call_is_placed_at_its_time_and_bad_times_are_refused(
    call_control: RunCallControl,
) -> None:
    async with call_control() as cc:
        cc.twilio.callees[CALLEE] = Callee.busy()
        past = await cc.create(
            {"to": CALLEE, "profile": "receptionist-openai", "scheduled_at": "2020-01-01T00:00:00Z"}
        )
        assert past.status_code == 422 and past.json()["error"]["code"] == "scheduled_in_the_past"
        closed = await cc.create(
            {
                "to": CALLEE,
                "profile": "receptionist-openai",
                "timezone": "America/Mexico_City",
                "scheduled_at": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
                "retry": {"calling_hours": {"start": "00:00", "end": "00:01", "days": ["sun"]}}
                if datetime.now(MEXICO).weekday() != 6
                else {"calling_hours": {"start": "00:00", "end": "00:01", "days": ["mon"]}},
            }
        )
        assert closed.status_code == 422 and closed.json()["error"]["code"] == "outside_calling_hours"
        at = datetime.now(UTC) + timedelta(seconds=1.5)
        created = await cc.create(
            {"to": CALLEE, "profile": "receptionist-openai", "scheduled_at": at.isoformat()}
        )
        assert created.status_code == 201 and created.json()["status"] == "scheduled"
        call_id = created.json()["call_id"]
        listed = (await cc.http.get("/v1/calls", params={"status": "scheduled"})).json()
        assert call_id in [c["call_id"] for c in listed["calls"]]
        assert not cc.twilio.requests_to("POST", "/Calls.json")
        record = await cc.wait_record(call_id, lambda r: r.status.final, within_s=20)
        assert record.status == CallStatus.BUSY
        assert len(cc.twilio.requests_to("POST", "/Calls.json")) == 1


async def test_a_flows_call_back_is_placed_at_the_asked_time_with_the_confirmed_fields(
    call_control: RunCallControl,
) -> None:
    async with call_control() as cc:
        cc.twilio.callees[CALLEE] = Callee.answering(hang_up_after_s=1.0)
        call_id = (await cc.create({"to": CALLEE, "profile": "receptionist-openai"})).json()["call_id"]
        asked = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
        flow = FlowState(
            phase="done",
            fields=[
                FieldState(
                    id="driver_name", raw=["Juan Pérez"], value="Juan Pérez", confirmed=True, attempts=1
                ),
                FieldState(id="tractor_number", raw=["uno"], value="1", confirmed=False, attempts=1),
            ],
            outcome="call_back",
            call_back_at=asked.isoformat(),
        )

        def asked_for_a_call_back(record: CallRecord) -> CallRecord:
            record.flow, record.outcome = flow, "call_back"
            return record

        await cc.store.update(call_id, asked_for_a_call_back)
        ended = await cc.wait_record(call_id, lambda r: bool(r.next_call_id), within_s=20)
        back = await cc.record(ended.next_call_id)
        assert back.scheduled_reason == "call_back" and back.attempt == 2
        assert datetime.fromtimestamp(back.scheduled_ns / 1e9, UTC) == asked
        assert back.flow is not None and back.flow.phase == "permission"
        assert [(f.id, f.value, f.confirmed) for f in back.flow.fields] == [
            ("driver_name", "Juan Pérez", True),
            ("tractor_number", None, False),
        ]
        placed = await cc.wait_record(back.call_id, lambda r: bool(r.provider_call_id), within_s=20)
        assert placed.status != CallStatus.SCHEDULED
        assert len(cc.twilio.requests_to("POST", "/Calls.json")) == 2

import asyncio

import pytest

from switchboard.common.bus.messages import CallTransferred, ErrorOccurred, Hangup, Transfer
from switchboard.common.calls.record import CallStatus
from switchboard.devkit.eventually import eventually
from switchboard.sim.twilio_rest import Callee, EmulatedCall

from .conftest import Edge, Harness, RunCallControl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CALLEE = "+14155550100"
HUMAN = "+14155550123"


async def answered_call(cc: Harness, edge: Edge) -> tuple[str, EmulatedCall]:
    call_id = (await cc.create({"to": CALLEE, "profile": "carrier-registration"})).json()["call_id"]
    call = await cc.twilio.wait_for_call(lambda c: c.status == "in-progress" or c.log.streams != [])
    await asyncio.wait_for(call.wait_for_phone(), 10)
    await cc.wait_record(call_id, lambda r: r.status == CallStatus.IN_PROGRESS)
    return call_id, call


async def test_hang_up_through_the_api(call_control: RunCallControl, edge: Edge) -> None:
    async with call_control() as cc:
        call_id, call = await answered_call(cc, edge)
        response = await cc.http.post(f"/v1/calls/{call_id}/hangup", json={"reason": "operator"})
        assert response.status_code == 202 and response.json() == {
            "call_id": call_id,
            "status": "in-progress",
        }
        assert await asyncio.wait_for(call.wait_status(), 10) == "completed"
        assert call.log.updates == [{"Status": "completed"}] and call.ended_by == "api"
        record = await cc.wait_record(call_id, lambda r: r.status.final)
        assert (record.status, record.ended_reason) == (CallStatus.COMPLETED, "operator")
        stream = edge.for_call(call_id)
        assert stream is not None
        await asyncio.wait_for(stream.closed.wait(), 5)
        assert stream.events[-1] == "stop"
        again = await cc.http.post(f"/v1/calls/{call_id}/hangup")
        assert (again.status_code, again.json()["error"]["code"]) == (409, "call_ended")


async def test_an_agent_hangs_up_through_the_bus(call_control: RunCallControl, edge: Edge) -> None:
    async with call_control() as cc:
        call_id, call = await answered_call(cc, edge)
        await cc.bus.publish_control(call_id, Hangup(reason="agent_end_call"))
        assert await asyncio.wait_for(call.wait_status(), 10) == "completed"
        record = await cc.wait_record(call_id, lambda r: r.status.final)
        assert record.ended_reason == "agent_end_call"
        assert cc.control.metrics.control_messages.labels("hangup", "done")._value.get() == 1


async def test_only_one_replica_acts_on_a_bus_request(call_control: RunCallControl, edge: Edge) -> None:
    async with call_control() as cc, call_control() as replica:
        call_id, call = await answered_call(cc, edge)
        await cc.bus.publish_control(call_id, Hangup(reason="agent_end_call"))
        assert await asyncio.wait_for(call.wait_status(), 10) == "completed"
        await asyncio.sleep(0.2)
        assert call.log.updates == [{"Status": "completed"}]
        done = [
            harness.control.metrics.control_messages.labels("hangup", "done")._value.get()
            for harness in (cc, replica)
        ]
        assert sorted(done) == [0, 1]


async def test_transfer_through_the_api(call_control: RunCallControl, edge: Edge) -> None:
    async with call_control() as cc:
        call_id, call = await answered_call(cc, edge)
        premium = await cc.http.post(f"/v1/calls/{call_id}/transfer", json={"to": "+19002345678"})
        assert (premium.status_code, premium.json()["error"]["code"]) == (422, "premium_rate_number")
        response = await cc.http.post(f"/v1/calls/{call_id}/transfer", json={"to": HUMAN})
        assert response.status_code == 202
        stream = edge.for_call(call_id)
        assert stream is not None
        await asyncio.wait_for(stream.closed.wait(), 5)
        assert await asyncio.wait_for(call.wait_status(), 10) == "completed"
        assert call.log.dialed == [HUMAN]
        record = await cc.wait_record(call_id, lambda r: r.status.final)
        assert record.ended_reason == "transferred" and record.metadata["transferred_to"] == HUMAN
        await eventually(lambda: len(cc.events_of(call_id, CallTransferred.type_name())) == 1)
        [transferred] = cc.events_of(call_id, CallTransferred.type_name())
        assert isinstance(transferred, CallTransferred) and transferred.to == HUMAN
        assert transferred.requested_by.startswith("api:")


async def test_transfer_through_the_bus_is_checked_like_any_number(
    call_control: RunCallControl, edge: Edge
) -> None:
    async with call_control() as cc:
        call_id, call = await answered_call(cc, edge)
        await cc.bus.publish_control(call_id, Transfer(to="+449098765432"))
        await eventually(lambda: cc.events_of(call_id, ErrorOccurred.type_name()))
        [refused] = cc.events_of(call_id, ErrorOccurred.type_name())
        assert isinstance(refused, ErrorOccurred) and refused.code == "premium_rate_number"
        assert call.status == "in-progress" and call.log.updates == []

        await cc.bus.publish_control(call_id, Transfer(to=HUMAN))
        await asyncio.wait_for(call.wait_until(lambda c: c.log.dialed == [HUMAN]), 10)
        assert await asyncio.wait_for(call.wait_status(), 10) == "completed"
        assert (await cc.wait_record(call_id, lambda r: r.status.final)).ended_reason == "transferred"


async def test_a_call_not_answered_yet_cannot_be_transferred(call_control: RunCallControl) -> None:
    async with call_control() as cc:
        cc.twilio.next_callee(Callee.not_answering())
        call_id = (await cc.create({"to": CALLEE, "profile": "receptionist-gemini"})).json()["call_id"]
        await cc.wait_record(call_id, lambda r: r.status == CallStatus.RINGING)
        response = await cc.http.post(f"/v1/calls/{call_id}/transfer", json={"to": HUMAN})
        assert (response.status_code, response.json()["error"]["code"]) == (409, "call_not_in_progress")
        hangup = await cc.http.post(f"/v1/calls/{call_id}/hangup")
        assert hangup.status_code == 202
        record = await cc.wait_record(call_id, lambda r: r.status.final)
        assert (record.status, record.ended_reason) == (CallStatus.CANCELED, "api_hangup")

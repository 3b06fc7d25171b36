import asyncio

import pytest
from nats.aio.client import Client as NatsClient

from switchboard.common.bus.attach import AttachReply, AttachRequest, AttachServer, request_attach
from switchboard.common.bus.client import Bus
from switchboard.common.errors import AttachError
from switchboard.common.runtime.metrics import BusMetrics, new_registry

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

SUBJECT = "svc.testattach.attach"


async def _accept(request: AttachRequest) -> AttachReply:
    return AttachReply(accepted=True, detail={"call": request.call_id})


async def test_a_full_replica_leaves_the_queue_group_and_the_other_takes_the_calls(bus: NatsClient) -> None:
    typed = Bus(bus, BusMetrics(new_registry()))
    small = AttachServer(typed, SUBJECT + "1", instance="small", capacity=2, handler=_accept)
    large = AttachServer(typed, SUBJECT + "1", instance="large", capacity=100, handler=_accept)
    await small.start()
    await large.start()
    replies = [await request_attach(typed, SUBJECT + "1", AttachRequest(call_id=f"c{i}")) for i in range(30)]
    assert all(r.accepted for r in replies)
    assert len(small.calls) <= 2 and len(small.calls) + len(large.calls) == 30
    if len(small.calls) == 2:
        assert not small.in_queue_group
    await small.release(next(iter(small.calls)))
    assert small.in_queue_group
    await small.stop()
    await large.stop()


async def test_no_replica_is_a_retryable_attach_error(bus: NatsClient) -> None:
    typed = Bus(bus, BusMetrics(new_registry()))
    with pytest.raises(AttachError) as caught:
        await request_attach(typed, SUBJECT + "none", AttachRequest(call_id="x"), timeout_s=0.2, attempts=2)
    assert caught.value.retryable


async def test_a_refusal_that_cannot_be_retried_stops_at_once(bus: NatsClient) -> None:
    typed = Bus(bus, BusMetrics(new_registry()))
    calls = 0

    async def refuse(request: AttachRequest) -> AttachReply:
        nonlocal calls
        calls += 1
        return AttachReply(accepted=False, reason="unknown profile", retryable=False)

    server = AttachServer(typed, SUBJECT + "2", instance="r", capacity=5, handler=refuse)
    await server.start()
    with pytest.raises(AttachError) as caught:
        await request_attach(typed, SUBJECT + "2", AttachRequest(call_id="x"))
    assert not caught.value.retryable and calls == 1 and not server.calls
    await server.stop()


async def test_a_repeated_request_for_the_same_call_is_idempotent(bus: NatsClient) -> None:
    typed = Bus(bus, BusMetrics(new_registry()))
    server = AttachServer(typed, SUBJECT + "3", instance="r", capacity=5, handler=_accept)
    await server.start()
    first = await request_attach(typed, SUBJECT + "3", AttachRequest(call_id="same"))
    second = await request_attach(typed, SUBJECT + "3", AttachRequest(call_id="same"))
    assert first.accepted and second.accepted and second.reason == "already attached"
    assert server.calls == {"same"}
    await bus.publish(SUBJECT + "3", b"\x00garbage")  # a malformed request is answered, not fatal
    await asyncio.sleep(0.05)
    assert server.in_queue_group
    await server.stop()


async def test_a_request_numbering_generations_below_one_is_refused_without_reaching_the_handler(
    bus: NatsClient,
) -> None:
    typed = Bus(bus, BusMetrics(new_registry()))
    handled: list[AttachRequest] = []

    async def accept(request: AttachRequest) -> AttachReply:
        handled.append(request)
        return AttachReply(accepted=True)

    server = AttachServer(typed, SUBJECT + "4", instance="r", capacity=5, handler=accept)
    await server.start()
    with pytest.raises(AttachError) as caught:
        await request_attach(
            typed, SUBJECT + "4", AttachRequest(call_id="x", resume=True, first_generation=0)
        )
    assert not caught.value.retryable and "first_generation" in caught.value.message
    assert handled == [] and not server.calls
    await server.stop()

import asyncio

import pytest
from nats.aio.client import Client as NatsClient

from switchboard.common.bus import subjects
from switchboard.common.calls.record import CallRecord, CallStatus, may_move
from switchboard.common.calls.store import CallStore, RecordConflict, RecordNotFound

pytestmark = pytest.mark.timeout(30)


@pytest.mark.unit
def test_status_never_moves_back_or_out_of_a_final_status() -> None:
    assert may_move(CallStatus.QUEUED, CallStatus.RINGING)
    assert not may_move(CallStatus.IN_PROGRESS, CallStatus.RINGING)
    assert may_move(CallStatus.RINGING, CallStatus.NO_ANSWER)
    assert not may_move(CallStatus.COMPLETED, CallStatus.FAILED)


@pytest.mark.integration
async def test_concurrent_updates_are_never_lost(bus: NatsClient) -> None:
    store = CallStore(await bus.jetstream().key_value(subjects.CALLS_BUCKET), bus.jetstream())
    record = CallRecord(
        call_id="cas-1", direction="outbound", to_number="+15005550006", from_number="+1", profile="p"
    )
    await store.create(record)
    with pytest.raises(RecordConflict):
        await store.create(record)

    async def add(key: str) -> None:
        def change(current: CallRecord) -> CallRecord:
            current.captured = {**current.captured, key: True}
            return current

        await store.update("cas-1", change)

    await asyncio.gather(*(add(f"field{i}") for i in range(20)))
    final, revision = await store.get("cas-1")
    assert sorted(final.captured) == sorted(f"field{i}" for i in range(20))
    assert revision >= 21
    assert "cas-1" in await store.keys()
    assert "cas-1" in {r.call_id for r in await store.all()}


@pytest.mark.integration
async def test_a_missing_record_is_not_found(bus: NatsClient) -> None:
    store = CallStore(await bus.jetstream().key_value(subjects.CALLS_BUCKET))
    with pytest.raises(RecordNotFound):
        await store.get("nobody")
    assert await store.find("nobody") is None

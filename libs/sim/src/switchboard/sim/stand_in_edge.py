"""A stand-in media edge on the bus: for tests and benchmarks that drive an agent without a phone.

An agent takes a call only from the edge that serves it, at the agent epoch the call record names, and leaves a
call whose edge falls silent. This stand-in does what the edge does for that: it writes the call record as the
edge claims it (live, its stream, this edge, epoch 1), builds attach requests that name it, moves the epoch on
for a hand-over, and publishes the edge's `ctl.heartbeat` (with the call's epoch) for every call it holds.

```python
edge = StandInEdge(bus)
await edge.start()
request = await edge.claim("call-1", profile, agent_in_format=AudioFormat.PCM24K)
await request_attach(bus, subjects.agent_attach("openai"), request)
...
await edge.stop()
```
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec

from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachRequest
from switchboard.common.bus.client import Bus
from switchboard.common.bus.heartbeat import publish_heartbeats
from switchboard.common.bus.messages import MEDIA_EDGE_COMPONENT
from switchboard.common.calls.record import CallRecord, CallStatus
from switchboard.common.calls.store import CallStore, RecordConflict


class StandInEdge:
    """Claims call records, builds attach requests and heartbeats as the media edge of those calls."""

    def __init__(
        self, bus: Bus, *, instance: str = "stand-in-edge", heartbeat_interval_s: float = 1.0
    ) -> None:
        self.instance = instance
        self.epochs: dict[str, int] = {}
        self._bus = bus
        self._interval = heartbeat_interval_s
        self._heartbeats: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Publish the edge heartbeat of every call claimed here."""
        self._heartbeats = asyncio.get_running_loop().create_task(
            publish_heartbeats(
                self._bus,
                MEDIA_EDGE_COMPONENT,
                self.instance,
                lambda: self.epochs.keys(),
                self._interval,
                lambda call_id: self.epochs.get(call_id, 0),
            ),
            name=f"heartbeats-{self.instance}",
        )

    async def stop(self) -> None:
        """Stop heartbeating (to the agents, the edge of every call went silent)."""
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeats
            self._heartbeats = None

    async def _store(self) -> CallStore:
        return CallStore(await self._bus.js.key_value(subjects.CALLS_BUCKET))

    async def claim(self, call_id: str, profile: str, **request: Any) -> AttachRequest:
        """Write (or take over) `call_id`'s record as live on this edge at epoch 1; the attach request for it."""
        store = await self._store()
        record = CallRecord(
            call_id=call_id,
            direction="outbound",
            to_number="+15550100",
            from_number="+15550199",
            profile=profile,
            status=CallStatus.IN_PROGRESS,
            stream_id=f"MZ-{call_id}",
            edge_instance=self.instance,
            agent_epoch=1,
        )
        try:
            await store.create(record)
        except RecordConflict:

            def take(current: CallRecord) -> CallRecord:
                current.status, current.stream_id = CallStatus.IN_PROGRESS, record.stream_id
                current.edge_instance, current.agent_epoch = self.instance, max(current.agent_epoch, 1)
                return current

            record = await store.update(call_id, take)
        self.epochs[call_id] = record.agent_epoch
        return AttachRequest(
            call_id=call_id, profile=profile, requester=self.instance, epoch=record.agent_epoch, **request
        )

    async def hand_over(self, request: AttachRequest, *, first_generation: int) -> AttachRequest:
        """The next epoch for the call (stored, then heartbeated): the request that attaches its next agent."""
        epoch = self.epochs[request.call_id] + 1

        def advance(current: CallRecord) -> CallRecord:
            current.agent_epoch = max(current.agent_epoch, epoch)
            return current

        await (await self._store()).update(request.call_id, advance)
        self.epochs[request.call_id] = epoch
        return msgspec.structs.replace(request, resume=True, first_generation=first_generation, epoch=epoch)

    def release(self, call_id: str) -> None:
        """Stop heartbeating for one call."""
        self.epochs.pop(call_id, None)

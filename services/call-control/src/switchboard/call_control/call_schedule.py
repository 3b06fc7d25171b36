"""Calls placed later: scheduled through the API, retries of unanswered attempts, call-backs a callee asked for.

A scheduled call is a record in status `scheduled` (with the time in `scheduled_ns`) and one message in the
stream `CALL_SCHEDULE`. A durable consumer shared by call-control's replicas holds each message until its time:
a message that comes too early is NAK'd with the time left, so the server keeps the wait and a restart of any
replica loses nothing. At its time the record moves from `scheduled` to `queued` with compare-and-set, so of two
replicas only one places the call; a canceled record is simply acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api

from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.pull_batches import pull_batches
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import ensure_stream
from switchboard.common.calls.record import CallRecord, CallStatus
from switchboard.common.calls.store import CallStore

logger = logging.getLogger(__name__)

MAX_HOLD_S = 3600.0
"""The longest one NAK holds a message; a later time is reached through several."""
PlaceCall = Callable[[CallRecord], Awaitable[None]]


async def ensure_schedule_stream(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Create (or bring up to date) the stream `CALL_SCHEDULE`; idempotent, safe from every replica at once."""
    config = js_api.StreamConfig(
        name=subjects.CALL_SCHEDULE_STREAM,
        subjects=[subjects.call_schedule(subjects.ANY)],
        storage=js_api.StorageType.FILE,
        retention=js_api.RetentionPolicy.WORK_QUEUE,
        num_replicas=replicas,
        duplicate_window=3600.0,
    )
    await ensure_stream(js, config)


class CallScheduler:
    """Keeps scheduled calls in JetStream and places each at its time, once."""

    def __init__(
        self,
        bus: Bus,
        store: CallStore,
        metrics: CallControlMetrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bus = bus
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self.place: PlaceCall | None = None
        """Dials a record claimed from `scheduled` (set by the service that owns dialing)."""
        self.abandon: PlaceCall | None = None
        """Ends a record that was claimed but never dialed (its replica died in between)."""

    async def schedule(self, record: CallRecord) -> None:
        """Queue `record` (in status `scheduled`) for its time; a repeat for the same time is dropped."""
        await self._bus.js.publish(
            subjects.call_schedule(record.call_id),
            b"",
            headers={"Nats-Msg-Id": f"{record.call_id}:{record.scheduled_ns}"},
        )
        self._metrics.calls_scheduled.labels(record.scheduled_reason or "requested").inc()

    def consumer_config(self) -> js_api.ConsumerConfig:
        """The durable consumer every replica shares; NAKs are waits, so deliveries are not limited."""
        return js_api.ConsumerConfig(
            durable_name=subjects.CALL_SCHEDULER_CONSUMER,
            filter_subject=subjects.call_schedule(subjects.ANY),
            ack_policy=js_api.AckPolicy.EXPLICIT,
            ack_wait=60.0,
            max_deliver=-1,
            deliver_policy=js_api.DeliverPolicy.ALL,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Place scheduled calls as they fall due, until `stop` is set."""
        sub = await self._bus.js.pull_subscribe(
            subjects.call_schedule(subjects.ANY),
            durable=subjects.CALL_SCHEDULER_CONSUMER,
            stream=subjects.CALL_SCHEDULE_STREAM,
            config=self.consumer_config(),
        )
        async for messages in pull_batches(sub, stop, batch=32, what="scheduled calls"):
            for msg in messages:
                try:
                    await self._settle(msg)
                except Exception:  # tried again after ack_wait; the other calls go on
                    logger.exception("placing a scheduled call failed", extra={"call_id": msg.subject})

    async def count_pending_until(self, stop: asyncio.Event, every_s: float = 15.0) -> None:
        """Keep the pending gauge current (also while no scheduled call falls due)."""
        while not stop.is_set():
            await self._count_pending()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)

    async def _count_pending(self) -> None:
        with contextlib.suppress(Exception):  # a gauge; the next pass counts again
            self._metrics.scheduled_pending.set(await self.pending())

    async def _settle(self, msg: Msg) -> None:
        call_id = subjects.last_token(msg.subject)
        record = await self._store.find(call_id)
        if record is not None and record.status == CallStatus.QUEUED and not record.provider_call_id:
            # claimed by a replica that died before it dialed (this is the message again, after ack_wait)
            if msg.metadata.num_delivered > 1 and self.abandon is not None:
                await self.abandon(record)
            await msg.ack()
            return
        if record is None or record.status != CallStatus.SCHEDULED:
            await msg.ack()  # canceled, or placed already
            return
        wait_s = record.scheduled_ns / 1e9 - self._clock()
        if wait_s > 0.05:
            await msg.nak(delay=min(wait_s, MAX_HOLD_S))
            return
        claimed = False

        def claim(current: CallRecord) -> CallRecord | None:
            nonlocal claimed
            claimed = current.status == CallStatus.SCHEDULED
            if not claimed:
                return None
            current.status = CallStatus.QUEUED
            return current

        record = await self._store.update(call_id, claim)
        if claimed and self.place is not None:
            late_s = max(0.0, self._clock() - record.scheduled_ns / 1e9)
            self._metrics.scheduled_lateness.observe(late_s)
            logger.info("placing scheduled call (%.1f s late)", late_s, extra={"call_id": call_id})
            await self.place(record)
        await msg.ack()

    async def pending(self) -> int:
        """Scheduled calls not yet placed (what the stream holds)."""
        info = await self._bus.js.stream_info(subjects.CALL_SCHEDULE_STREAM)
        return int(info.state.messages)

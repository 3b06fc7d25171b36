"""What follows an outbound call's end: a next attempt, a call-back, or the notice that the attempts ran out.

The next attempt of an unanswered call, or the call-back a callee asked for, is scheduled. Each attempt is a call record of its own, linked to the first (`first_call_id`, `attempt`, `previous_call_id`),
with an id derived from the first call's (``{first}-{n}``), so a repeat of this step (the ended-call consumer
delivers at least once) finds the record there and places nothing twice. A call-back carries the flow's
confirmed fields into the next call, so the callee is not asked again what they already confirmed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as number_zones

from switchboard.call_control.call_schedule import CallScheduler
from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.problems import ApiProblem
from switchboard.call_control.result_webhooks import ResultWebhooks
from switchboard.call_control.webhook_outbox import ATTEMPTS_EXHAUSTED, WebhookOutbox, call_data
from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import CallCreated
from switchboard.common.calls.attempts import CallingHours, RetryPolicy
from switchboard.common.calls.record import CallRecord, CallStatus
from switchboard.common.calls.store import CallStore, RecordConflict
from switchboard.common.flows.state import FieldState, FlowState

logger = logging.getLogger(__name__)

MAX_SCHEDULE_DAYS = 90
MAX_CHAIN = 20
"""No chain of attempts and call-backs grows longer than this, whatever the policies say."""


def zone_of(number: str, fallback: str = "") -> ZoneInfo:
    """The time zone of an E.164 number (the first its region has), else `fallback`, else UTC."""
    try:
        zones = number_zones.time_zones_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        zones = ()
    for name in (*[z for z in zones if z != "Etc/Unknown"], fallback):
        if name:
            try:
                return ZoneInfo(name)
            except (KeyError, ValueError):
                continue
    return ZoneInfo("UTC")


def callee_zone(record: CallRecord) -> ZoneInfo:
    """The callee's time zone: the call's own (resolved when it was placed), else its number's."""
    return callee_zone_of(record.to_number, record.timezone)


def callee_zone_of(number: str, timezone: str) -> ZoneInfo:
    """`timezone` when given (it wins over the number), else the number's zone."""
    if timezone:
        try:
            return ZoneInfo(timezone)
        except (KeyError, ValueError):
            pass
    return zone_of(number)


def within_hours(moment: datetime, hours: CallingHours | None, zone: ZoneInfo) -> datetime:
    """`moment`, or the next time the calling hours open after it."""
    return moment if hours is None else hours.opens(moment, zone)


def next_attempt_id(record: CallRecord) -> str:
    """The id of the attempt after `record`."""
    return f"{record.first_call_id or record.call_id}-{record.attempt + 1}"


def carried_flow(flow: FlowState | None) -> FlowState | None:
    """The flow state a call-back starts from: the confirmed fields kept, the rest asked again."""
    if flow is None:
        return None
    kept = [
        FieldState(id=f.id, raw=list(f.raw), value=f.value, confirmed=True, attempts=f.attempts)
        if f.confirmed
        else FieldState(id=f.id)
        for f in flow.fields
    ]
    return FlowState(fields=kept)


class AttemptPlanner:
    """Acts on ended outbound calls (one of `ResultWebhooks.end_handlers`)."""

    def __init__(
        self,
        bus: Bus,
        store: CallStore,
        scheduler: CallScheduler,
        webhooks: ResultWebhooks,
        outbox: WebhookOutbox,
        metrics: CallControlMetrics,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bus = bus
        self._store = store
        self._scheduler = scheduler
        self._webhooks = webhooks
        self._outbox = outbox
        self._metrics = metrics
        self._clock = clock

    async def on_call_ended(self, record: CallRecord) -> None:
        """Schedule the next attempt or the call-back, or announce that the attempts ran out."""
        if record.direction != "outbound" or not record.status.final:
            return
        outcome = record.outcome_now()
        now = datetime.fromtimestamp(self._clock(), UTC)
        hours = record.retry.calling_hours if record.retry is not None else None
        if outcome == "call_back" and record.flow is not None and record.flow.call_back_at:
            asked = datetime.fromisoformat(record.flow.call_back_at)
            await self._follow_up(
                record, within_hours(max(asked, now), hours, callee_zone(record)), "call_back"
            )
            return
        policy = record.retry
        if policy is None or outcome not in policy.on:
            return
        if record.attempt >= min(policy.max_attempts, MAX_CHAIN):
            await self._exhausted(record, outcome)
            return
        at = within_hours(now + timedelta(seconds=policy.delay_s), hours, callee_zone(record))
        await self._follow_up(record, at, "retry")

    async def _follow_up(self, record: CallRecord, at: datetime, reason: str) -> None:
        if record.attempt >= MAX_CHAIN:
            logger.warning(
                "no %s: the chain has %d attempts", reason, record.attempt, extra={"call_id": record.call_id}
            )
            return
        follow = CallRecord(
            call_id=next_attempt_id(record),
            direction="outbound",
            transport=record.transport,
            to_number=record.to_number,
            from_number=record.from_number,
            profile=record.profile,
            profile_revision=record.profile_revision,
            status=CallStatus.SCHEDULED,
            created_ns=time.time_ns(),
            max_duration_s=record.max_duration_s,
            metadata=dict(record.metadata),
            webhook_url=record.webhook_url,
            machine_detection=record.machine_detection,
            retry=record.retry,
            timezone=record.timezone,
            attempt=record.attempt + 1,
            first_call_id=record.first_call_id or record.call_id,
            previous_call_id=record.call_id,
            scheduled_ns=int(at.timestamp() * 1e9),
            scheduled_reason=reason,
            flow=carried_flow(record.flow) if reason == "call_back" else None,
        )
        try:
            await self._store.create(follow)
        except RecordConflict:  # this end was acted on before (a redelivery): make sure it is queued
            existing = await self._store.find(follow.call_id)
            if existing is not None and existing.status == CallStatus.SCHEDULED:
                await self._scheduler.schedule(existing)
            return
        await self._bus.publish_event(
            follow.call_id,
            CallCreated(
                direction="outbound",
                to_number=follow.to_number,
                from_number=follow.from_number,
                profile=follow.profile,
            ),
            msg_id=f"{follow.call_id}:created",
        )

        def linked(current: CallRecord) -> CallRecord:
            current.next_call_id = follow.call_id
            return current

        await self._store.update(record.call_id, linked)
        await self._scheduler.schedule(follow)
        logger.info(
            "%s scheduled as %s (attempt %d) at %s",
            reason,
            follow.call_id,
            follow.attempt,
            at.isoformat(),
            extra={"call_id": record.call_id},
        )

    async def _exhausted(self, record: CallRecord, outcome: str) -> None:
        self._metrics.attempts_exhausted.labels(outcome).inc()
        url = await self._webhooks.url_for(record)
        if not url:
            return
        history = await self._bus.call_history(record.call_id)
        data = call_data(record, history)
        first = record.first_call_id or record.call_id
        data["attempts"] = [first, *(f"{first}-{n}" for n in range(2, record.attempt + 1))]
        await self._outbox.enqueue(record, ATTEMPTS_EXHAUSTED, url, data)


def requested_time(
    at: datetime,
    *,
    retry: RetryPolicy | None,
    to_number: str,
    timezone: str,
    ignore_hours: bool,
    now: datetime,
) -> int:
    """`at` (a client's `scheduled_at`) in ns, checked: not in the past, inside the calling hours unless ignored.

    Raises `ApiProblem` (422) saying what is wrong and, for the hours, when they next open.
    """
    moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    if moment < now - timedelta(seconds=5):
        raise ApiProblem(422, "scheduled_in_the_past", f"scheduled_at: {moment.isoformat()} is in the past")
    if moment > now + timedelta(days=MAX_SCHEDULE_DAYS):
        raise ApiProblem(422, "scheduled_too_far", f"scheduled_at: at most {MAX_SCHEDULE_DAYS} days ahead")
    hours = retry.calling_hours if retry is not None else None
    if hours is not None and not ignore_hours:
        zone = callee_zone_of(to_number, timezone)
        opens = hours.opens(moment, zone)
        if opens != moment.astimezone(UTC):
            raise ApiProblem(
                422,
                "outside_calling_hours",
                f"scheduled_at: outside the calling hours in {zone.key}; they open next at "
                f"{opens.astimezone(zone).isoformat()} (or set ignore_calling_hours)",
            )
    return int(moment.timestamp() * 1e9)

"""Reading calls for the API: one call with its timeline from `CALL_EVENTS`, and filtered pages of calls.

Listing reads the latest value of every key of the `calls` bucket through one KV watcher (a single ordered
consumer, not a request per key), then filters and sorts in memory: fine for thousands of calls; a deployment
that keeps millions should index calls in a database fed from `CALL_EVENTS`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from switchboard.call_control.problems import ApiProblem
from switchboard.call_control.schemas import (
    CallDetail,
    CallPage,
    CallSummary,
    CapturedField,
    TimelineEntry,
    WebhookDeliveryView,
    iso,
)
from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import Event
from switchboard.common.calls.record import CallRecord, CallStatus
from switchboard.common.calls.store import CallStore

logger = logging.getLogger(__name__)

_HIDDEN_FIELDS = frozenset({"v", "ts_ns", "type"})


def timeline_entry(event: Event) -> TimelineEntry:
    """An event as the API shows it: its type, when, and its own fields."""
    fields: dict[str, Any] = {
        key: value for key, value in msgspec.to_builtins(event).items() if key not in _HIDDEN_FIELDS
    }
    at = iso(event.ts_ns)
    assert at is not None
    return TimelineEntry(type=event.type_name(), at=at, **fields)


async def call_detail(bus: Bus, record: CallRecord) -> CallDetail:
    """The record and every event of the call, oldest first."""
    history = await bus.call_history(record.call_id)
    summary = CallSummary.of(record)
    return CallDetail(
        **summary.model_dump(),
        captured=record.captured,
        fields=captured_fields(record),
        outcome=record.outcome_now(),
        call_back_at=datetime.fromisoformat(record.flow.call_back_at)
        if record.flow is not None and record.flow.call_back_at
        else None,
        result=record.result,
        webhook_deliveries={
            event_id: WebhookDeliveryView(
                event_type=delivery.event_type,
                url=delivery.url,
                state=delivery.state,
                attempts=delivery.attempts,
                last_status=delivery.last_status or None,
                last_error=delivery.last_error,
                updated_at=iso(delivery.updated_ns),
                delivered_at=iso(delivery.delivered_ns),
            )
            for event_id, delivery in record.deliveries.items()
        },
        timeline=[timeline_entry(event) for event in history],
    )


def captured_fields(record: CallRecord) -> list[CapturedField]:
    """The fields of the call's flow, in the flow's order."""
    if record.flow is None:
        return []
    return [
        CapturedField(id=f.id, raw=f.raw, value=f.value, confirmed=f.confirmed, attempts=f.attempts)
        for f in record.flow.fields
    ]


@dataclass(frozen=True, slots=True)
class CallFilter:
    """What a listing keeps."""

    statuses: frozenset[CallStatus] = frozenset()
    direction: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def keeps(self, record: CallRecord) -> bool:
        """Whether `record` is listed."""
        if self.statuses and record.status not in self.statuses:
            return False
        if self.direction and record.direction != self.direction:
            return False
        created = iso(record.created_ns)  # compared as the API shows it, to the microsecond
        if created is None:
            return self.created_after is None and self.created_before is None
        if self.created_after is not None and created <= _utc(self.created_after):
            return False
        return self.created_before is None or created < _utc(self.created_before)


def _utc(moment: datetime) -> datetime:
    """A time given without a zone is taken as UTC (comparing it with the records' UTC times would fail)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _cursor(record: CallRecord) -> str:
    return base64.urlsafe_b64encode(f"{record.created_ns}:{record.call_id}".encode()).decode().rstrip("=")


def _position(cursor: str) -> tuple[int, str]:
    try:
        created, _, call_id = (
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        )
        return int(created), call_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise ApiProblem(422, "invalid_cursor", "cursor: not a cursor this API returned") from e


async def list_calls(store: CallStore, wanted: CallFilter, *, limit: int, cursor: str | None) -> CallPage:
    """A page of calls, newest first, after `cursor`."""
    records = sorted(
        (record for record in await store.all() if wanted.keeps(record)),
        key=lambda record: (record.created_ns, record.call_id),
        reverse=True,
    )
    if cursor:
        position = _position(cursor)
        records = [record for record in records if (record.created_ns, record.call_id) < position]
    page = records[:limit]
    more = len(records) > limit
    return CallPage(
        calls=[CallSummary.of(record) for record in page],
        next_cursor=_cursor(page[-1]) if more and page else None,
    )

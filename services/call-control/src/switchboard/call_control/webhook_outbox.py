"""Result webhooks waiting for delivery: the stream `WEBHOOKS`, what an event says, and how it is queued.

An event is queued once per event id: its id is the JetStream message id, so the replicas and restarts that
queue the same event again within the duplicate window store it once. The body is built when the event is
queued (and again, from the current record, when an operator asks for a redelivery).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js import api as js_api

from switchboard.call_control.schemas import CallSummary
from switchboard.call_control.views import captured_fields
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import ensure_stream
from switchboard.common.bus.messages import TranscriptTurn
from switchboard.common.calls.record import CallRecord, WebhookDelivery
from switchboard.common.calls.store import CallStore

logger = logging.getLogger(__name__)

CALL_ENDED = "call.ended"
ATTEMPTS_EXHAUSTED = "call.attempts_exhausted"

URL_HEADER = "Switchboard-Url"
PROFILE_HEADER = "Switchboard-Profile"
EVENT_ID_HEADER = "Switchboard-Event-Id"
EVENT_TYPE_HEADER = "Switchboard-Event-Type"
REDELIVERY_HEADER = "Switchboard-Redelivery"


@dataclass(frozen=True, slots=True)
class WebhookLimits:
    """Retention of the stream `WEBHOOKS`."""

    max_age_s: float = 8 * 24 * 3600
    duplicate_window_s: float = 3600.0
    replicas: int = 1


async def ensure_webhooks_stream(js: JetStreamContext, limits: WebhookLimits) -> None:
    """Create (or bring up to date) the stream `WEBHOOKS`; idempotent, safe from every replica at once."""
    config = js_api.StreamConfig(
        name=subjects.WEBHOOKS_STREAM,
        subjects=[subjects.webhook_subjects()],
        storage=js_api.StorageType.FILE,
        retention=js_api.RetentionPolicy.LIMITS,
        max_age=limits.max_age_s,
        num_replicas=limits.replicas,
        duplicate_window=limits.duplicate_window_s,
    )
    await ensure_stream(js, config)


def event_id(call_id: str, event_type: str) -> str:
    """The id of the one event of `event_type` about `call_id` (stable across replicas and restarts)."""
    return f"evt_{call_id}_{event_type.removeprefix('call.')}"


def _iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def transcript_of(history: list[Any]) -> list[dict[str, Any]]:
    """The transcript turns of a call's events, oldest first."""
    return [
        {
            "role": event.role,
            "text": event.text,
            "interrupted": event.interrupted,
            "at": datetime.fromtimestamp(event.ts_ns / 1e9, UTC).isoformat().replace("+00:00", "Z"),
        }
        for event in history
        if isinstance(event, TranscriptTurn)
    ]


def call_data(record: CallRecord, history: list[Any]) -> dict[str, Any]:
    """What a webhook says about a call: the record as the API shows it, captured fields and the transcript."""
    data: dict[str, Any] = CallSummary.of(record).model_dump(mode="json", by_alias=True)
    data.update(
        answered_by=record.answered_by,
        metadata=dict(record.metadata),
        captured=record.captured,
        fields=[field.model_dump(mode="json") for field in captured_fields(record)],
        outcome=record.outcome_now(),
        call_back_at=(record.flow.call_back_at or None) if record.flow is not None else None,
        result=record.result,
        transcript=transcript_of(history),
    )
    return data


def envelope(event_type: str, call_id: str, data: Mapping[str, Any]) -> bytes:
    """The JSON body of one event."""
    body = {
        "id": event_id(call_id, event_type),
        "type": event_type,
        "created_at": _iso_now(),
        "data": dict(data),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookOutbox:
    """Queues webhook events in `WEBHOOKS` and notes them as pending on the call's record."""

    def __init__(self, bus: Bus, store: CallStore) -> None:
        self._bus = bus
        self._store = store

    async def enqueue(
        self,
        record: CallRecord,
        event_type: str,
        url: str,
        data: Mapping[str, Any],
        *,
        redelivery: bool = False,
    ) -> str:
        """Queue one event for `url`; returns its event id. A repeat within the duplicate window is dropped."""
        eid = event_id(record.call_id, event_type)
        msg_id = f"{eid}:redeliver:{time.time_ns()}" if redelivery else eid
        headers = {
            "Nats-Msg-Id": msg_id,
            URL_HEADER: url,
            PROFILE_HEADER: record.profile,
            EVENT_ID_HEADER: eid,
            EVENT_TYPE_HEADER: event_type,
        }
        if redelivery:
            headers[REDELIVERY_HEADER] = "1"
        await self._bus.js.publish(
            subjects.webhook_outbox(record.call_id),
            envelope(event_type, record.call_id, data),
            headers=headers,
        )
        now = time.time_ns()

        def pending(current: CallRecord) -> CallRecord | None:
            known = current.deliveries.get(eid)
            if known is not None and not redelivery:
                return None
            current.deliveries = {
                **current.deliveries,
                eid: WebhookDelivery(event_type=event_type, url=url, updated_ns=now),
            }
            return current

        await self._store.update(record.call_id, pending)
        return eid

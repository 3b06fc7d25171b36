"""Twilio status callbacks → the call record and `CALL_EVENTS`, idempotently and in `SequenceNumber` order.

Callbacks may arrive twice, late or out of order. A callback is applied only if its sequence number is above
the last one applied and the status may follow the current one (`may_move`: never back, never out of a final
status); a late one still fills in what was missing (`AnsweredBy`). The compare-and-set update of the record
decides which replica applied a change, so `StatusChanged` is published once per change and `CallEnded` once
per call.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.twilio_params import StatusReport
from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import CallEnded, StatusChanged
from switchboard.common.calls.record import CallRecord, CallStatus, may_move
from switchboard.common.calls.store import CallStore, RecordNotFound

logger = logging.getLogger(__name__)

_REASON_OF_STATUS = {
    CallStatus.COMPLETED: "completed",
    CallStatus.BUSY: "busy",
    CallStatus.NO_ANSWER: "no-answer",
    CallStatus.FAILED: "failed",
    CallStatus.CANCELED: "canceled",
}


@dataclass(slots=True)
class _Change:
    moved: bool = False
    ended: bool = False


def apply_report(record: CallRecord, report: StatusReport, now_ns: int, change: _Change) -> CallRecord | None:
    """The record after `report`, or None if the report changes nothing (a duplicate, stale or late one)."""
    change.moved = change.ended = False
    stale = 0 <= report.sequence <= record.status_sequence
    moved = not stale and may_move(record.status, report.status)
    learns_answered_by = bool(report.answered_by) and not record.answered_by
    if not moved and not learns_answered_by:
        return None
    if learns_answered_by:
        record.answered_by = report.answered_by
    if not moved:
        return record
    change.moved = True
    record.status = report.status
    record.status_sequence = max(record.status_sequence, report.sequence)
    if report.status == CallStatus.IN_PROGRESS and not record.answered_ns:
        record.answered_ns = now_ns
    if report.status.final:
        change.ended = True
        record.ended_ns = now_ns
        if report.duration_s:  # Twilio's own count of the seconds talked wins over our clock
            record.answered_ns = now_ns - report.duration_s * 1_000_000_000
        record.ended_reason = record.ended_reason or _REASON_OF_STATUS[report.status]
    return record


async def announce_end(bus: Bus, metrics: CallControlMetrics, record: CallRecord) -> None:
    """Publish `CallEnded` (once per call: the message id makes a repeat a duplicate) and count the end."""
    await bus.publish_event(
        record.call_id,
        CallEnded(reason=record.ended_reason or record.status.value, duration_s=round(record.duration_s, 3)),
        msg_id=f"{record.call_id}:ended",
    )
    metrics.active_calls.dec()
    metrics.calls_ended.labels(record.status.value).inc()
    if record.answered_ns:
        metrics.call_duration.observe(record.duration_s)


class StatusTracker:
    """Applies status callbacks to records and publishes what changed."""

    def __init__(self, bus: Bus, store: CallStore, metrics: CallControlMetrics) -> None:
        self._bus = bus
        self._store = store
        self._metrics = metrics

    async def apply(
        self, call_id: str, report: StatusReport | None, provider_status: str = ""
    ) -> CallRecord | None:
        """Apply one parsed callback; returns the record as it now is (None for an unknown call or status).

        `report` is None for a `CallStatus` this service does not know (`provider_status`, logged).
        """
        if report is None:
            self._metrics.status_callbacks.labels("unknown", "unknown").inc()
            logger.info(
                "ignored a status callback with CallStatus=%r",
                provider_status[:40],
                extra={"call_id": call_id},
            )
            return None
        return await self.apply_report(call_id, report)

    async def apply_progress(
        self,
        call_id: str,
        status: CallStatus,
        provider_status: str,
        sequence: int = -1,
        *,
        sip_status: str = "",
        reason: str = "",
    ) -> CallRecord | None:
        """Apply what a provider other than Twilio reported.

        LiveKit: the SIP participant's status as the edge saw it, or a dial that failed with its SIP status.
        A `sequence` of -1 is never stale.
        """
        report = StatusReport(
            status=status, provider_status=provider_status, sequence=sequence, answered_by="", duration_s=None
        )
        return await self.apply_report(call_id, report, sip_status=sip_status, reason=reason)

    async def apply_report(
        self, call_id: str, report: StatusReport, *, sip_status: str = "", reason: str = ""
    ) -> CallRecord | None:
        """Apply one parsed report; returns the record as it now is (None for an unknown call)."""
        change = _Change()
        now_ns = time.time_ns()

        def change_record(current: CallRecord) -> CallRecord | None:
            had_reason = bool(current.ended_reason)
            updated = apply_report(current, report, now_ns, change)
            if updated is not None and change.ended:
                updated.sip_status = sip_status or updated.sip_status
                if reason and not had_reason:
                    updated.ended_reason = reason
            return updated

        try:
            record = await self._store.update(call_id, change_record)
        except RecordNotFound:
            self._metrics.status_callbacks.labels(report.provider_status, "unknown").inc()
            logger.warning("status callback for an unknown call", extra={"call_id": call_id})
            return None
        self._metrics.status_callbacks.labels(
            report.provider_status, "applied" if change.moved else "stale"
        ).inc()
        if change.moved:
            await self._bus.publish_event(
                call_id,
                StatusChanged(
                    status=report.status.value,
                    provider_status=report.provider_status,
                    answered_by=record.answered_by,
                    sequence=report.sequence,
                ),
                msg_id=f"{call_id}:status:{report.sequence}:{report.status.value}",
            )
        if change.ended:
            await announce_end(self._bus, self._metrics, record)
        return record

"""The shapes of the calls API (requests and answers), as pydantic models: they are also the OpenAPI docs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from switchboard.common.calls.attempts import zone
from switchboard.common.calls.record import CallRecord, CallStatus
from switchboard.common.profiles import PROFILE_NAME_PATTERN, RetrySpec

MAX_METADATA_ENTRIES = 20
MAX_NUMBER_LENGTH = 32
"""Longer than any E.164 number (16), so a near miss still gets the `invalid_number` answer that says why."""


class CreateCall(BaseModel):
    """Place an outbound call to `to`, handled by the agent of `profile`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: str = Field(
        max_length=MAX_NUMBER_LENGTH,
        description="The number to call, E.164 (checked in full: `invalid_number` otherwise)",
        examples=["+14155550100"],
    )
    from_: str | None = Field(
        default=None,
        alias="from",
        max_length=MAX_NUMBER_LENGTH,
        description="Caller ID (E.164, a number of the Twilio account); default: configured",
    )
    profile: str = Field(
        pattern=PROFILE_NAME_PATTERN,
        max_length=64,
        description="The agent profile: lower-case letters, digits, `_` and `-`",
        examples=["receptionist-openai"],
    )
    transport: Literal["twilio", "livekit"] = "twilio"
    metadata: dict[str, str] = Field(default_factory=dict, description="Yours; kept on the record")
    max_duration_s: int | None = Field(
        default=None, ge=10, le=4 * 3600, description="Hang up after this long (default: the profile's limit)"
    )
    machine_detection: bool = Field(default=False, description="Ask Twilio who answered (human or machine)")
    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Send this call's result webhooks here instead of the profile's URL (https, public host)",
    )
    scheduled_at: datetime | None = Field(
        default=None, description="Place the call at this time (ISO 8601; without a zone: UTC) instead of now"
    )
    ignore_calling_hours: bool = Field(
        default=False, description="Allow a scheduled_at outside the retry policy's calling hours"
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="The callee's time zone (IANA) for calling hours; default: from the number, else the profile's",
    )
    retry: RetrySpec | None = Field(
        default=None, description="Retry unanswered attempts (default: the profile's)"
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, str]) -> dict[str, str]:
        """Keep metadata small: it travels with every read of the record."""
        if len(value) > MAX_METADATA_ENTRIES or any(len(k) > 64 or len(v) > 500 for k, v in value.items()):
            raise ValueError(
                f"at most {MAX_METADATA_ENTRIES} entries, keys up to 64 and values up to 500 characters"
            )
        return value


class HangupCall(BaseModel):
    """End a call."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="api_hangup", min_length=1, max_length=200)


class TransferCall(BaseModel):
    """Hand the call over to another number."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(
        max_length=MAX_NUMBER_LENGTH,
        description="The number to transfer to, E.164",
        examples=["+14155550123"],
    )


class CallAccepted(BaseModel):
    """A call that exists (201 on creation, 200 on an idempotent replay)."""

    call_id: str
    status: CallStatus


def iso(ns: int) -> datetime | None:
    """A record timestamp (ns since the epoch) as a UTC datetime; None for 0."""
    return datetime.fromtimestamp(ns / 1e9, UTC) if ns else None


class RecordingView(BaseModel):
    """The call's recording (`GET /v1/calls/{id}/recording`): stereo, left the caller, right what they heard."""

    state: Literal["recording", "complete", "failed", "deleted"] = Field(
        description="recording: the call is live (or its edge died: what was stored is readable); failed: cut short"
    )
    duration_s: float
    size_bytes: int = Field(description="Bytes stored (μ-law stereo, 16 000 a second)")


class CallSummary(BaseModel):
    """A call as listed."""

    call_id: str
    direction: Literal["inbound", "outbound"]
    transport: str
    status: CallStatus
    to: str
    from_: str = Field(serialization_alias="from")
    profile: str
    profile_revision: int
    provider_call_id: str
    room: str = Field(default="", description="The LiveKit room of a livekit call")
    sip_status: str = Field(default="", description="The SIP status of a LiveKit call that did not connect")
    answered_by: str
    created_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    ended_reason: str
    duration_s: float
    max_duration_s: int
    metadata: dict[str, str]
    attempt: int = Field(description="Which attempt of its chain this call is (1: the first call)")
    first_call_id: str | None = Field(description="The chain's first call (none for a first call)")
    previous_call_id: str | None
    next_call_id: str | None = Field(description="The attempt or call-back scheduled after this call, if any")
    scheduled_at: datetime | None = Field(description="When a scheduled call is (or was) to be placed")
    scheduled_reason: str | None = Field(description="requested, retry or call_back")
    recording: RecordingView | None = Field(
        default=None, description="Set when the call is recorded (its profile has `recording: on`)"
    )

    @classmethod
    def of(cls, record: CallRecord) -> CallSummary:
        """The summary of a record."""
        return cls(
            call_id=record.call_id,
            direction=record.direction,
            transport=record.transport,
            status=record.status,
            to=record.to_number,
            from_=record.from_number,
            profile=record.profile,
            profile_revision=record.profile_revision,
            provider_call_id=record.provider_call_id,
            room=record.room,
            sip_status=record.sip_status,
            answered_by=record.answered_by,
            created_at=iso(record.created_ns),
            answered_at=iso(record.answered_ns),
            ended_at=iso(record.ended_ns),
            ended_reason=record.ended_reason,
            duration_s=round(record.duration_s, 3),
            max_duration_s=record.max_duration_s,
            attempt=record.attempt,
            first_call_id=record.first_call_id or None,
            previous_call_id=record.previous_call_id or None,
            next_call_id=record.next_call_id or None,
            scheduled_at=iso(record.scheduled_ns),
            scheduled_reason=record.scheduled_reason or None,
            metadata=record.metadata,
            recording=RecordingView(
                state=record.recording.state,
                duration_s=record.recording.duration_ms / 1000,
                size_bytes=record.recording.size,
            )
            if record.recording is not None
            else None,
        )


class TimelineEntry(BaseModel):
    """One event of the call, from the stream `CALL_EVENTS`: `type` and `at`, then the event's fields."""

    model_config = ConfigDict(extra="allow")

    type: str
    at: datetime


class CapturedField(BaseModel):
    """One field of the call's flow: every utterance given for it, its normalised value, whether confirmed."""

    id: str
    raw: list[str]
    value: str | None
    confirmed: bool
    attempts: int


class WebhookDeliveryView(BaseModel):
    """How one result webhook event was delivered."""

    event_type: str
    url: str
    state: Literal["pending", "retrying", "delivered", "refused", "exhausted"]
    attempts: int
    last_status: int | None = Field(description="The receiver's last HTTP status (none: no answer)")
    last_error: str
    updated_at: datetime | None
    delivered_at: datetime | None


class CallDetail(CallSummary):
    """A call with what it captured and its timeline (status changes, transcript turns, tool calls…).

    `outcome`: completed, declined, call_back (at `call_back_at`), email_requested, whatsapp_requested,
    incomplete (a flow the call ended before), or why the call never connected (no_answer, busy, failed,
    canceled); empty while live or for a call without a flow.
    """

    captured: dict[str, Any]
    fields: list[CapturedField]
    outcome: str
    call_back_at: datetime | None
    result: str
    webhook_deliveries: dict[str, WebhookDeliveryView] = Field(
        default_factory=dict, description="Result webhook events by event id"
    )
    timeline: list[TimelineEntry]


class WebhookRedelivery(BaseModel):
    """Webhook events queued again."""

    call_id: str
    event_ids: list[str]


class CallPage(BaseModel):
    """A page of calls, newest first; pass `next_cursor` as `cursor` for the next page."""

    calls: list[CallSummary]
    next_cursor: str | None

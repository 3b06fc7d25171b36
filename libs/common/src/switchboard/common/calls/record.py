"""The call record: one msgpack value per call in the KV bucket `calls`."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

import msgspec

from switchboard.common.calls.attempts import RetryPolicy
from switchboard.common.flows.state import FlowState

RECORD_SCHEMA_VERSION = 1

Transport = Literal["twilio", "livekit"]
"""How a call reaches the phone: Twilio Media Streams, or a LiveKit room's SIP participant."""


class CallStatus(StrEnum):
    """Where a call is: scheduled for later, then five live statuses, then the final ones."""

    SCHEDULED = "scheduled"
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"

    @property
    def final(self) -> bool:
        """Whether the call is over."""
        return self in _FINAL


_FINAL = frozenset(
    {CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.FAILED, CallStatus.NO_ANSWER, CallStatus.CANCELED}
)
_UNANSWERED = {
    CallStatus.BUSY: "busy",
    CallStatus.FAILED: "failed",
    CallStatus.NO_ANSWER: "no_answer",
    CallStatus.CANCELED: "canceled",
}
_ORDER = {status: index for index, status in enumerate(CallStatus)}


def may_move(current: CallStatus, new: CallStatus) -> bool:
    """Whether a call may go from `current` to `new`: never back, never out of a final status."""
    if current.final:
        return False
    return new.final or _ORDER[new] > _ORDER[current]


DeliveryState = Literal["pending", "retrying", "delivered", "refused", "exhausted"]
"""Where a webhook event is: waiting for its first try, failed and tried again later, acknowledged with a 2xx,
refused by the receiver for good (a 4xx other than 408/429), or out of tries (in the dead letters)."""


class WebhookDelivery(msgspec.Struct, kw_only=True, omit_defaults=True):
    """How the delivery of one webhook event (by event id) went."""

    event_type: str
    url: str
    state: DeliveryState = "pending"
    attempts: int = 0
    last_status: int = 0
    last_error: str = ""
    updated_ns: int = 0
    delivered_ns: int = 0


class CallRecording(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The call's recording as the edge last reported it (the object store `recordings` holds the audio)."""

    state: Literal["recording", "complete", "failed", "deleted"] = "recording"
    size: int = 0
    """Bytes of stereo μ-law stored (16 000 a second)."""
    duration_ms: int = 0


class CallRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Everything the platform knows about one call; updated with compare-and-set."""

    call_id: str
    direction: Literal["inbound", "outbound"]
    transport: Transport = "twilio"
    to_number: str
    from_number: str
    profile: str
    profile_revision: int = 0
    status: CallStatus = CallStatus.QUEUED
    status_sequence: int = -1
    provider_call_id: str = ""
    stream_id: str = ""
    room: str = ""
    """The LiveKit room of a ``livekit`` call."""
    sip_status: str = ""
    """The SIP status a LiveKit call ended with when it was not answered (``486 Busy Here``)."""
    edge_instance: str = ""
    """The media-edge replica serving the stream: the only one whose attach requests agents accept."""
    agent_epoch: int = 0
    """The epoch of the agent the edge attached last (`AttachRequest.epoch`); 0 before the first."""
    answered_by: str = ""
    created_ns: int = 0
    answered_ns: int = 0
    ended_ns: int = 0
    ended_reason: str = ""
    max_duration_s: int = 0
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    captured: dict[str, Any] = msgspec.field(default_factory=dict)
    agent_state: dict[str, Any] = msgspec.field(default_factory=dict)
    result: str = ""
    flow: FlowState | None = None
    """Where the call's conversation flow is, and every field so far (profiles with a `flow:`)."""
    outcome: str = ""
    """How the flow ended: completed, declined, call_back, email_requested, whatsapp_requested."""
    webhook_url: str = ""
    deliveries: dict[str, WebhookDelivery] = msgspec.field(default_factory=dict)
    machine_detection: bool = False
    attempt: int = 1
    """Which attempt this call is (1 for a first call; each retry or call-back is a record of its own)."""
    first_call_id: str = ""
    """The first call of the chain this attempt belongs to ("" for a first call)."""
    previous_call_id: str = ""
    next_call_id: str = ""
    retry: RetryPolicy | None = None
    timezone: str = ""
    """The callee's time zone (IANA), for calling hours and call-back times."""
    scheduled_ns: int = 0
    """When a scheduled call is to be placed."""
    scheduled_reason: str = ""
    """Why it was scheduled: requested (the API), retry (an unanswered attempt), call_back (the callee asked)."""
    recording: CallRecording | None = None
    """Set when the edge records the call (profiles with `recording: on`)."""
    v: int = RECORD_SCHEMA_VERSION

    def outcome_now(self) -> str:
        """The call's outcome as the operator sees it.

        The flow's (completed, declined, call_back, email_requested, whatsapp_requested) when it set one;
        `voicemail` when an answering machine took the call; a call that never connected says why (no_answer,
        busy, failed, canceled); a call with a flow that ended before
        the flow did is `incomplete`; a live call, or one without a flow that was answered, has none ("").
        """
        if self.outcome:
            return self.outcome
        if self.status.final and (self.answered_by.startswith("machine") or self.answered_by == "fax"):
            return "voicemail"
        if self.status in _UNANSWERED:
            return _UNANSWERED[self.status]
        if self.flow is not None and self.status.final:
            return "incomplete"
        return ""

    @property
    def duration_s(self) -> float:
        """Seconds from answer to end (0 if never answered)."""
        if not self.answered_ns:
            return 0.0
        end = self.ended_ns or self.answered_ns
        return max(0.0, (end - self.answered_ns) / 1e9)

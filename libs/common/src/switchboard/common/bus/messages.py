"""Control messages (core NATS) and durable call events (JetStream): two discriminated unions on `type`.

The `type` tag is also the last token of the subject a message travels on, so `publish_control` and
`publish_event` derive the subject from the message itself.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar, Literal

import msgspec

MESSAGE_SCHEMA_VERSION = 1

Role = Literal["caller", "agent"]


def now_ns() -> int:
    """Wall-clock time in ns since the epoch, as every message carries it."""
    return time.time_ns()


class _Message(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True):
    v: int = MESSAGE_SCHEMA_VERSION
    ts_ns: int = msgspec.field(default_factory=now_ns)

    kind: ClassVar[str]

    @classmethod
    def type_name(cls) -> str:
        """The `type` tag of this message class (also its subject token)."""
        tag = cls.__struct_config__.tag
        assert isinstance(tag, str)
        return tag


# --- control ---------------------------------------------------------------------------------------------


class Clear(_Message, tag="clear"):
    """Drop every queued or arriving agent frame of `generation` and older (barge-in).

    `epoch` is the sending agent's (see `AttachRequest.epoch`): the edge ignores a clear of an agent it replaced.
    """

    generation: int
    epoch: int = 0


class Playout(_Message, tag="playout"):
    """How much of `generation` the caller really heard, in ms; final when `final` is set."""

    generation: int
    played_ms: int
    final: bool = False


class Hangup(_Message, tag="hangup"):
    """End the call."""

    reason: str


class Transfer(_Message, tag="transfer"):
    """Transfer the caller to another number (E.164)."""

    to: str


class SendDtmf(_Message, tag="send_dtmf"):
    """Play DTMF digits to the far end."""

    digits: str


class CallProgress(_Message, tag="progress"):
    """Where the phone leg says the call is, for call-control to apply to the record.

    Sent by the edge for a leg whose progress only the edge sees (LiveKit: the SIP participant's
    `sip.callStatus`). `status` is a call status (``ringing``, ``in-progress``, ``completed``...);
    `provider_status` what the provider said; `sequence` orders the reports of one leg.
    """

    status: str
    provider_status: str = ""
    sequence: int = -1


MEDIA_EDGE_COMPONENT = "media-edge"
TRANSCODER_COMPONENT = "transcoder"
"""How the edge and the transcoder name themselves in heartbeats and events."""


def agent_component(provider: str) -> str:
    """How an agent of `provider` names itself in heartbeats and events: ``agent-openai``, ``agent-gemini``.

    The edge matches heartbeats to the replicas it attached by these names.
    """
    return f"agent-{provider}"


class Heartbeat(_Message, tag="heartbeat"):
    """A component still serves the call (`component` as named above).

    `epoch` fences agents: an agent's heartbeat carries the epoch it was attached with; the edge's carries the
    call's current agent epoch, and an agent that hears a newer one than its own has been replaced and leaves.
    """

    component: str
    instance: str
    epoch: int = 0


Control = Clear | Playout | Hangup | Transfer | SendDtmf | Heartbeat | CallProgress

# --- events ----------------------------------------------------------------------------------------------


class CallCreated(_Message, tag="created"):
    """The call record exists."""

    direction: Literal["inbound", "outbound"]
    to_number: str
    from_number: str
    profile: str


class StatusChanged(_Message, tag="status"):
    """The telephony provider moved the call to `status`."""

    status: str
    provider_status: str = ""
    answered_by: str = ""
    sequence: int = -1


class MediaStarted(_Message, tag="media_started"):
    """The phone's media stream is connected at an edge."""

    instance: str
    stream_id: str = ""
    provider_call_id: str = ""


class MediaStopped(_Message, tag="media_stopped"):
    """The phone's media stream ended."""

    reason: str


class ComponentAttached(_Message, tag="attached"):
    """A component took the call (`component` is e.g. ``transcoder`` or ``agent-openai``)."""

    component: str
    instance: str
    detail: dict[str, Any] = msgspec.field(default_factory=dict)


class TranscriptTurn(_Message, tag="transcript"):
    """One finished turn of speech, as recognised (caller) or as spoken (agent)."""

    role: Role
    text: str
    generation: int = 0
    interrupted: bool = False


class ToolCalled(_Message, tag="tool_call"):
    """The agent called a tool."""

    name: str
    arguments: dict[str, Any] = msgspec.field(default_factory=dict)
    result: Any = None
    error: str = ""


class FieldCaptured(_Message, tag="field_captured"):
    """A field of a conversation flow was captured (and maybe confirmed)."""

    field: str
    raw: str
    value: str
    confirmed: bool
    attempts: int = 0


class BargeIn(_Message, tag="barge_in"):
    """The caller spoke over the agent; `played_ms` of the generation had been heard."""

    generation: int
    played_ms: int = -1


class DtmfReceived(_Message, tag="dtmf"):
    """The caller pressed a key."""

    digit: str


class CallTransferred(_Message, tag="transferred"):
    """The caller was handed over to `to` (E.164): the agent's leg ends, the phone call goes on."""

    to: str
    requested_by: str = ""


class CallEnded(_Message, tag="ended"):
    """The call is over."""

    reason: str
    duration_s: float = 0.0


class ErrorOccurred(_Message, tag="error"):
    """A component failed for this call."""

    component: str
    code: str
    message: str
    retryable: bool = False


Event = (
    CallCreated
    | StatusChanged
    | MediaStarted
    | MediaStopped
    | ComponentAttached
    | TranscriptTurn
    | ToolCalled
    | FieldCaptured
    | BargeIn
    | DtmfReceived
    | CallTransferred
    | CallEnded
    | ErrorOccurred
)

"""Every NATS subject Switchboard uses is built here; no other module writes a subject string.

- audio:   ``call.{call_id}.audio.{in|out}.{fmt}``      core NATS, msgpack `AudioFrame`
- control: ``call.{call_id}.ctl.{name}``                core NATS, msgpack `Control` union
- events:  ``call.{call_id}.evt.{name}``                JetStream stream `CALL_EVENTS`, msgpack `Event` union
- attach:  ``svc.transcoder.attach``, ``svc.agent.{provider}.attach``   request/reply on a queue group
- webhooks: ``webhook.{send|dead}.{call_id}``             JetStream stream `WEBHOOKS`, JSON envelopes
- schedule: ``schedule.call.{call_id}``                   JetStream stream `CALL_SCHEDULE`, empty messages
"""

from __future__ import annotations

import re
from typing import Final

from switchboard.common.bus.formats import AudioFormat, Direction

ANY: Final = "*"
"""Matches one token: pass it as a call id or a name to build a subscription."""

CALL_EVENTS_STREAM: Final = "CALL_EVENTS"
CALLS_BUCKET: Final = "calls"
PROFILES_BUCKET: Final = "profiles"
IDEMPOTENCY_BUCKET: Final = "call_control_idempotency"
"""call-control's own: Idempotency-Keys of POST /v1/calls, shared by its replicas (named here for the NATS grants)."""
WEBHOOKS_STREAM: Final = "WEBHOOKS"
"""call-control's own: result webhooks waiting to be delivered, and the dead letters of those that never were."""
CALL_SCHEDULE_STREAM: Final = "CALL_SCHEDULE"
"""call-control's own: calls to place later (scheduled by the API, retries, call-backs); the record says when."""
WEBHOOK_DELIVERY_CONSUMER: Final = "webhook-delivery"
CALL_SCHEDULER_CONSUMER: Final = "call-scheduler"
CALL_ENDED_CONSUMER: Final = "call-control-call-ended"
"""Durable consumers of call-control, shared by its replicas (each message goes to one of them)."""

_TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,128}")


def valid_token(token: str) -> bool:
    """Whether `token` can stand as one subject token (no dots, wildcards or spaces)."""
    return bool(_TOKEN.fullmatch(token))


def _token(value: str, what: str) -> str:
    if value == ANY or _TOKEN.fullmatch(value):
        return value
    raise ValueError(f"invalid {what} for a subject token: {value!r}")


def audio(call_id: str, direction: Direction, fmt: AudioFormat) -> str:
    """Audio frames of one call, one direction, one format."""
    return f"call.{_token(call_id, 'call id')}.audio.{direction.value}.{fmt.value}"


def control(call_id: str, name: str) -> str:
    """A control message of one call (`name` is the message's `type`, or `ANY`)."""
    return f"call.{_token(call_id, 'call id')}.ctl.{_token(name, 'control name')}"


def event(call_id: str, name: str) -> str:
    """A durable event of one call (`name` is the event's `type`, or `ANY`)."""
    return f"call.{_token(call_id, 'call id')}.evt.{_token(name, 'event name')}"


def call_events(call_id: str) -> str:
    """Every event of one call (or of every call with `ANY`): the stream's filter."""
    return f"call.{_token(call_id, 'call id')}.evt.>"


def webhook_outbox(call_id: str) -> str:
    """Webhook events of one call waiting for delivery (or of every call with `ANY`)."""
    return f"webhook.send.{_token(call_id, 'call id')}"


def webhook_dead_letter(call_id: str) -> str:
    """Webhook events of one call that were never delivered (or of every call with `ANY`)."""
    return f"webhook.dead.{_token(call_id, 'call id')}"


def call_schedule(call_id: str) -> str:
    """A scheduled call waiting to be placed (or every one with `ANY`)."""
    return f"schedule.call.{_token(call_id, 'call id')}"


def webhook_subjects() -> str:
    """Every subject of the stream `WEBHOOKS`."""
    return "webhook.>"


def transcoder_attach() -> str:
    """Attach requests for transcoders."""
    return "svc.transcoder.attach"


def agent_attach(provider: str) -> str:
    """Attach requests for the agents of one model provider."""
    return f"svc.agent.{_token(provider, 'provider')}.attach"


def edge_attach(transport: str) -> str:
    """Requests for a media edge to serve a call whose phone leg it must join itself (``livekit``: the room)."""
    return f"svc.edge.{_token(transport, 'transport')}.attach"


def call_id_of(subject: str) -> str:
    """The call id of a ``call.{id}.…`` subject."""
    parts = subject.split(".", 2)
    if len(parts) < 3 or parts[0] != "call":
        raise ValueError(f"not a call subject: {subject!r}")
    return parts[1]


def last_token(subject: str) -> str:
    """The last token of a subject (the name of a control or event message)."""
    return subject.rsplit(".", 1)[-1]

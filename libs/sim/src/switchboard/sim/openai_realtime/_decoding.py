"""Turning a client's text frame into a typed event, or into the error the real API answers with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from switchboard.sim.openai_realtime.events import CLIENT_EVENT_TYPES, AnyClientEvent, ErrorBody
from switchboard.sim.openai_realtime.parameters import (
    RESPONSE_PARAMETERS,
    SESSION_PARAMETERS,
    unknown_parameter,
)


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """What a frame held: the JSON object (when it was one), and the event or the error to answer with."""

    json: dict[str, Any] | None
    event: AnyClientEvent | None = None
    error: ErrorBody | None = None


def decode_client_event(raw: str) -> DecodedFrame:
    """Malformed JSON, unknown types, unknown parameters and invalid fields become `invalid_request_error`s."""
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError as e:
        return DecodedFrame(None, error=_error(f"Invalid JSON: {e}", "invalid_json"))
    if not isinstance(decoded, dict):
        return DecodedFrame(None, error=_error("Expected a JSON object.", "invalid_json"))
    event_type = decoded.get("type")
    event_id = decoded.get("event_id") if isinstance(decoded.get("event_id"), str) else None
    if event_type not in CLIENT_EVENT_TYPES:
        supported = ", ".join(f"'{name}'" for name in CLIENT_EVENT_TYPES)
        message = f"Invalid value: '{event_type}'. Supported values are: {supported}."
        return DecodedFrame(decoded, error=_error(message, "invalid_value", param="type", event_id=event_id))
    unknown = _unknown_parameter(decoded)
    if unknown is not None:
        message = f"Unknown parameter: '{unknown}'."
        return DecodedFrame(
            decoded, error=_error(message, "unknown_parameter", param=unknown, event_id=event_id)
        )
    try:
        event = msgspec.convert(decoded, type=AnyClientEvent)
    except msgspec.ValidationError as e:
        message = f"Invalid '{event_type}' event: {e}"
        return DecodedFrame(decoded, error=_error(message, "invalid_value", event_id=event_id))
    return DecodedFrame(decoded, event=event)


def _unknown_parameter(decoded: dict[str, Any]) -> str | None:
    """The first field of a `session.update` or `response.create` that the GA API does not know."""
    for event_type, key, tree in (
        ("session.update", "session", SESSION_PARAMETERS),
        ("response.create", "response", RESPONSE_PARAMETERS),
    ):
        if decoded.get("type") == event_type and isinstance(decoded.get(key), dict):
            return unknown_parameter(decoded[key], tree, key)
    return None


def _error(message: str, code: str, *, param: str | None = None, event_id: str | None = None) -> ErrorBody:
    return ErrorBody(type="invalid_request_error", code=code, message=message, param=param, event_id=event_id)

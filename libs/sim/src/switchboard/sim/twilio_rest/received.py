"""What the emulator checks and keeps of each REST request: credentials, parameters, injected faults."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import web

from switchboard.sim.twilio_rest.resources import ApiError

ADDRESS = re.compile(r"^(\+[1-9]\d{6,14}|client:.+|sip:.+)$")
STATUS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})


@dataclass(slots=True)
class ReceivedRequest:
    """A request the emulator received: its parameters (repeated ones kept), credentials and answer."""

    method: str
    path: str
    params: list[tuple[str, str]]
    authenticated: bool
    status: int = 0

    def get(self, name: str, default: str = "") -> str:
        """The first value of parameter `name`."""
        return next((value for key, value in self.params if key == name), default)

    def getall(self, name: str) -> list[str]:
        """Every value of parameter `name`, in order."""
        return [value for key, value in self.params if key == name]


RECEIVED = web.RequestKey("received", ReceivedRequest)


@dataclass(slots=True)
class Faults:
    """Errors to answer instead of doing the work, per operation (`create`, `fetch`, `update`, `list`)."""

    queued: dict[str, deque[ApiError]] = field(default_factory=dict)

    def take(self, operation: str) -> ApiError | None:
        """The next error queued for `operation`, if any."""
        pending = self.queued.get(operation)
        return pending.popleft() if pending else None


def invalid_create(params: Mapping[str, str]) -> ApiError | None:
    """What Twilio answers to a create request it refuses outright, if anything."""
    to, from_ = params.get("To", ""), params.get("From", "")
    if not to:
        return ApiError(400, 21201, "No 'To' number is specified")
    if not from_:
        return ApiError(400, 21213, "A 'From' phone number is required.")
    if not ADDRESS.match(to):
        return ApiError(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if not (params.get("Twiml") or params.get("Url") or params.get("ApplicationSid")):
        return ApiError(400, 21200, "Either a 'Url', 'Twiml' or 'ApplicationSid' parameter is required")
    if params.get("Url") and not params["Url"].startswith(("http://", "https://")):
        return ApiError(400, 21205, f"Url is not a valid URL: {params['Url']}")
    if len(params.get("Twiml", "")) > 4000:
        return ApiError(400, 21200, "Twiml must be at most 4000 characters")
    for name in ("Timeout", "TimeLimit"):
        if name in params and not params[name].isdigit():
            return ApiError(400, 21200, f"{name} must be a whole number of seconds")
    return None

"""The signature of result webhooks: HMAC-SHA256 over the timestamp and the body, as the receiver checks it.

Header: ``Switchboard-Signature: t=<unix seconds>,v1=<hex>``, where the hex is
``HMAC-SHA256(secret, f"{t}.{body}")``. Signing the timestamp lets a receiver refuse a replayed request that is
older than its tolerance; the event id (``Switchboard-Event-Id``) lets it refuse a second delivery of an event.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

SIGNATURE_HEADER = "Switchboard-Signature"
EVENT_ID_HEADER = "Switchboard-Event-Id"
EVENT_TYPE_HEADER = "Switchboard-Event-Type"
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The header value signing `body` at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance_s` of `now` (any of several `v1`s)."""
    parts = [part.partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in parts if key.strip() == "t"]
    candidates = [value.strip() for key, _, value in parts if key.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isascii() or not stamps[0].strip().isdigit():
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, body, timestamp).partition(",v1=")[2]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


@dataclass(frozen=True, slots=True)
class WebhookSecrets:
    """The signing secret of each profile's webhooks, and the one for every other profile (if any)."""

    default: str | None = None
    per_profile: Mapping[str, str] = field(default_factory=dict)

    def for_profile(self, profile: str) -> str | None:
        """The secret that signs `profile`'s webhooks, or None when there is none."""
        return self.per_profile.get(profile, self.default)

    def __repr__(self) -> str:
        return (
            f"WebhookSecrets(default={'***' if self.default else None}, profiles={sorted(self.per_profile)})"
        )

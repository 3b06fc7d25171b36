"""Console sessions: a signed cookie instead of an API key in every request, and the same-origin check.

Signing in with an API key sets ``sb_console = {client id}.{expiry}.{HMAC}``, secure, http-only and
SameSite=Strict. The HMAC's key is derived from the client's own API key, so every replica verifies it without a
shared session store, and removing a key from the settings ends its sessions. The key itself never leaves the
sign-in request (never in a URL, never in the cookie).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit

from starlette.requests import Request

from switchboard.call_control.access import ApiClient, ApiKeys

COOKIE = "sb_console"
SESSION_S = 12 * 3600


def _mac(key: bytes, payload: str) -> str:
    derived = hashlib.sha256(b"switchboard-console-session:" + key).digest()
    return hmac.new(derived, payload.encode(), hashlib.sha256).hexdigest()


class ConsoleSessions:
    """Issues and checks console session cookies."""

    def __init__(self, keys: ApiKeys, *, lifetime_s: float = SESSION_S) -> None:
        self._keys = keys
        self._lifetime = lifetime_s

    def issue(self, client: ApiClient, now: float | None = None) -> str:
        """A cookie value for `client`, valid for the session lifetime."""
        key = self._keys.key_of(client.id)
        if key is None:
            raise ValueError("no such client")
        payload = f"{client.id}.{int((now or time.time()) + self._lifetime)}"
        return f"{payload}.{_mac(key, payload)}"

    def check(self, value: str | None, now: float | None = None) -> ApiClient | None:
        """The client of a valid, unexpired cookie value, else None."""
        if not value or value.count(".") != 2:
            return None
        client_id, expiry, mac = value.split(".")
        key = self._keys.key_of(client_id)
        if key is None or not expiry.isdigit() or int(expiry) < (now or time.time()):
            return None
        if not hmac.compare_digest(mac, _mac(key, f"{client_id}.{expiry}")):
            return None
        return ApiClient(client_id)

    def client(self, request: Request) -> ApiClient | None:
        """The signed-in client of `request`, or None."""
        return self.check(request.cookies.get(COOKIE))


def same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from a page of this origin (CSRF defence with SameSite=Strict).

    The browser's `Origin` (else `Referer`) must name the host the request was sent to.
    """
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return False
    return urlsplit(source).netloc == request.headers.get("host", "")

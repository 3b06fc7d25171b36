"""Who may use /v1, and how fast: API keys checked before anything reads the body, a token bucket per key.

Both are ASGI middleware, so a request without a valid key is answered 401 before FastAPI parses or validates
its body (a missing key is never a 422), and a client over its rate gets 429 with Retry-After.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.problems import error_response

API_PREFIX = "/v1/"
CLIENT_STATE = "client"


@dataclass(frozen=True, slots=True)
class ApiClient:
    """An authenticated caller of the API: an id derived from its key (safe to log), never the key."""

    id: str


class ApiKeys:
    """The configured keys; a presented key is compared with every one of them in constant time."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = [
            (key.encode(), ApiClient(hashlib.sha256(key.encode()).hexdigest()[:12])) for key in keys
        ]

    def key_of(self, client_id: str) -> bytes | None:
        """The key of the client `client_id` (to sign its console sessions with), or None."""
        for key, client in self._keys:
            if hmac.compare_digest(client.id, client_id):
                return key
        return None

    def identify(self, presented: str | None) -> ApiClient | None:
        """The client whose key was presented, or None."""
        if not presented:
            return None
        candidate = presented.encode()
        found: ApiClient | None = None
        for key, client in self._keys:
            if hmac.compare_digest(key, candidate):
                found = client
        return found


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key in ``Authorization: Bearer …`` or ``X-API-Key``."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value:
            return value.decode("latin-1").strip()
    return None


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class RateLimiter:
    """A token bucket per client: `burst` requests at once, refilled at `per_s` a second.

    Buckets live in this replica: with N replicas behind a load balancer a client gets up to N times the rate.
    """

    def __init__(self, per_s: float, burst: int, *, max_clients: int = 10_000) -> None:
        self.per_s = per_s
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}
        self._max_clients = max_clients

    def take(self, client: str, now: float | None = None) -> float:
        """Take one token; returns 0 when allowed, else the seconds until a token is available."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self._max_clients:
                self._buckets.clear()
            bucket = self._buckets[client] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.per_s)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.per_s


class AccessGuard:
    """ASGI middleware for /v1/*: 401 without a valid key, 429 over the rate.

    Failed authentications are limited too, per client address (the socket's peer, as the server reports it):
    past `failures`' burst, a wrong or missing key gets 429 with Retry-After instead of 401, so keys cannot be
    guessed at speed. A request that passes carries its client in ``request.state.client``.
    """

    def __init__(
        self,
        app: ASGIApp,
        keys: ApiKeys,
        limiter: RateLimiter,
        failures: RateLimiter,
        metrics: CallControlMetrics,
    ) -> None:
        self.app = app
        self._keys = keys
        self._limiter = limiter
        self._failures = failures
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Guard one request."""
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        client = self._keys.identify(presented_key(scope["headers"]))
        if client is None:
            peer = scope.get("client")
            wait_s = self._failures.take(str(peer[0]) if peer else "unknown")
            if wait_s > 0:
                self._metrics.auth_failures_limited.inc()
                response = error_response(
                    429,
                    "too_many_failed_authentications",
                    "too many requests with a wrong or missing API key from this address",
                    {"Retry-After": str(max(1, math.ceil(wait_s)))},
                )
                await response(scope, receive, send)
                return
            response = error_response(
                401,
                "unauthorized",
                "a valid API key is required (Authorization: Bearer <key>, or X-API-Key)",
                {"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        wait_s = self._limiter.take(client.id)
        if wait_s > 0:
            self._metrics.rate_limited.inc()
            response = error_response(
                429,
                "rate_limited",
                f"too many requests: at most {self._limiter.per_s:g}/s (bursts of {self._limiter.burst})",
                {"Retry-After": str(max(1, math.ceil(wait_s)))},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[CLIENT_STATE] = client
        await self.app(scope, receive, send)


class RequestMetrics:
    """ASGI middleware counting requests by route template (never by path: paths hold call ids)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], metrics: CallControlMetrics) -> None:
        self.app = app
        self._routes = routes
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = self._template(scope)
            self._metrics.api_requests.labels(route, scope["method"], str(status)).inc()
            self._metrics.api_seconds.labels(route).observe(time.perf_counter() - started)

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None and hasattr(route, "path"):
            return str(route.path)
        partial = None
        for candidate in self._routes:
            if not hasattr(candidate, "path"):
                continue
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                return str(candidate.path)
            if match == Match.PARTIAL and partial is None:
                partial = str(candidate.path)  # the path exists, not with this method
        return partial or "unmatched"

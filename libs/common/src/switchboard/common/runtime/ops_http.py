"""The ops endpoints every service serves: /metrics, /healthz, /readyz (a tiny asyncio HTTP server).

A service may add actions (`POST /drain` on the edge): they are served here, on the ops port that is never
exposed to the outside, and only to a peer on this host unless told otherwise. The peer is the socket's, never
a header's: this server knows nothing of `X-Forwarded-For`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

logger = logging.getLogger(__name__)


class Health:
    """Liveness is the process answering; readiness is: started, every named check passing, no drain under way.

    The ops port opens before the service has built what it serves, so readiness starts false ("starting") until
    the service calls `mark_started()`.
    """

    def __init__(self) -> None:
        self._checks: dict[str, Callable[[], bool]] = {}
        self._started = False
        self.draining = False

    def mark_started(self) -> None:
        """The service serves now: readiness depends on the checks alone."""
        self._started = True

    def add_check(self, name: str, check: Callable[[], bool]) -> None:
        """Readiness also requires `check()` to be true."""
        self._checks[name] = check

    def failing(self) -> list[str]:
        """The names of the checks that fail now ("starting" and "draining" included)."""
        failed = [name for name, check in self._checks.items() if not check()]
        if not self._started:
            failed.insert(0, "starting")
        return ["draining", *failed] if self.draining else failed

    def ready(self) -> bool:
        """Whether the service should receive new work."""
        return not self.failing()


MAX_HEADER_LINES = 64
MAX_LINE_BYTES = 8192

ActionHandler = Callable[[], Awaitable[tuple[int, bytes]]]
"""What an action does: its HTTP status and JSON body."""


@dataclass(frozen=True, slots=True)
class _Action:
    handler: ActionHandler
    loopback_only: bool


class OpsServer:
    """Serves the ops endpoints on its own port, so probes and scrapes never queue behind call traffic."""

    def __init__(self, registry: CollectorRegistry, health: Health, host: str, port: int) -> None:
        self._registry = registry
        self._health = health
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._actions: dict[str, _Action] = {}

    def add_action(self, path: str, handler: ActionHandler, *, loopback_only: bool = True) -> None:
        """Serve `POST path` with `handler` (requests with a body are refused with 413, unread)."""
        self._actions[path] = _Action(handler, loopback_only)

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Start listening."""
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readuntil(b"\n"), timeout=5)
            headers = await self._headers(reader)
            parts = request_line.decode("latin-1").split()
            method = parts[0] if parts else ""
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else ""
            if headers is None:
                status, content_type, body = (
                    "431 Request Header Fields Too Large",
                    "text/plain",
                    b"too large\n",
                )
            elif path in self._actions and method == "POST":
                status, content_type, body = await self._act(self._actions[path], headers, writer)
            else:
                status, content_type, body = self._route(method, path)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _headers(reader: asyncio.StreamReader) -> dict[str, str] | None:
        """The request's headers (lower-case names); None when there are too many or one is too long."""
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = await asyncio.wait_for(reader.readuntil(b"\n"), timeout=5)
            if line in (b"\r\n", b"\n"):
                return headers
            if len(line) > MAX_LINE_BYTES:
                return None
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return None

    @staticmethod
    async def _act(
        action: _Action, headers: dict[str, str], writer: asyncio.StreamWriter
    ) -> tuple[str, str, bytes]:
        peer = writer.get_extra_info("peername")
        if action.loopback_only and not _is_loopback(peer[0] if peer else ""):
            return "403 Forbidden", "application/json", b'{"detail": "only accepted from this host"}\n'
        if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
            return "413 Content Too Large", "application/json", b'{"detail": "no request body is accepted"}\n'
        status, body = await action.handler()
        return f"{status} {_REASONS.get(status, 'OK')}", "application/json", body

    def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        if path in self._actions:
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self._registry)
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n"
        if path == "/readyz":
            failing = self._health.failing()
            if failing:
                return (
                    "503 Service Unavailable",
                    "text/plain",
                    ("not ready: " + ", ".join(failing) + "\n").encode(),
                )
            return "200 OK", "text/plain", b"ready\n"
        return "404 Not Found", "text/plain", b"not found\n"


_REASONS = {200: "OK", 409: "Conflict", 503: "Service Unavailable"}


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

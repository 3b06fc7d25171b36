"""The ops endpoints every service serves: /metrics, /healthz, /readyz (a tiny asyncio HTTP server)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

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


class OpsServer:
    """Serves the ops endpoints on its own port, so probes and scrapes never queue behind call traffic."""

    def __init__(self, registry: CollectorRegistry, health: Health, host: str, port: int) -> None:
        self._registry = registry
        self._health = health
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

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
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else ""
            status, content_type, body = self._route(parts[0] if parts else "", path)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
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

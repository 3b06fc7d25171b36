"""The Gemini Live emulator: a TLS WebSocket server speaking BidiGenerateContent, with knobs for tests."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import ssl
import time
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from switchboard.sim.gemini_live._connection import INTERNAL_ERROR, Connection
from switchboard.sim.gemini_live._wire import Json
from switchboard.sim.gemini_live.config import GeminiLiveConfig
from switchboard.sim.gemini_live.recording import ConnectionRecord
from switchboard.sim.gemini_live.script import GeminiScript
from switchboard.sim.gemini_live.session import LiveSession
from switchboard.sim.gemini_live.tls import LocalAuthority

PATH = re.compile(
    r"^/ws/google\.ai\.generativelanguage\.(v1alpha|v1beta)\.GenerativeService\.BidiGenerateContent$"
)
INTERNAL_ERROR_REASON = "Internal error encountered."


class GeminiLiveEmulator:
    """An emulated `generativelanguage.googleapis.com` Live endpoint on 127.0.0.1, over TLS.

    Use it as an async context manager; point the SDK at `base_url` and trust `client_ssl_context()` (or the
    PEM from `write_ca_pem`). Sessions, every message in both directions and every connection attempt are
    recorded; the fault methods make the next connections or turns fail the way the real service does.
    """

    def __init__(
        self,
        script: GeminiScript | None = None,
        config: GeminiLiveConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        authority: LocalAuthority | None = None,
    ) -> None:
        self.script = script or GeminiScript.english_receptionist()
        self.config = config or GeminiLiveConfig()
        self.authority = authority or LocalAuthority()
        self.sessions: list[LiveSession] = []
        self.connection_log: list[ConnectionRecord] = []
        self._host = host
        self._port = port
        self._server: Server | None = None
        self._handles: dict[str, LiveSession] = {}
        self._connections: set[Connection] = set()
        self._handshakes: dict[ServerConnection, ConnectionRecord] = {}
        self._refusals: list[int] = []
        self._turn_failures: list[tuple[int, str]] = []
        self._changed = asyncio.Event()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen (port 0 picks a free port)."""
        self._server = await serve(
            self._serve_connection,
            self._host,
            self._port,
            ssl=self.authority.server_context(),
            process_request=self._check_request,
        )

    async def stop(self) -> None:
        """Close every connection (1001) and stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # Where it listens and how to trust it.

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def base_url(self) -> str:
        """`https://127.0.0.1:PORT`, for `HttpOptions(base_url=…)` (the SDK turns it into `wss://`)."""
        return f"https://{self._host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The full `wss://` URL of the v1beta endpoint, for clients other than the SDK."""
        return f"wss://{self._host}:{self.port}/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"

    @property
    def api_key(self) -> str:
        """The key clients must send in `x-goog-api-key`."""
        return self.config.api_key

    @property
    def ca_pem(self) -> bytes:
        """The PEM of the CA that signed the server certificate."""
        return self.authority.ca_pem

    def write_ca_pem(self, path: str | os.PathLike[str]) -> Path:
        """Write the CA PEM to `path`, for another process to trust."""
        return self.authority.write_ca_pem(path)

    def client_ssl_context(self) -> ssl.SSLContext:
        """An SSL context trusting the emulator, for `HttpOptions(async_client_args={"ssl": …})`."""
        return self.authority.client_context()

    # Recorded state.

    @property
    def latest_session(self) -> LiveSession:
        """The session opened last."""
        if not self.sessions:
            raise LookupError("no session yet")
        return self.sessions[-1]

    async def wait_for_session(self, index: int = 0) -> LiveSession:
        """The `index`-th session opened, once it exists (bound the wait with `asyncio.timeout`)."""
        while len(self.sessions) <= index:
            await self._changed.wait()
        return self.sessions[index]

    # Faults and events on demand.

    async def go_away(
        self,
        time_left_s: float = 1.0,
        *,
        close_after_s: float | None = None,
        session: LiveSession | None = None,
    ) -> None:
        """Send `goAway` on open connections (of `session`, or all), and close them when the time is up."""
        for connection in self._open_connections(session):
            await connection.go_away(time_left_s, close_after_s)

    async def close_connections(
        self,
        code: int = INTERNAL_ERROR,
        reason: str = INTERNAL_ERROR_REASON,
        *,
        session: LiveSession | None = None,
    ) -> None:
        """Close open connections (of `session`, or all) with an error code, as a failing service would."""
        for connection in self._open_connections(session):
            await connection.close(code, reason)

    def drop_connections(self, *, session: LiveSession | None = None) -> None:
        """Cut open connections (of `session`, or all) without a close frame."""
        for connection in self._open_connections(session):
            connection.abort()

    def reject_connections(self, count: int = 1, *, status: int = 503) -> None:
        """Refuse the next `count` WebSocket handshakes with HTTP `status`."""
        self._refusals.extend([status] * count)

    def fail_next_turn(self, code: int = INTERNAL_ERROR, reason: str = INTERNAL_ERROR_REASON) -> None:
        """Instead of answering the next turn (of any session), close its connection with `code`."""
        self._turn_failures.append((code, reason))

    # The connection's view of the emulator (see `_connection.Host`).

    def open_session(self, setup: Json) -> LiveSession:
        """Start a new session for `setup`."""
        session = LiveSession(id=f"session-{secrets.token_hex(6)}", setup=setup)
        self.sessions.append(session)
        self._notify()
        return session

    def find_session(self, handle: str) -> LiveSession | None:
        """The session a resumption handle belongs to."""
        return self._handles.get(handle)

    def issue_handle(self, session: LiveSession) -> str:
        """A new resumption handle for `session` (earlier ones stay valid)."""
        handle = secrets.token_urlsafe(24)
        self._handles[handle] = session
        session.handles.append(handle)
        return handle

    def take_turn_failure(self) -> tuple[int, str] | None:
        """The next injected turn failure, if any."""
        return self._turn_failures.pop(0) if self._turn_failures else None

    def connections_of(self, session: LiveSession) -> list[Connection]:
        """Connections currently attached to `session`."""
        return [connection for connection in self._connections if connection.session is session]

    # Plumbing.

    def _open_connections(self, session: LiveSession | None) -> list[Connection]:
        return [c for c in self._connections if c.is_open and (session is None or c.session is session)]

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        record = ConnectionRecord(path=path, at=time.monotonic(), headers=dict(request.headers.raw_items()))
        self.connection_log.append(record)
        if not PATH.match(path):
            record.outcome, record.status = "refused", 404
            return connection.respond(404, "Not Found\n")
        if self._refusals:
            record.outcome = "refused"
            record.status = self._refusals.pop(0)
            return connection.respond(record.status, "The service is currently unavailable.\n")
        self._handshakes[connection] = record
        return None

    async def _serve_connection(self, ws: ServerConnection) -> None:
        record = self._handshakes.pop(ws)
        connection = Connection(ws, self, record)
        self._connections.add(connection)
        try:
            await connection.serve()
        finally:
            self._connections.discard(connection)
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

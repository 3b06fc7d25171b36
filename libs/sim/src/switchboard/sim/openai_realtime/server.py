"""The emulator's server: `ws://127.0.0.1:PORT/v1/realtime?model=…`, with knobs to make it misbehave."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from types import TracebackType
from typing import Literal, Self

import msgspec
from aiohttp import web

from switchboard.sim.openai_realtime._connection import Connection
from switchboard.sim.openai_realtime.behaviour import Behaviour
from switchboard.sim.openai_realtime.events import Error, ErrorBody, new_id
from switchboard.sim.openai_realtime.recording import EmulatedSession
from switchboard.sim.openai_realtime.script import Script, english_receptionist
from switchboard.sim.openai_realtime.session_config import default_session

logger = logging.getLogger(__name__)

AuthFailure = Literal["error_event", "http_401"]
"""How a wrong key is refused.

`error_event` is what api.openai.com does: it accepts the WebSocket, sends `error` with code `invalid_api_key`
and closes with code 3000; the LiveKit plugin treats that code as fatal and stops at once. `http_401` refuses the
upgrade instead; the plugin sees a connection error and retries (`conn_options.max_retry`) before giving up.
"""

INVALID_KEY_CLOSE_CODE = 3000


class OpenAIRealtimeEmulator:
    """A local stand-in for the OpenAI Realtime API (GA protocol) over WebSocket.

    Start it with `async with OpenAIRealtimeEmulator() as emulator:` and point a client at
    `emulator.base_url` (`http://127.0.0.1:PORT/v1`, the form `RealtimeModel(base_url=…)` takes) or
    `emulator.ws_url`. Every connection is kept in `sessions`, in order. A new session takes the emulator's
    `script` and `behaviour` (the same `Behaviour` object, so changing a knob on the emulator reaches live
    sessions too; replacing `emulator.script` reaches new sessions, `session.script` one session).
    """

    def __init__(
        self,
        *,
        script: Script | None = None,
        behaviour: Behaviour | None = None,
        api_key: str | None = "test",
        auth_failure: AuthFailure = "error_event",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """`api_key=None` accepts any non-empty bearer key; `port=0` picks a free port."""
        self.script = script or english_receptionist()
        self.behaviour = behaviour or Behaviour()
        self.api_key = api_key
        self.auth_failure: AuthFailure = auth_failure
        self.sessions: list[EmulatedSession] = []
        self.rejected_connections = 0
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._failures: deque[int] = deque()
        self._session_added = asyncio.Event()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._port is None:
            raise RuntimeError("the emulator is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """HTTP base URL, as OpenAI clients take it (`…/v1`)."""
        return f"http://{self._host}:{self.port}/v1"

    @property
    def ws_url(self) -> str:
        """The realtime WebSocket endpoint, without the `model` query."""
        return f"ws://{self._host}:{self.port}/v1/realtime"

    @property
    def live_sessions(self) -> list[EmulatedSession]:
        """Sessions whose socket is still open."""
        return [session for session in self.sessions if not session.closed]

    async def start(self) -> None:
        """Bind and serve."""
        app = web.Application()
        app.router.add_get("/v1/realtime", self._handle)
        app.router.add_get("/realtime", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._requested_port))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        logger.info("OpenAI Realtime emulator listening on %s", self.ws_url)

    async def stop(self) -> None:
        """Close every session (code 1001, going away) and stop serving."""
        await self.close_sessions(1001, "server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def wait_for_session(self, index: int = 0) -> EmulatedSession:
        """The `index`-th session (0-based, in connection order), once a client opened it."""
        while len(self.sessions) <= index:
            self._session_added.clear()
            await self._session_added.wait()
        return self.sessions[index]

    async def close_sessions(
        self, code: int = 1011, reason: str = "", *, session: EmulatedSession | None = None
    ) -> None:
        """Close every live session (or just `session`) from the server side with `code`."""
        targets = [session] if session is not None else self.live_sessions
        await asyncio.gather(*(target.close(code, reason) for target in targets))

    def fail_next_connections(self, count: int = 1, *, status: int = 503) -> None:
        """Refuse the next `count` WebSocket upgrades with HTTP `status`."""
        self._failures.extend([status] * count)

    async def inject_error(
        self,
        message: str,
        *,
        code: str | None = "server_error",
        error_type: str = "server_error",
        session: EmulatedSession | None = None,
    ) -> None:
        """Send an `error` event to every live session (or just `session`)."""
        targets = [session] if session is not None else self.live_sessions
        for target in targets:
            await target.inject_error(message, code=code, error_type=error_type)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self._failures:
            status = self._failures.popleft()
            return web.json_response(
                {"error": {"message": "The server is temporarily unavailable.", "type": "server_error"}},
                status=status,
            )
        authorized = self._authorized(request.headers.get("Authorization", ""))
        if not authorized and self.auth_failure == "http_401":
            self.rejected_connections += 1
            return web.json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                        "param": None,
                    }
                },
                status=401,
            )
        ws = web.WebSocketResponse(timeout=2.0)  # how long a server close waits for the client's reply
        await ws.prepare(request)
        if not authorized:
            self.rejected_connections += 1
            await self._refuse_key(ws)
            return ws
        session_id = new_id("sess")
        model = request.query.get("model", "gpt-realtime")
        session = EmulatedSession(
            id=session_id,
            model=model,
            config=default_session(
                session_id=session_id, model=model, max_session_s=self.behaviour.max_session_s
            ),
            script=self.script,
            behaviour=self.behaviour,
        )
        self.sessions.append(session)
        self._session_added.set()
        connection = Connection(ws, session)
        try:
            await connection.serve()
        finally:
            session.mark_closed(None)
        return ws

    def _authorized(self, header: str) -> bool:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return False
        return self.api_key is None or key.strip() == self.api_key

    async def _refuse_key(self, ws: web.WebSocketResponse) -> None:
        error = Error(
            error=ErrorBody(
                type="invalid_request_error",
                code="invalid_api_key",
                message="Incorrect API key provided. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
            )
        )
        await ws.send_str(msgspec.json.encode(error).decode())
        await ws.close(code=INVALID_KEY_CLOSE_CODE, message=b"invalid_request_error.invalid_api_key")

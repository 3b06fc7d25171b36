"""Serving the edge: uvicorn on the edge's port, drained before it stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import uvicorn

from switchboard.common.bus.heartbeat import publish_heartbeats
from switchboard.common.bus.messages import MEDIA_EDGE_COMPONENT
from switchboard.media_edge.app import create_app
from switchboard.media_edge.edge import DrainResult, MediaEdge

logger = logging.getLogger(__name__)


GRACEFUL_SHUTDOWN_S = 10


class _DeniedHandshakeFilter(logging.Filter):
    """Drops uvicorn's ERROR after a WebSocket upgrade the app refused with an HTTP answer.

    uvicorn (websockets-sansio) logs "ASGI callable returned without completing handshake." even when the app
    sent a denial response, which is how the edge refuses an unsigned upgrade: anyone could fill the error
    log. The edge counts and logs its refusals itself (`MediaEdge.refuse_upgrade`).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every other record."""
        return record.getMessage() != "ASGI callable returned without completing handshake."


class _Server(uvicorn.Server):
    """uvicorn without signal handlers of its own: the service's stop event drains the edge first.

    uvicorn's own SIGTERM handling would close every stream at once with 1012.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EdgeServer:
    """uvicorn serving the edge's app; `stop()` drains the streams before the server goes."""

    def __init__(self, edge: MediaEdge, *, host: str, port: int) -> None:
        settings = edge.settings
        self.edge = edge
        self._config = uvicorn.Config(
            create_app(edge),
            host=host,
            port=port,
            http="httptools",
            ws=settings.ws_implementation,
            ws_per_message_deflate=False,
            ws_max_size=max(16 * 1024 * 1024, 2 * settings.max_message_bytes),
            ws_ping_interval=settings.ws_ping_interval_s,
            ws_ping_timeout=settings.ws_ping_interval_s,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        self._server = _Server(self._config)
        self._log_filter = _DeniedHandshakeFilter()
        self._task: asyncio.Task[None] | None = None
        self._heartbeats: asyncio.Task[None] | None = None
        self.port = 0

    @property
    def running(self) -> bool:
        """Whether the server accepts connections."""
        return self._server.started and not self._server.should_exit

    async def start(self) -> None:
        """Bind the port and serve (returns once listening)."""
        logging.getLogger("uvicorn.error").addFilter(self._log_filter)
        sock = self._config.bind_socket()
        self.port = int(sock.getsockname()[1])
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="uvicorn")
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError("the media edge server stopped while starting")
            await asyncio.sleep(0.01)
        self._heartbeats = asyncio.create_task(
            publish_heartbeats(
                self.edge.bus,
                MEDIA_EDGE_COMPONENT,
                self.edge.settings.instance_id,
                self.edge.call_ids,
                self.edge.settings.heartbeat_interval_s,
                self.edge.agent_epoch,
            ),
            name="heartbeats",
        )
        logger.info("serving Twilio media streams on %s:%d", self._config.host, self.port)

    async def stop(self, drain_deadline_s: float | None = None) -> DrainResult:
        """Drain (no new streams, wait for the active ones up to the deadline), then stop the server."""
        result = await self.edge.drain(drain_deadline_s)
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        logging.getLogger("uvicorn.error").removeFilter(self._log_filter)
        if self._heartbeats is not None:
            self._heartbeats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeats
        return result

    async def wait(self) -> None:
        """Until the server stops by itself."""
        if self._task is not None:
            await asyncio.shield(self._task)

"""Fixtures for the simulated phone's tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from switchboard.common.security.twilio_signature import SIGNATURE_HEADER, is_valid_signature

# A tiny stand-in for the media edge: records what the phone sends, lets a test script answer.


@dataclass
class EdgeSession:
    """One accepted stream: every text frame the phone sent, parsed, with its arrival time."""

    ws: ServerConnection
    headers: Headers
    messages: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    raw: list[str | bytes] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def stream_sid(self) -> str:
        return str(self.messages[1]["streamSid"])

    def of(self, event: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message.get("event") == event]

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> float:
        """Wait (at most 5 s) until a message matching `predicate` has arrived; returns its arrival time."""
        async with asyncio.timeout(5.0):
            while True:
                for message, arrival in zip(self.messages, self.arrivals, strict=True):
                    if predicate(message):
                        return arrival
                await asyncio.sleep(0.002)

    async def wait_for_event(self, event: str) -> float:
        return await self.wait_for(lambda message: message.get("event") == event)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))


Script = Callable[[EdgeSession], Awaitable[None]]


class FakeEdge:
    """Accepts Media Streams on 127.0.0.1; checks the signature if given a token; runs `script` per stream."""

    def __init__(self) -> None:
        self.sessions: list[EdgeSession] = []
        self.script: Script | None = None
        self.auth_token: str | None = None
        self.public_url: str | None = None
        self.server: Server | None = None
        self.arrived = asyncio.Event()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/twilio/stream"

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.auth_token is None:
            return None
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not is_valid_signature(self.auth_token, self.public_url or self.url, signature):
            return connection.respond(HTTPStatus.FORBIDDEN, "bad signature\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        session = EdgeSession(ws, ws.request.headers)
        self.sessions.append(session)
        self.arrived.set()

        async def read() -> None:
            try:
                async for frame in ws:
                    session.raw.append(frame)
                    session.arrivals.append(time.monotonic())
                    try:
                        session.messages.append(json.loads(frame))
                    except ValueError:
                        session.messages.append({"unparsed": frame})
            finally:
                session.closed.set()

        async with asyncio.TaskGroup() as group:
            group.create_task(read())
            if self.script is not None:
                await self.script(session)

    async def wait_for_sessions(self, count: int) -> list[EdgeSession]:
        async with asyncio.timeout(5.0):
            while len(self.sessions) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.sessions


@pytest.fixture
async def edge() -> AsyncIterator[FakeEdge]:
    fake = FakeEdge()
    async with serve(
        fake._handle, "127.0.0.1", 0, process_request=fake._check, compression=None, ping_interval=None
    ) as server:
        fake.server = server
        yield fake

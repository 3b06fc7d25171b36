"""Fixtures for the Twilio REST emulator's tests: the emulator, the real SDK pointed at it, and the servers
Twilio talks to (a media server that accepts streams, and a web server that answers webhooks)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest
from aiohttp import ClientSession, encode_basic_auth, web
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from switchboard.sim.twilio_rest import TwilioRestEmulator

AUTH_TOKEN = "test-auth-token-0123456789"
PUBLIC_STREAM_URL = "wss://edge.example.com/twilio/stream"


class RewritingClient(AsyncHttpClient):
    """An async HTTP client for the SDK that sends every request to the emulator instead of *.twilio.com."""

    def __init__(self, base_url: str) -> None:
        super().__init__(logging.getLogger("twilio.test_client"), is_async=True)
        self._base = urlsplit(base_url)
        self._session = ClientSession()

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # the SDK's interface
        allow_redirects: bool = False,
    ) -> Response:
        parts = urlsplit(url)
        target = urlunsplit((self._base.scheme, self._base.netloc, parts.path, parts.query, ""))
        all_headers = dict(headers or {})
        if auth is not None:
            all_headers["Authorization"] = encode_basic_auth(*auth)
        body = urlencode(list((data or {}).items()), doseq=True) if data else None
        async with self._session.request(
            method, target, params=params, data=body, headers=all_headers, allow_redirects=allow_redirects
        ) as response:
            return Response(response.status, await response.text(), response.headers)

    async def close(self) -> None:
        await self._session.close()


@dataclass
class Stream:
    """One stream the media server accepted."""

    path: str
    signature: str | None
    start: dict[str, Any] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    caller_audio: bytearray = field(default_factory=bytearray)
    connection: ServerConnection | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class MediaServer:
    """Accepts Media Streams like a media edge would, and records them; `end()` closes one from our side."""

    def __init__(self) -> None:
        self.streams: list[Stream] = []
        self.server: Server | None = None
        self.changed = asyncio.Event()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        stream = Stream(connection.request.path, connection.request.headers.get("x-twilio-signature"))
        stream.connection = connection
        self.streams.append(stream)
        try:
            async for message in connection:
                data = json.loads(message)
                stream.events.append(data["event"])
                if data["event"] == "start":
                    stream.start = data["start"]
                    stream.started.set()
                    self.changed.set()
                elif data["event"] == "media":
                    stream.caller_audio.extend(base64.b64decode(data["media"]["payload"]))
        except ConnectionClosed:
            pass
        finally:
            stream.closed.set()
            self.changed.set()

    async def wait_for_stream(self, index: int = 0) -> Stream:
        async with asyncio.timeout(10):
            while len(self.streams) <= index:
                self.changed.clear()
                await self.changed.wait()
            await self.streams[index].started.wait()
        return self.streams[index]

    async def play(self, stream: Stream, ulaw: bytes) -> None:
        """Send audio to the phone, as a media server does (one `media` message)."""
        assert stream.connection is not None
        message = {
            "event": "media",
            "streamSid": stream.start["streamSid"],
            "media": {"payload": base64.b64encode(ulaw).decode()},
        }
        await stream.connection.send(json.dumps(message))

    async def end(self, stream: Stream) -> None:
        assert stream.connection is not None
        await stream.connection.close()


@pytest.fixture
async def media_server() -> AsyncIterator[MediaServer]:
    media = MediaServer()
    async with serve(media.handle, "127.0.0.1", 0) as server:
        media.server = server
        yield media


class WebServer:
    """Answers webhooks: `answers[path]` gives the TwiML (or a status); every request is kept."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], str]] = []
        self.answers: dict[str, str | int] = {}
        self.base_url = ""
        self.changed = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        url = f"{self.base_url}{request.path_qs}"
        self.received.append((url, form, request.headers.get("X-Twilio-Signature", "")))
        self.changed.set()
        answer = self.answers.get(request.path, 204)
        if isinstance(answer, int):
            return web.Response(status=answer)
        return web.Response(text=answer, content_type="text/xml")

    def to(self, path: str) -> list[tuple[str, dict[str, str], str]]:
        return [entry for entry in self.received if urlsplit(entry[0]).path == path]

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(10):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def web_server() -> AsyncIterator[WebServer]:
    server = WebServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield server
    await runner.cleanup()


@pytest.fixture
async def emulator(media_server: MediaServer, web_server: WebServer) -> AsyncIterator[TwilioRestEmulator]:
    async with TwilioRestEmulator(
        auth_token=AUTH_TOKEN, media_routes={"wss://edge.example.com": media_server.url}
    ) as twilio:
        yield twilio


@pytest.fixture
async def sdk(emulator: TwilioRestEmulator) -> AsyncIterator[Client]:
    http = RewritingClient(emulator.base_url)
    yield Client(emulator.account_sid, AUTH_TOKEN, http_client=http)
    await http.close()

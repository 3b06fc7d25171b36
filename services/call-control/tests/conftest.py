"""Runs the real call-control (uvicorn on a free port, its own NATS connection) against the Twilio REST
emulator, with a media server standing in for the edge (it checks the upgrade signature and stream token)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from pydantic import SecretStr
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from switchboard.call_control.app import create_app
from switchboard.call_control.main import serve_http
from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.profile_files import load_profiles
from switchboard.call_control.runtime import CallControl, running
from switchboard.call_control.settings import CallControlSettings
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import BusOptions, connect
from switchboard.common.bus.messages import Event
from switchboard.common.bus.subjects import CALLS_BUCKET
from switchboard.common.calls.record import CallRecord
from switchboard.common.calls.store import CallStore
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.common.security.stream_token import verify_stream_token
from switchboard.common.security.twilio_signature import compute_signature, is_valid_signature
from switchboard.sim.twilio_rest import TwilioRestEmulator

REPO = Path(__file__).resolve().parents[3]
API_KEY = "test-api-key-0123456789"
OTHER_API_KEY = "other-api-key-9876543210"
AUTH_TOKEN = "twilio-auth-token-for-tests"
STREAM_SECRET = "stream-secret-for-tests-0123"
FROM_NUMBER = "+12025550100"
INBOUND_NUMBER = "+12025550111"
PUBLIC_STREAM_URL = "wss://edge.example.com/twilio/stream"


@dataclass
class EdgeStream:
    """A stream the stand-in edge accepted, with what it checked."""

    signature_valid: bool
    parameters: dict[str, str] = field(default_factory=dict)
    token_valid: bool = False
    events: list[str] = field(default_factory=list)
    connection: ServerConnection | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class Edge:
    """Accepts Media Streams as media-edge would, checking the signature of the public URL and the token."""

    def __init__(self) -> None:
        self.streams: list[EdgeStream] = []
        self.url = ""

    async def handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        signature = connection.request.headers.get("x-twilio-signature")
        stream = EdgeStream(
            is_valid_signature(AUTH_TOKEN, PUBLIC_STREAM_URL, signature), connection=connection
        )
        self.streams.append(stream)
        try:
            async for message in connection:
                data = json.loads(message)
                stream.events.append(data["event"])
                if data["event"] == "start":
                    stream.parameters = data["start"]["customParameters"]
                    stream.token_valid = verify_stream_token(
                        STREAM_SECRET,
                        stream.parameters.get("call_id", ""),
                        stream.parameters.get("token", ""),
                    )
        except ConnectionClosed:
            pass
        finally:
            stream.closed.set()

    def for_call(self, call_id: str) -> EdgeStream | None:
        return next((s for s in self.streams if s.parameters.get("call_id") == call_id), None)


@pytest.fixture
async def edge() -> AsyncIterator[Edge]:
    stand_in = Edge()
    async with serve(stand_in.handle, "127.0.0.1", 0) as server:
        stand_in.url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"
        yield stand_in


@pytest.fixture
async def twilio(edge: Edge) -> AsyncIterator[TwilioRestEmulator]:
    async with TwilioRestEmulator(
        auth_token=AUTH_TOKEN, media_routes={"wss://edge.example.com": edge.url}
    ) as emulator:
        yield emulator


@dataclass
class Harness:
    """A running call-control and what a test needs around it."""

    control: CallControl
    base_url: str
    http: httpx.AsyncClient
    twilio: TwilioRestEmulator
    bus: Bus
    events: list[tuple[str, Event]]

    @property
    def store(self) -> CallStore:
        return self.control.service.store

    async def record(self, call_id: str) -> CallRecord:
        record, _ = await self.store.get(call_id)
        return record

    async def wait_record(
        self, call_id: str, condition: Callable[[CallRecord], bool], within_s: float = 10.0
    ) -> CallRecord:
        async with asyncio.timeout(within_s):
            while not condition(record := await self.record(call_id)):  # noqa: ASYNC110  # polling a KV record
                await asyncio.sleep(0.02)
        return record

    def events_of(self, call_id: str, kind: str | None = None) -> list[Event]:
        return [e for cid, e in self.events if cid == call_id and (kind is None or e.type_name() == kind)]

    async def create(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.http.post("/v1/calls", json=body, headers=headers)

    async def signed_post(
        self, path: str, params: dict[str, str], *, signature: str | None = None
    ) -> httpx.Response:
        url = self.base_url + path
        headers = {
            "X-Twilio-Signature": signature
            if signature is not None
            else compute_signature(AUTH_TOKEN, url, params)
        }
        return await self.http.post(path, data=params, headers=headers)


RunCallControl = Callable[..., AbstractAsyncContextManager[Harness]]


def settings_for(
    twilio: TwilioRestEmulator, port: int, nats_url: str, **overrides: Any
) -> CallControlSettings:
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "instance_id": f"call-control-test-{uuid.uuid4().hex[:6]}",
        "ops_port": 0,
        "http_host": "127.0.0.1",
        "http_port": port,
        "api_keys": SecretStr(f"{API_KEY},{OTHER_API_KEY}"),
        "twilio_account_sid": twilio.account_sid,
        "twilio_auth_token": SecretStr(AUTH_TOKEN),
        "twilio_from_number": FROM_NUMBER,
        "twilio_api_base_url": twilio.base_url,
        "public_base_url": f"http://127.0.0.1:{port}",
        "media_stream_url": PUBLIC_STREAM_URL,
        "stream_secret": SecretStr(STREAM_SECRET),
        "allowed_countries": "US,CA,MX,GB",
        "profiles_dir": REPO / "profiles",
        "inbound_profiles": f"{INBOUND_NUMBER}=receptionist-openai",
        "ring_timeout_s": 2,
        "rate_limit_burst": 100,
        "rate_limit_per_s": 100.0,
    }
    values.update(overrides)
    return CallControlSettings(**values)


@pytest.fixture
def call_control(nats_url: str, twilio: TwilioRestEmulator, bus: NatsClient) -> RunCallControl:
    """Runs call-control for the duration of a block (settings overridable)."""

    @asynccontextmanager
    async def started(**overrides: Any) -> AsyncIterator[Harness]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            async with _running(sock, overrides) as harness:
                yield harness

    @asynccontextmanager
    async def _running(sock: socket.socket, overrides: dict[str, Any]) -> AsyncIterator[Harness]:
        port = sock.getsockname()[1]
        settings = settings_for(twilio, port, nats_url, **overrides)
        config = settings.checked()
        registry = new_registry()
        bus_metrics = BusMetrics(registry)
        nc = await connect(BusOptions(url=nats_url, name="call-control-under-test"), bus_metrics)
        service_bus = Bus(nc, bus_metrics)
        observer = Bus(bus, BusMetrics(new_registry()))
        events: list[tuple[str, Event]] = []

        async def collect(msg: Msg) -> None:
            events.append((subjects.call_id_of(msg.subject), observer.events.decode(msg.data)))

        events_sub = await bus.subscribe(subjects.call_events(subjects.ANY), cb=collect)
        stop = asyncio.Event()
        try:
            async with running(
                service_bus,
                settings,
                config,
                load_profiles(settings.profiles_dir),
                CallControlMetrics(registry),
            ) as control:
                server = asyncio.create_task(
                    serve_http(create_app(control), stop, host="127.0.0.1", port=port, sock=sock)
                )
                base_url = f"http://127.0.0.1:{port}"
                async with httpx.AsyncClient(
                    base_url=base_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=15
                ) as http:
                    for _ in range(200):
                        try:
                            await http.get("/docs")
                            break
                        except httpx.ConnectError:
                            await asyncio.sleep(0.02)
                    try:
                        yield Harness(control, base_url, http, twilio, observer, events)
                    finally:
                        stop.set()
                        await server
        finally:
            with contextlib.suppress(ConnectionClosedError):
                await events_sub.unsubscribe()
            await nc.drain()

    return started


@pytest.fixture
async def calls_kv(bus: NatsClient) -> Any:
    return await bus.jetstream().key_value(CALLS_BUCKET)

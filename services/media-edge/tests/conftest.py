"""Fixtures: the real edge on a free port (uvicorn in-process), real transcoders, stand-in agents."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from prometheus_client import CollectorRegistry

from switchboard.common.audio import warm_up
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import BusOptions, connect, ensure_jetstream
from switchboard.common.calls.record import CallRecord, CallStatus
from switchboard.common.calls.store import CallStore
from switchboard.common.profiles import Profile, ProfileStore
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.common.runtime.ops_http import Health
from switchboard.common.security.stream_token import stream_token
from switchboard.media_edge.edge import MediaEdge
from switchboard.media_edge.metrics import EdgeMetrics
from switchboard.media_edge.server import EdgeServer
from switchboard.media_edge.settings import MediaEdgeSettings
from switchboard.sim.phone import MediaStreamCall
from switchboard.sim.stand_in_agent import StandInAgent, StandInOptions
from switchboard.transcoder.metrics import TranscoderMetrics
from switchboard.transcoder.service import TranscoderService
from switchboard.transcoder.settings import TranscoderSettings

PUBLIC_URL = "wss://edge.switchboard.test/twilio/stream"
AUTH_TOKEN = "twilio-auth-token-for-tests"
STREAM_SECRET = "stream-secret-for-tests"
HEARTBEAT_S = 0.2  # the transcoders' and agents' heartbeats, well inside the short timeouts some tests set


@dataclass
class RunningEdge:
    """The edge under test and how to reach it."""

    edge: MediaEdge
    server: EdgeServer
    registry: CollectorRegistry

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/twilio/stream"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def metric(self, name: str, **labels: str) -> float:
        value: float | None = self.registry.get_sample_value(name, labels)
        return value or 0.0

    def phone(
        self,
        call_id: str,
        *,
        token: str | None = None,
        signature: str | None = None,
        auth_token: str = AUTH_TOKEN,
    ) -> MediaStreamCall:
        """A simulated Twilio call dialing this edge for `call_id` (a valid token unless given)."""
        return dial(self.url, call_id, token=token, signature=signature, auth_token=auth_token)


def dial(
    url: str,
    call_id: str,
    *,
    token: str | None = None,
    signature: str | None = None,
    auth_token: str = AUTH_TOKEN,
) -> MediaStreamCall:
    """A simulated Twilio call to the edge at `url`, signed as Twilio signs it, with the call's stream token."""
    return MediaStreamCall(
        url,
        auth_token=auth_token,
        public_url=PUBLIC_URL,
        signature=signature,
        custom_parameters={"call_id": call_id, "token": token or stream_token(STREAM_SECRET, call_id)},
    )


RunningEdgeFactory = Callable[..., AbstractAsyncContextManager[RunningEdge]]


def edge_settings(**overrides: Any) -> MediaEdgeSettings:
    values: dict[str, Any] = {
        "public_stream_url": PUBLIC_URL,
        "twilio_auth_token": AUTH_TOKEN,
        "stream_secret": STREAM_SECRET,
        "instance_id": "edge-under-test",
        "host": "127.0.0.1",
        "port": 0,
        "drain_deadline_s": 10.0,
        "transcode": "service",  # most tests follow the μ-law frames on the bus; test_audio_route runs inline
        **overrides,
    }
    return MediaEdgeSettings(**values)


@pytest.fixture
def media_edge(nats_url: str) -> RunningEdgeFactory:
    """Runs the real edge (uvicorn in-process, its own NATS connection) for the duration of a block."""

    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[RunningEdge]:
        registry = new_registry()
        bus_metrics = BusMetrics(registry)
        nc = await connect(BusOptions(url=nats_url, name="media-edge-under-test"), bus_metrics)
        await ensure_jetstream(nc.jetstream())
        bus = Bus(nc, bus_metrics)
        edge = MediaEdge(
            bus=bus,
            settings=edge_settings(**overrides),
            metrics=EdgeMetrics(registry),
            health=Health(),
            calls=CallStore(await bus.js.key_value(subjects.CALLS_BUCKET)),
            profiles=ProfileStore(await bus.js.key_value(subjects.PROFILES_BUCKET)),
        )
        server = EdgeServer(edge, host="127.0.0.1", port=0)
        await server.start()
        try:
            yield RunningEdge(edge, server, registry)
        finally:
            await server.stop(drain_deadline_s=5.0)
            await nc.drain()

    return running


@pytest.fixture(scope="session")
def _compiled_kernels() -> None:
    warm_up()


@dataclass
class RunningTranscoder:
    """A transcoder replica in-process, on its own NATS connection."""

    service: TranscoderService
    stop: asyncio.Event
    task: asyncio.Task[None]
    nc: NatsClient

    async def kill(self) -> None:
        """Stop at once, as a killed pod does: no drain, no more heartbeats."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


TranscoderFactory = Callable[[str], Awaitable[RunningTranscoder]]


@pytest.fixture
async def transcoders(nats_url: str, _compiled_kernels: None) -> AsyncIterator[TranscoderFactory]:
    """Starts real transcoder replicas by instance id; stops them (draining their calls) at the end."""
    started: list[RunningTranscoder] = []

    async def start(instance: str) -> RunningTranscoder:
        bus_metrics = BusMetrics(new_registry())
        nc = await connect(BusOptions(url=nats_url, name=instance), bus_metrics)
        settings = TranscoderSettings(instance_id=instance, heartbeat_interval_s=HEARTBEAT_S)
        service = TranscoderService(Bus(nc, bus_metrics), settings, TranscoderMetrics(new_registry()))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop), name=f"transcoder-{instance}")
        await wait_for(lambda: service.attach.in_queue_group, what=f"{instance} to join its queue group")
        started.append(replica := RunningTranscoder(service, stop, task, nc))
        return replica

    yield start
    for replica in started:
        replica.stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await replica.task
        await replica.nc.drain()


@pytest.fixture
async def transcoder(transcoders: TranscoderFactory) -> TranscoderService:
    """The real transcoder service."""
    return (await transcoders("transcoder-for-edge-tests")).service


AgentFactory = Callable[..., Awaitable[StandInAgent]]


@pytest.fixture
async def agents(nats_url: str) -> AsyncIterator[AgentFactory]:
    """Starts stand-in OpenAI agent replicas by instance id (options as keywords); stops them at the end."""
    started: list[tuple[StandInAgent, NatsClient]] = []

    async def start(instance: str, **options: Any) -> StandInAgent:
        bus_metrics = BusMetrics(new_registry())
        nc = await connect(BusOptions(url=nats_url, name=instance), bus_metrics)
        values: dict[str, Any] = {"heartbeat_interval_s": HEARTBEAT_S, **options}
        stand_in = StandInAgent(
            Bus(nc, bus_metrics), StandInOptions(provider="openai", instance=instance, **values)
        )
        await stand_in.start()
        started.append((stand_in, nc))
        return stand_in

    yield start
    for stand_in, nc in started:
        await stand_in.stop()
        await nc.drain()


@pytest.fixture
async def agent(agents: AgentFactory) -> StandInAgent:
    """A stand-in OpenAI agent."""
    return await agents("stand-in-for-edge-tests")


@pytest.fixture
def client(bus: NatsClient) -> Bus:
    """The test's own typed bus."""
    return Bus(bus, BusMetrics(new_registry()))


async def seed_call(client: Bus, call_id: str, *, provider: str = "openai", **fields: Any) -> CallRecord:
    """A profile for `provider` and an in-progress call record, as call-control would have written them."""
    profiles = ProfileStore(await client.js.key_value(subjects.PROFILES_BUCKET))
    profile = Profile(
        name=f"stand-in-{provider}",
        provider=provider,
        model="stand-in",
        instructions="Say something.",
        greeting="Hello.",
        voice="alloy",
    )
    await profiles.put(profile)
    values: dict[str, Any] = {"profile": profile.name, "status": CallStatus.IN_PROGRESS, **fields}
    record = CallRecord(
        call_id=call_id, direction="outbound", to_number="+15550100", from_number="+15550199", **values
    )
    await CallStore(await client.js.key_value(subjects.CALLS_BUCKET)).create(record)
    return record


async def wait_for(predicate: Callable[[], bool], within_s: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate` (state other tasks change) until it holds; fails the test after `within_s`."""
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within_s} s")
        await asyncio.sleep(0.01)


async def has_subscribers(nc: NatsClient, subject: str) -> bool:
    """Whether anybody on the bus subscribes to `subject` (NATS answers 'no responders' otherwise)."""
    try:
        await nc.request(subject, b"", timeout=0.3)
    except NoRespondersError:
        return False
    except NatsTimeoutError:
        return True
    return True

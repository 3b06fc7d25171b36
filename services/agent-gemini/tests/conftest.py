import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from switchboard.agent_gemini.service import build_service
from switchboard.agent_gemini.settings import AgentGeminiSettings
from switchboard.common.agent.metrics import AgentMetrics
from switchboard.common.agent.service import AgentService
from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachReply, request_attach
from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import BusOptions, connect
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import AudioFrame
from switchboard.common.bus.messages import Control, Event, MediaStopped, Playout, TranscriptTurn
from switchboard.common.profiles import Profile, ProfileStore
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.eventually import eventually
from switchboard.sim.gemini_live import GeminiLiveConfig, GeminiLiveEmulator, GeminiScript
from switchboard.sim.speech import silence, synthesize
from switchboard.sim.stand_in_edge import StandInEdge

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
API_KEY = "test-gemini-key"
CALLER_RATE = 16_000
FRAME_BYTES = CALLER_RATE * 2 // 50  # 20 ms of PCM16


def profile(name: str = "gemini-receptionist", **overrides: Any) -> Profile:
    fields: dict[str, Any] = {
        "name": name,
        "provider": "gemini",
        "model": MODEL,
        "instructions": "You are Ava, the receptionist of Northwind Dental. Be brief.",
        "greeting": "Greet the caller and offer help.",
        "voice": "Kore",
        "language": "en-US",
        "tools": ("end_call",),
        **overrides,
    }
    return Profile(**fields)


def emulator_config(**overrides: Any) -> GeminiLiveConfig:
    """Quick turns, synthetic voice; tests that speak over the model slow it down."""
    config = GeminiLiveConfig(
        api_key=API_KEY, time_to_first_chunk_s=0.05, realtime_factor=3.0, voice="synthetic"
    )
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


def caller_speech(text: str, trailing_silence_s: float = 0.8) -> bytes:
    """What the caller says, 16 kHz PCM16, then enough silence for the model to take its turn."""
    pcm = np.concatenate(
        [synthesize(text, CALLER_RATE, voice="synthetic"), silence(trailing_silence_s, CALLER_RATE)]
    )
    return pcm.astype("<i2").tobytes()


@dataclass
class Received:
    at: float
    frames_before: int
    message: Control


@dataclass
class Caller:
    """The far side of the agent for one call: attaches it, speaks, listens, and acts as the edge."""

    bus: Bus
    call_id: str
    frames: list[tuple[float, AudioFrame]] = field(default_factory=list)
    controls: list[Received] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    sent_ms: float = 0.0
    edge: StandInEdge = field(init=False)

    def __post_init__(self) -> None:
        self.edge = StandInEdge(self.bus, heartbeat_interval_s=0.5)

    async def watch(self) -> None:
        async def on_audio(msg: Msg) -> None:
            self.frames.append((time.monotonic(), self.bus.frames.decode(msg.data)))

        async def on_control(message: Control) -> None:
            self.controls.append(Received(time.monotonic(), len(self.frames), message))

        async def on_event(event: Event) -> None:
            self.events.append(event)

        await self.bus.nc.subscribe(
            subjects.audio(self.call_id, Direction.OUT, AudioFormat.PCM24K), cb=on_audio
        )
        await self.bus.subscribe_control(self.call_id, on_control)
        await self.bus.subscribe_events(self.call_id, on_event)

    async def attach(
        self, profile_name: str, *, resume: bool = False, first_generation: int = 1
    ) -> AttachReply:
        await self.watch()
        if not self.edge.epochs:
            await self.edge.start()
        request = await self.edge.claim(
            self.call_id,
            profile_name,
            agent_in_format=AudioFormat.PCM16K,
            agent_out_format=AudioFormat.PCM24K,
            resume=resume,
            first_generation=first_generation,
        )
        return await request_attach(self.bus, subjects.agent_attach("gemini"), request)

    async def say(self, pcm: bytes, *, speed: float = 1.0) -> None:
        """Publish caller audio as 20 ms frames, `speed` times faster than real time."""
        started = time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), FRAME_BYTES)):
            frame = AudioFrame(
                self.call_id, index, int(self.sent_ms), time.time_ns(), 0, pcm[offset : offset + FRAME_BYTES]
            )
            await self.bus.publish_frame(self.call_id, Direction.IN, AudioFormat.PCM16K, frame)
            self.sent_ms += 20
            await asyncio.sleep(max(0.0, started + (index + 1) * 0.02 / speed - time.monotonic()))

    async def play_out(self, generation: int, played_ms: int | None = None, *, final: bool = True) -> None:
        """Report, as the edge does, how much of a generation the caller heard."""
        if played_ms is None:
            played_ms = int(self.sent_ms_of(generation))
        await self.bus.publish_control(
            self.call_id, Playout(generation=generation, played_ms=played_ms, final=final)
        )

    async def hang_up(self) -> None:
        await self.bus.publish_event(self.call_id, MediaStopped(reason="caller hung up"))

    def generation_frames(self, generation: int) -> list[AudioFrame]:
        return [frame for _, frame in self.frames if frame.generation == generation]

    def sent_ms_of(self, generation: int) -> float:
        return sum(AudioFormat.PCM24K.duration_ms(len(f.payload)) for f in self.generation_frames(generation))

    def of_type(self, kind: type[Any]) -> list[Any]:
        return [r.message for r in self.controls if isinstance(r.message, kind)] + [
            e for e in self.events if isinstance(e, kind)
        ]

    def transcripts(self) -> list[TranscriptTurn]:
        return [e for e in self.events if isinstance(e, TranscriptTurn)]

    async def wait_generation_done(self, generation: int, within_s: float = 10.0) -> None:
        """Wait until the agent's transcript of a generation is out (it is published once the turn is done)."""
        await eventually(
            lambda: any(t.role == "agent" and t.generation == generation for t in self.transcripts()),
            within_s,
            what=f"generation {generation} complete",
        )


@dataclass
class RunningAgent:
    service: AgentService
    registry: CollectorRegistry
    settings: AgentGeminiSettings

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, {"provider": "gemini", **labels}) or 0.0


RunningAgentFactory = Callable[..., AbstractAsyncContextManager[RunningAgent]]


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    return tmp_path / "gemini-ca.pem"


@pytest.fixture
async def gemini(ca_file: Path) -> AsyncIterator[GeminiLiveEmulator]:
    async with GeminiLiveEmulator(GeminiScript.english_receptionist(), emulator_config()) as emulator:
        emulator.write_ca_pem(ca_file)
        yield emulator


@pytest.fixture
async def profiles(bus: NatsClient) -> ProfileStore:
    store = ProfileStore(await bus.jetstream().key_value(subjects.PROFILES_BUCKET))
    await store.put(profile())
    return store


@pytest.fixture
def agent_gemini(
    nats_url: str, gemini: GeminiLiveEmulator, ca_file: Path, profiles: ProfileStore
) -> RunningAgentFactory:
    """Runs the real Gemini agent service, on its own NATS connection, against the emulator."""

    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[RunningAgent]:
        registry = new_registry()
        bus_metrics = BusMetrics(registry)
        nc = await connect(BusOptions(url=nats_url, name="agent-gemini-under-test"), bus_metrics)
        fields: dict[str, Any] = {
            "instance_id": "agent-gemini-test",
            "api_key": SecretStr(API_KEY),
            "base_url": gemini.base_url,
            "ca_file": ca_file,
            "drain_timeout_s": 0.5,
            "reconnect_backoff_s": 0.05,
            **overrides,
        }
        settings = AgentGeminiSettings(**fields)
        bus = Bus(nc, bus_metrics)
        service = build_service(bus, settings, profiles, AgentMetrics(registry, "gemini"))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        await eventually(lambda: service.attach.in_queue_group, what="the agent serves")
        try:
            yield RunningAgent(service, registry, settings)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await nc.drain()

    return running


@pytest_asyncio.fixture
async def caller(bus: NatsClient) -> AsyncIterator[Callable[[str], Caller]]:
    typed = Bus(bus, BusMetrics(new_registry()))
    callers: list[Caller] = []

    def new(call_id: str) -> Caller:
        callers.append(Caller(typed, call_id))
        return callers[-1]

    yield new
    for one in callers:
        await one.edge.stop()

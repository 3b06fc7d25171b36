import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from prometheus_client import CollectorRegistry

from switchboard.agent_openai.service import build_service
from switchboard.agent_openai.settings import AgentOpenAISettings
from switchboard.common.agent.metrics import AgentMetrics
from switchboard.common.agent.service import AgentService
from switchboard.common.bus import subjects
from switchboard.common.bus.attach import request_attach
from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import BusOptions, connect
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import AudioFrame
from switchboard.common.bus.messages import Clear, Control, Event, MediaStopped, Playout
from switchboard.common.profiles import Profile, ProfileStore, TurnDetection
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.eventually import eventually
from switchboard.sim.openai_realtime import Behaviour, OpenAIRealtimeEmulator
from switchboard.sim.speech import synthesize
from switchboard.sim.stand_in_edge import StandInEdge

RATE = 24000
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000
FMT = AudioFormat.PCM24K

PROFILE = Profile(
    name="openai-receptionist",
    provider="openai",
    model="gpt-realtime",
    instructions="You are Ava, the receptionist of a dental clinic. Be brief.",
    greeting="Greet the caller and ask how you can help.",
    voice="marin",
    turn_detection=TurnDetection(type="server_vad", silence_duration_ms=500),
)


def typed(nc: NatsClient) -> Bus:
    return Bus(nc, BusMetrics(new_registry()))


@pytest.fixture
async def emulator() -> AsyncIterator[OpenAIRealtimeEmulator]:
    behaviour = Behaviour(first_delta_latency_s=0.05, reply_audio_ms=1500, speech="synthetic")
    async with OpenAIRealtimeEmulator(behaviour=behaviour, api_key="test") as running:
        yield running


@dataclass
class AgentUnderTest:
    service: AgentService
    registry: CollectorRegistry

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, {"provider": "openai", **labels}) or 0.0


RunningAgent = Callable[..., AbstractAsyncContextManager[AgentUnderTest]]


@pytest.fixture
def agent(bus: NatsClient, nats_url: str, emulator: OpenAIRealtimeEmulator) -> RunningAgent:
    """Runs the real OpenAI agent service, on its own NATS connection, against the emulator, for a block."""

    @asynccontextmanager
    async def running(**overrides: object) -> AsyncIterator[AgentUnderTest]:
        await ProfileStore(await typed(bus).js.key_value(subjects.PROFILES_BUCKET)).put(PROFILE)
        registry = new_registry()
        bus_metrics = BusMetrics(registry)
        nc = await connect(BusOptions(url=nats_url, name="agent-openai-under-test"), bus_metrics)
        agent_bus = Bus(nc, bus_metrics)
        options: dict[str, object] = {
            "instance_id": "agent-openai-test",
            "api_key": "test",
            "base_url": emulator.base_url,
            "drain_timeout_s": 0.5,
            **overrides,
        }
        settings = AgentOpenAISettings(**options)  # type: ignore[arg-type]
        profiles = ProfileStore(await agent_bus.js.key_value(subjects.PROFILES_BUCKET))
        service = build_service(agent_bus, settings, profiles, AgentMetrics(registry, "openai"))
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        await eventually(lambda: service.attach.in_queue_group, what="the agent serves")
        try:
            yield AgentUnderTest(service, registry)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await nc.drain()

    return running


def speech(text: str) -> npt.NDArray[np.int16]:
    """The caller saying `text`, as synthetic speech at 24 kHz."""
    return synthesize(text, RATE, voice="synthetic")


@dataclass
class GenerationPlayout:
    """Agent audio of one generation as the simulated edge plays it, in real time, after the ones before."""

    number: int
    received_ms: float = 0.0
    first_at: float = 0.0
    last_at: float = 0.0
    start_at: float | None = None
    cleared_at: float | None = None
    final_ms: int | None = None
    reported_ms: int = -1

    def played_ms(self, now: float) -> int:
        if self.final_ms is not None:
            return self.final_ms
        if self.start_at is None:
            return 0
        return int(min(self.received_ms, max(0.0, now - self.start_at) * 1000.0))


@dataclass
class Line:
    """One call as the edge side of the bus sees it: the caller's audio goes up, the agent's is played and reported.

    Caller audio is published as 20 ms frames at real-time pace (silence between utterances). Agent audio is
    "played" in real time, generation after generation; `ctl.playout` reports progress every 50 ms and a final
    report when a generation has played out (or is cleared: then with what was played up to the clear).
    """

    bus: Bus
    call_id: str
    frames: list[tuple[float, AudioFrame]] = field(default_factory=list)
    controls: list[tuple[float, int, Control]] = field(default_factory=list)
    events: list[tuple[float, Event]] = field(default_factory=list)
    generations: dict[int, GenerationPlayout] = field(default_factory=dict)
    uplink: list[tuple[int, float]] = field(default_factory=list)
    late_frames: list[AudioFrame] = field(default_factory=list)
    _pending: deque[bytes] = field(default_factory=deque)
    _drained: asyncio.Event = field(default_factory=asyncio.Event)
    _subs: list[Subscription] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _cleared: int = 0
    edge: StandInEdge = field(init=False)

    def __post_init__(self) -> None:
        self.edge = StandInEdge(self.bus, heartbeat_interval_s=0.5)

    async def open(self) -> None:
        nc = self.bus.nc
        self._subs.append(
            await nc.subscribe(subjects.audio(self.call_id, Direction.OUT, FMT), cb=self._on_agent_audio)
        )
        self._subs.append(await self.bus.subscribe_control(self.call_id, self._on_control))
        self._subs.append(await self.bus.subscribe_events(self.call_id, self._on_event))
        self._tasks.append(asyncio.create_task(self._speak_loop()))
        self._tasks.append(asyncio.create_task(self._playout_loop()))

    async def close(self) -> None:
        await self.edge.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def attach(
        self, profile: str = PROFILE.name, *, resume: bool = False, first_generation: int = 1
    ) -> None:
        if not self.edge.epochs:
            await self.edge.start()
        request = await self.edge.claim(
            self.call_id,
            profile,
            agent_in_format=FMT,
            agent_out_format=FMT,
            resume=resume,
            first_generation=first_generation,
        )
        await request_attach(self.bus, subjects.agent_attach("openai"), request)

    async def hang_up(self) -> None:
        await self.bus.publish_event(self.call_id, MediaStopped(reason="caller_hung_up"))

    # --- the caller ------------------------------------------------------------------------------------

    async def say(self, samples: npt.NDArray[np.int16]) -> None:
        """Queue an utterance; returns once all of it has been published."""
        data = samples.astype("<i2").tobytes()
        size = FRAME_SAMPLES * 2
        data += bytes(-len(data) % size)
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        self._drained.clear()
        self._pending.extend(chunks)
        await self._drained.wait()

    async def _speak_loop(self) -> None:
        silence = bytes(FRAME_SAMPLES * 2)
        seq = 0
        start = time.monotonic()
        while True:
            payload = self._pending.popleft() if self._pending else silence
            if not self._pending:
                self._drained.set()
            frame = AudioFrame(self.call_id, seq, seq * FRAME_MS, time.time_ns(), 0, payload)
            await self.bus.publish_frame(self.call_id, Direction.IN, FMT, frame)
            self.uplink.append((seq * FRAME_MS, time.monotonic()))
            seq += 1
            await asyncio.sleep(max(0.0, start + seq * FRAME_MS / 1000 - time.monotonic()))

    # --- the agent's audio, played -----------------------------------------------------------------------

    async def _on_agent_audio(self, msg: Msg) -> None:
        now = time.monotonic()
        frame = self.bus.frames.decode(msg.data)
        self.frames.append((now, frame))
        if frame.generation <= self._cleared:
            self.late_frames.append(frame)
            return
        gen = self.generations.get(frame.generation)
        if gen is None:
            gen = self.generations[frame.generation] = GenerationPlayout(frame.generation, first_at=now)
        gen.received_ms += FMT.duration_ms(len(frame.payload))
        gen.last_at = now

    async def _on_control(self, message: Control) -> None:
        now = time.monotonic()
        self.controls.append((now, len(self.frames), message))
        if isinstance(message, Clear):
            self._cleared = max(self._cleared, message.generation)
            for gen in self.generations.values():
                if gen.number <= message.generation and gen.final_ms is None:
                    gen.final_ms = gen.played_ms(now)
                    gen.cleared_at = now
                    await self._report(gen, final=True)

    async def _on_event(self, event: Event) -> None:
        self.events.append((time.monotonic(), event))

    async def _playout_loop(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            previous_end: float | None = None
            for gen in sorted(self.generations.values(), key=lambda g: g.number):
                if gen.start_at is None and gen.final_ms is None:
                    gen.start_at = max(gen.first_at, previous_end or gen.first_at)
                if gen.cleared_at is not None:
                    previous_end = gen.cleared_at
                elif gen.start_at is not None:
                    previous_end = gen.start_at + gen.received_ms / 1000.0
                if gen.final_ms is not None:
                    continue
                played = gen.played_ms(now)
                if played >= gen.received_ms - 1 and now - gen.last_at >= 0.3:
                    gen.final_ms = played
                    await self._report(gen, final=True)
                elif played != gen.reported_ms:
                    await self._report(gen, final=False)

    async def _report(self, gen: GenerationPlayout, *, final: bool) -> None:
        played = gen.final_ms if final and gen.final_ms is not None else gen.played_ms(time.monotonic())
        gen.reported_ms = played
        await self.bus.publish_control(
            self.call_id, Playout(generation=gen.number, played_ms=played, final=final)
        )

    # --- what happened -----------------------------------------------------------------------------------

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        found = [c for _, _, c in self.controls if isinstance(c, kind)]
        return found or [e for _, e in self.events if isinstance(e, kind)]

    def when(self, kind: type) -> float:
        for at, _, control in self.controls:
            if isinstance(control, kind):
                return at
        for at, event in self.events:
            if isinstance(event, kind):
                return at
        raise AssertionError(f"no {kind.__name__}")

    def finished(self, generation: int) -> bool:
        gen = self.generations.get(generation)
        return gen is not None and gen.final_ms is not None


OpenLine = Callable[[str], AbstractAsyncContextManager[Line]]


@pytest.fixture
def line(bus: NatsClient) -> OpenLine:
    @asynccontextmanager
    async def opened(call_id: str) -> AsyncIterator[Line]:
        call = Line(typed(bus), call_id)
        await call.open()
        try:
            yield call
        finally:
            await call.close()

    return opened

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachRequest, request_attach
from switchboard.common.bus.client import Bus
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import AudioFrame, FrameCodec
from switchboard.common.bus.messages import (
    Clear,
    ComponentAttached,
    Control,
    Heartbeat,
    MediaStopped,
    Playout,
)
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.sim.stand_in_agent import StandInAgent, StandInOptions, speech

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

CODEC = FrameCodec()


@pytest.fixture
def client(bus: NatsClient) -> Bus:
    return Bus(bus, BusMetrics(new_registry()))


@pytest.fixture
async def stand_in(client: Bus) -> AsyncIterator[StandInAgent]:
    agent = StandInAgent(client, StandInOptions(provider="openai", capacity=2))
    await agent.start()
    yield agent
    await agent.stop()


async def attach(
    client: Bus, call_id: str, provider: str = "openai", fmt: AudioFormat = AudioFormat.PCM24K
) -> None:
    await request_attach(
        client,
        subjects.agent_attach(provider),
        AttachRequest(call_id=call_id, agent_in_format=fmt, agent_out_format=AudioFormat.PCM24K),
    )


async def collect(client: Bus, subject: str) -> list[AudioFrame]:
    frames: list[AudioFrame] = []

    async def on_msg(msg: Msg) -> None:
        frames.append(CODEC.decode(msg.data))

    await client.nc.subscribe(subject, cb=on_msg)
    return frames


async def settle(predicate, within_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_speech_has_the_duration_asked_for() -> None:
    samples = speech(2.0, 24000)
    assert samples.size == 48000 and samples.dtype == np.int16
    assert np.abs(samples).max() > 1000


async def test_it_speaks_a_new_generation_in_20_ms_frames_at_once_not_paced(
    client: Bus, stand_in: StandInAgent
) -> None:
    out = await collect(client, subjects.audio("speak-1", Direction.OUT, AudioFormat.PCM24K))
    attached = []

    async def on_event(event: object) -> None:
        attached.append(event)

    await client.subscribe_events("speak-1", on_event, ComponentAttached.type_name())
    await attach(client, "speak-1")
    call = await stand_in.wait_for_call("speak-1")
    # Paced, 20 s of speech would take 20 s; published at once, a fraction of that even on a loaded machine.
    generation = await asyncio.wait_for(call.speak(20.0), timeout=10.0)
    await settle(lambda: len(out) == 1000)
    assert generation == 1
    assert [frame.generation for frame in out] == [1] * 1000
    assert [frame.media_ms for frame in out] == [20 * i for i in range(1000)]
    assert all(len(frame.payload) == 960 for frame in out)
    await settle(lambda: len(attached) == 1)
    assert await call.speak(0.1) == 2


async def test_it_clears_on_command_and_records_the_playout_reports(
    client: Bus, stand_in: StandInAgent
) -> None:
    clears: list[Control] = []

    async def on_clear(message: Control) -> None:
        clears.append(message)

    await client.subscribe_control("clear-1", on_clear, Clear.type_name())
    await attach(client, "clear-1")
    call = await stand_in.wait_for_call("clear-1")
    generation = await call.speak(0.2)
    assert await call.clear() == generation
    await settle(lambda: len(clears) == 1)
    assert isinstance(clears[0], Clear) and clears[0].generation == generation
    await client.publish_control("clear-1", Playout(generation=generation, played_ms=60))
    await client.publish_control("clear-1", Playout(generation=generation, played_ms=80, final=True))
    report = await call.wait_playout(generation)
    assert (report.played_ms, report.final) == (80, True)
    assert [p.played_ms for p in call.playouts] == [60, 80]


async def test_it_echoes_caller_audio_in_its_own_format(client: Bus) -> None:
    agent = StandInAgent(client, StandInOptions(provider="gemini", echo=True))
    await agent.start()
    try:
        out = await collect(client, subjects.audio("echo-1", Direction.OUT, AudioFormat.PCM24K))
        await attach(client, "echo-1", provider="gemini", fmt=AudioFormat.PCM16K)
        call = await agent.wait_for_call("echo-1")
        for seq in range(10):
            frame = AudioFrame("echo-1", seq, seq * 20, time.time_ns(), 0, bytes(640))
            await client.publish_frame("echo-1", Direction.IN, AudioFormat.PCM16K, frame)
        await settle(lambda: len(out) == 10)
        assert call.caller_frames == 10
        assert sum(len(frame.payload) for frame in out) == pytest.approx(10 * 960, abs=96)
        assert {frame.generation for frame in out} == {1}
        await call.clear()
        await client.publish_frame(
            "echo-1",
            Direction.IN,
            AudioFormat.PCM16K,
            AudioFrame("echo-1", 10, 200, time.time_ns(), 0, bytes(640)),
        )
        await settle(lambda: len(out) == 11)
        assert out[-1].generation == 2  # after a clear the echo goes on as a new answer
    finally:
        await agent.stop()


async def test_a_call_is_let_go_when_its_media_stops(client: Bus, stand_in: StandInAgent) -> None:
    await attach(client, "end-1")
    await attach(client, "end-2")
    assert not stand_in.attach.in_queue_group  # capacity 2
    await client.publish_event("end-1", MediaStopped(reason="stop"))
    await settle(lambda: "end-1" not in stand_in.calls)
    assert stand_in.ended[-1].call_id == "end-1" and stand_in.ended[-1].ended.is_set()
    assert stand_in.attach.in_queue_group


async def test_it_can_greet_every_call(client: Bus) -> None:
    agent = StandInAgent(client, StandInOptions(provider="openai", instance="greeter", greeting_s=0.2))
    await agent.start()
    try:
        out = await collect(client, subjects.audio("greet-1", Direction.OUT, AudioFormat.PCM24K))
        await attach(client, "greet-1")
        await settle(lambda: len(out) == 10)
    finally:
        await agent.stop()


async def test_it_heartbeats_its_calls_and_resumes_one_without_greeting_from_the_generation_asked(
    client: Bus,
) -> None:
    agent = StandInAgent(
        client,
        StandInOptions(provider="openai", instance="resumer", greeting_s=0.2, heartbeat_interval_s=0.05),
    )
    heartbeats: list[Control] = []

    async def on_heartbeat(message: Control) -> None:
        heartbeats.append(message)

    await client.subscribe_control("resume-1", on_heartbeat, Heartbeat.type_name())
    await agent.start()
    try:
        out = await collect(client, subjects.audio("resume-1", Direction.OUT, AudioFormat.PCM24K))
        await request_attach(
            client,
            subjects.agent_attach("openai"),
            AttachRequest(call_id="resume-1", resume=True, first_generation=7),
        )
        call = await agent.wait_for_call("resume-1")
        await settle(lambda: len(heartbeats) >= 2)
        assert {(h.component, h.instance) for h in heartbeats if isinstance(h, Heartbeat)} == {
            ("agent-openai", "resumer")
        }
        assert await call.speak(0.1) == 7
        await settle(lambda: len(out) == 5)
        assert {frame.generation for frame in out} == {7}, "a resumed call is not greeted"
    finally:
        await agent.stop()

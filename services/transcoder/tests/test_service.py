import asyncio
import os
import sys
import time
from collections import defaultdict

import numpy as np
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from switchboard.common.audio import ulaw_encode
from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachRequest, request_attach
from switchboard.common.bus.client import Bus
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import AudioFrame, FrameCodec
from switchboard.common.bus.messages import Clear, ComponentAttached, Event, MediaStopped
from switchboard.common.errors import AttachError
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.eventually import eventually

from .conftest import RunningTranscoder

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CODEC = FrameCodec()


def tone(freq: float, rate: int, start: int, count: int) -> np.ndarray:
    t = (np.arange(count) + start) / rate
    return (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


class Collector:
    """Frames received per call, per subject."""

    def __init__(self) -> None:
        self.frames: dict[str, list[AudioFrame]] = defaultdict(list)
        self.subjects: dict[str, set[str]] = defaultdict(set)

    async def on_msg(self, msg: Msg) -> None:
        frame = CODEC.decode(msg.data)
        self.frames[frame.call_id].append(frame)
        self.subjects[frame.call_id].add(msg.subject)

    def count(self) -> int:
        return sum(len(v) for v in self.frames.values())


def typed(bus: NatsClient) -> Bus:
    return Bus(bus, BusMetrics(new_registry()))


async def attach(bus: Bus, call_id: str, agent: AudioFormat = AudioFormat.PCM24K) -> list[str]:
    reply = await request_attach(
        bus,
        subjects.transcoder_attach(),
        AttachRequest(call_id=call_id, agent_in_format=agent, agent_out_format=AudioFormat.PCM24K),
    )
    return list(reply.detail["routes"])


async def test_100_concurrent_calls_both_directions_in_order_without_cross_talk(
    bus: NatsClient, transcoder: RunningTranscoder
) -> None:
    client = typed(bus)
    inbound, outbound = Collector(), Collector()
    await bus.subscribe(subjects.audio(subjects.ANY, Direction.IN, AudioFormat.PCM24K), cb=inbound.on_msg)
    await bus.subscribe(subjects.audio(subjects.ANY, Direction.OUT, AudioFormat.PCMU8K), cb=outbound.on_msg)
    calls = [f"load-{i}" for i in range(100)]
    frames_per_call = 25
    async with transcoder() as service:
        for call_id in calls:
            assert await attach(client, call_id) == ["in:pcmu8k>pcm24k", "out:pcm24k>pcmu8k"]
        assert len(service.calls) == 100
        for seq in range(frames_per_call):
            for index, call_id in enumerate(calls):
                freq = 200 + 25 * index  # each call its own tone, to detect cross-talk
                caller = ulaw_encode(tone(freq, 8000, seq * 160, 160))
                agent = tone(freq, 24000, seq * 480, 480).tobytes()
                ingest = time.time_ns()
                await client.publish_frame(
                    call_id,
                    Direction.IN,
                    AudioFormat.PCMU8K,
                    AudioFrame(call_id, seq, seq * 20, ingest, 0, caller),
                )
                await client.publish_frame(
                    call_id,
                    Direction.OUT,
                    AudioFormat.PCM24K,
                    AudioFrame(call_id, seq, seq * 20, ingest, 1, agent),
                )
        total = len(calls) * frames_per_call
        await eventually(lambda: inbound.count() == total and outbound.count() == total, 20)
    for index, call_id in enumerate(calls):
        for collected, size in ((inbound, 960), (outbound, 160)):
            frames = collected.frames[call_id]
            assert [f.seq for f in frames] == list(range(frames_per_call))
            assert all(len(f.payload) == size and f.call_id == call_id for f in frames)
            assert len(collected.subjects[call_id]) == 1
        assert [f.generation for f in outbound.frames[call_id]] == [1] * frames_per_call
        pcm = np.frombuffer(b"".join(f.payload for f in inbound.frames[call_id][5:]), dtype="<i2").astype(
            float
        )
        spectrum = np.abs(np.fft.rfft(pcm * np.hanning(pcm.size)))
        peak_hz = np.argmax(spectrum) * 24000 / pcm.size
        assert abs(peak_hz - (200 + 25 * index)) < 10, f"{call_id} carries another call's audio"


async def test_malformed_frames_and_bad_payloads_are_counted_and_skipped(
    bus: NatsClient, transcoder: RunningTranscoder
) -> None:
    client = typed(bus)
    out = Collector()
    await bus.subscribe(subjects.audio("bad-1", Direction.OUT, AudioFormat.PCMU8K), cb=out.on_msg)
    async with transcoder() as service:
        await attach(client, "bad-1")
        subject = subjects.audio("bad-1", Direction.OUT, AudioFormat.PCM24K)
        await bus.publish(subject, b"\x93not a frame")
        await client.publish_frame(
            "bad-1", Direction.OUT, AudioFormat.PCM24K, AudioFrame("bad-1", 1, 0, 0, 1, b"odd")
        )
        await client.publish_frame(
            "bad-1", Direction.OUT, AudioFormat.PCM24K, AudioFrame("bad-1", 2, 20, 0, 1, bytes(960))
        )
        await eventually(lambda: out.count() == 1)
        assert [f.seq for f in out.frames["bad-1"]] == [2]
        registry_metrics = service._metrics
        assert registry_metrics.dropped.labels("bad_payload")._value.get() == 1
        assert service._bus.metrics.malformed.labels("audio", "malformed")._value.get() == 1


async def test_clear_drops_the_cleared_generation_and_a_new_generation_passes(
    bus: NatsClient, transcoder: RunningTranscoder
) -> None:
    client = typed(bus)
    out = Collector()
    await bus.subscribe(subjects.audio("clr-1", Direction.OUT, AudioFormat.PCMU8K), cb=out.on_msg)

    async def agent_frame(seq: int, generation: int) -> None:
        await client.publish_frame(
            "clr-1",
            Direction.OUT,
            AudioFormat.PCM24K,
            AudioFrame(
                "clr-1", seq, seq * 20, time.time_ns(), generation, tone(440, 24000, seq * 480, 480).tobytes()
            ),
        )

    async with transcoder() as service:
        await attach(client, "clr-1")
        for seq in range(3):
            await agent_frame(seq, 1)
        await eventually(lambda: out.count() == 3)
        await client.publish_control("clr-1", Clear(generation=1))
        await bus.flush()
        await eventually(lambda: service.calls["clr-1"].cleared_generation == 1)
        for seq in range(3, 6):
            await agent_frame(seq, 1)  # still in flight from the agent: must not reach the caller
        for seq in range(6, 9):
            await agent_frame(seq, 2)
        await agent_frame(9, 1)  # a straggler of an old generation
        await eventually(lambda: out.count() == 6)
        await asyncio.sleep(0.1)
        assert [(f.seq, f.generation) for f in out.frames["clr-1"]] == [
            (0, 1),
            (1, 1),
            (2, 1),
            (6, 2),
            (7, 2),
            (8, 2),
        ]
        assert service._metrics.dropped.labels("cleared")._value.get() == 4


async def test_detach_on_media_stopped_and_on_silence(bus: NatsClient, transcoder: RunningTranscoder) -> None:
    client = typed(bus)
    async with transcoder(idle_timeout_s=0.3) as service:
        await attach(client, "end-1")
        await attach(client, "idle-1")
        await client.publish_event("end-1", MediaStopped(reason="stop"))
        await eventually(lambda: "end-1" not in service.calls, 5)
        await eventually(lambda: "idle-1" not in service.calls, 5)
        assert service._metrics.detached.labels("ended")._value.get() == 1
        assert service._metrics.detached.labels("idle")._value.get() == 1


async def test_a_full_transcoder_stops_taking_calls_until_one_ends(
    bus: NatsClient, transcoder: RunningTranscoder
) -> None:
    client = typed(bus)
    async with transcoder(capacity=2) as service:
        await attach(client, "cap-1")
        await attach(client, "cap-2")
        assert not service.attach.in_queue_group
        with pytest.raises(Exception, match="no replica available"):
            await request_attach(
                client, subjects.transcoder_attach(), AttachRequest(call_id="cap-3"), attempts=2
            )
        await service.detach("cap-1", "test")
        assert await attach(client, "cap-3")


async def test_matching_formats_need_no_conversion(bus: NatsClient, transcoder: RunningTranscoder) -> None:
    client = typed(bus)
    async with transcoder():
        reply = await request_attach(
            client,
            subjects.transcoder_attach(),
            AttachRequest(
                call_id="same-1",
                caller_format=AudioFormat.PCM24K,
                agent_in_format=AudioFormat.PCM24K,
                agent_out_format=AudioFormat.PCM24K,
            ),
        )
        assert reply.detail["routes"] == []


async def test_a_second_transcoder_process_shares_the_load(
    bus: NatsClient, nats_url: str, transcoder: RunningTranscoder
) -> None:
    client = typed(bus)
    attached: list[Event] = []

    async def on_event(event: Event) -> None:
        attached.append(event)

    await client.subscribe_events(subjects.ANY, on_event, ComponentAttached.type_name())
    env = {
        **os.environ,
        "TRANSCODER_NATS_URL": nats_url,
        "TRANSCODER_OPS_PORT": "0",
        "TRANSCODER_INSTANCE_ID": "second-process",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switchboard.transcoder.main", env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with transcoder(instance_id="first-process"):
            # wait until the second process serves too (its start, imports included, may take a while on a
            # busy machine): its attach replies name it
            instances: set[str] = set()
            i = -1
            async with asyncio.timeout(45):
                while len(instances) < 2 or i < 19:
                    i += 1
                    reply = await request_attach(
                        client, subjects.transcoder_attach(), AttachRequest(call_id=f"share-{i}")
                    )
                    instances.add(reply.instance)
                    await asyncio.sleep(0.02 if len(instances) == 2 else 0.1)
            assert instances == {"first-process", "second-process"}
            out = Collector()
            await bus.subscribe(subjects.audio(subjects.ANY, Direction.IN, AudioFormat.PCM24K), cb=out.on_msg)
            for n in range(i + 1):
                call_id = f"share-{n}"
                await client.publish_frame(
                    call_id, Direction.IN, AudioFormat.PCMU8K, AudioFrame(call_id, 0, 0, 0, 0, bytes(160))
                )
            await eventually(lambda: out.count() == i + 1)
            assert {e.instance for e in attached if isinstance(e, ComponentAttached)} == instances
    finally:
        process.terminate()
        _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()[-2000:]


async def test_on_shutdown_it_takes_no_new_calls_and_lets_current_ones_finish(
    bus: NatsClient, transcoder: RunningTranscoder
) -> None:
    client = typed(bus)
    stop_at_exit = transcoder(drain_timeout_s=10)
    service = await stop_at_exit.__aenter__()
    await attach(client, "drain-1")
    exiting = asyncio.create_task(stop_at_exit.__aexit__(None, None, None))
    await eventually(lambda: not service.attach.in_queue_group, what="left the queue group")
    with pytest.raises(AttachError):
        await request_attach(
            client, subjects.transcoder_attach(), AttachRequest(call_id="drain-2"), attempts=1
        )
    out = Collector()
    await bus.subscribe(subjects.audio("drain-1", Direction.IN, AudioFormat.PCM24K), cb=out.on_msg)
    await client.publish_frame(
        "drain-1", Direction.IN, AudioFormat.PCMU8K, AudioFrame("drain-1", 0, 0, 0, 0, bytes(160))
    )
    await eventually(lambda: out.count() == 1, what="the draining call is still served")
    assert not exiting.done()
    await client.publish_event("drain-1", MediaStopped(reason="stop"))
    await asyncio.wait_for(exiting, 10)

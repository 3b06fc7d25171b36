import asyncio

import pytest
from nats.aio.client import Client as NatsClient

from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import AudioFrame
from switchboard.common.bus.messages import CallEnded, Clear, Control, Event, TranscriptTurn
from switchboard.common.runtime.metrics import BusMetrics, new_registry

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def _bus(bus: NatsClient) -> Bus:
    return Bus(bus, BusMetrics(new_registry()))


async def test_malformed_messages_are_counted_and_skipped_and_the_subscription_goes_on(
    bus: NatsClient,
) -> None:
    typed = _bus(bus)
    received: list[AudioFrame] = []
    done = asyncio.Event()

    async def on_frame(frame: AudioFrame) -> None:
        received.append(frame)
        if len(received) == 2:
            done.set()

    await typed.subscribe_frames("mal-1", Direction.IN, AudioFormat.PCMU8K, on_frame)
    subject = subjects.audio("mal-1", Direction.IN, AudioFormat.PCMU8K)
    await typed.publish_frame(
        "mal-1", Direction.IN, AudioFormat.PCMU8K, AudioFrame("mal-1", 1, 0, 0, 0, b"a")
    )
    await bus.publish(subject, b"garbage")
    await bus.publish(subject, b"")
    await typed.publish_frame(
        "mal-1", Direction.IN, AudioFormat.PCMU8K, AudioFrame("mal-1", 2, 20, 0, 0, b"b")
    )
    await asyncio.wait_for(done.wait(), 5)
    assert [f.seq for f in received] == [1, 2]
    assert typed.metrics.malformed.labels("audio", "malformed")._value.get() == 2


async def test_a_failing_handler_does_not_end_the_subscription(bus: NatsClient) -> None:
    typed = _bus(bus)
    seen: list[int] = []
    done = asyncio.Event()

    async def on_control(message: Control) -> None:
        assert isinstance(message, Clear)
        seen.append(message.generation)
        if message.generation == 1:
            raise RuntimeError("boom")
        done.set()

    await typed.subscribe_control("h-1", on_control)
    await typed.publish_control("h-1", Clear(generation=1))
    await typed.publish_control("h-1", Clear(generation=2))
    await asyncio.wait_for(done.wait(), 5)
    assert seen == [1, 2]


async def test_events_are_stored_and_read_back_in_order(bus: NatsClient) -> None:
    typed = _bus(bus)
    live: list[Event] = []
    await typed.subscribe_events("hist-1", lambda e: _append(live, e))
    await typed.publish_event("hist-1", TranscriptTurn(role="agent", text="Hola"))
    await typed.publish_event("hist-1", TranscriptTurn(role="caller", text="Sí"))
    await typed.publish_event("hist-1", CallEnded(reason="done"), msg_id="hist-1-ended")
    await typed.publish_event("hist-1", CallEnded(reason="done"), msg_id="hist-1-ended")  # deduplicated
    history = await typed.call_history("hist-1")
    assert [type(e).__name__ for e in history] == ["TranscriptTurn", "TranscriptTurn", "CallEnded"]
    assert await typed.call_history("nobody") == []
    await asyncio.sleep(0.05)
    assert len(live) == 4  # live delivery is core NATS: the duplicate is only dropped by the stream


async def _append(into: list[Event], event: Event) -> None:
    into.append(event)

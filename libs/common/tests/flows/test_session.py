import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from nats.aio.client import Client as NatsClient

from switchboard.common.agent.model_session import ToolCall
from switchboard.common.agent.tools import ToolContext, ToolRegistry
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import Event, FieldCaptured
from switchboard.common.calls.record import CallRecord
from switchboard.common.calls.store import CallStore
from switchboard.common.flows.engine import NEXT_CONFIRM
from switchboard.common.flows.session import FlowSession
from switchboard.common.flows.spec import FlowSpec
from switchboard.common.flows.tools import flow_tools
from switchboard.common.profiles import Profile
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.eventually import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

NOW = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)
PROFILE_FILE = Path(__file__).parents[4] / "profiles" / "carrier-registration.yaml"
FLOW = FlowSpec.model_validate(yaml.safe_load(PROFILE_FILE.read_text(encoding="utf-8"))["flow"])
PROFILE = Profile(
    name="flowtest",
    provider="openai",
    model="gpt-realtime",
    instructions="Sé breve.",
    greeting="Saluda.",
    voice="coral",
    flow=FLOW,
)


async def setup(bus: NatsClient, call_id: str) -> tuple[Bus, CallStore]:
    typed = Bus(bus, BusMetrics(new_registry()))
    store = CallStore(await typed.js.key_value(subjects.CALLS_BUCKET))
    await store.create(
        CallRecord(
            call_id=call_id, direction="outbound", to_number="+15005550006", from_number="+1", profile="p"
        )
    )
    return typed, store


async def call(registry: ToolRegistry, context: ToolContext, name: str, words: str = "") -> dict[str, object]:
    arguments = {"caller_words": words} if words else {}
    outcome = await registry.run(ToolCall(f"c-{name}", name, arguments), context)
    return outcome.result


async def test_the_flow_state_lives_in_the_record_and_a_new_replica_resumes_at_the_same_field(
    bus: NatsClient,
) -> None:
    typed, store = await setup(bus, "flow-1")
    events: list[Event] = []

    async def on_event(event: Event) -> None:
        events.append(event)

    await typed.subscribe_events("flow-1", on_event, FieldCaptured.type_name())
    registry = ToolRegistry(flow_tools())
    first = FlowSession(FLOW, "flow-1", typed, store, clock=lambda: NOW)
    assert not await first.load()
    context = ToolContext("flow-1", PROFILE, first)
    assert (await call(registry, context, "flow_permission", "Sí, claro."))["ok"] is True
    await call(registry, context, "flow_capture", "Juan Pérez")
    await call(registry, context, "flow_confirm", "Sí.")
    result = await call(registry, context, "flow_capture", "uno dos tres")
    assert result["next"] == NEXT_CONFIRM

    record, _ = await store.get("flow-1")
    assert record.flow is not None and record.flow.phase == "fields" and record.flow.current == 1
    assert record.flow.awaiting == "confirmation"
    assert record.captured == {"driver_name": "Juan Pérez", "tractor_number": "123"}

    # The replica dies; another one takes the call over from the record.
    second = FlowSession(FLOW, "flow-1", typed, store, clock=lambda: NOW)
    assert await second.load()
    assert (
        second.engine.question().say == result["say"]
    )  # the read-back of the tractor number, not a new question
    context2 = ToolContext("flow-1", PROFILE, second)
    after = await call(registry, context2, "flow_confirm", "Sí.")
    assert after["say"] == "¿Y las placas del tractor?"
    name = second.state.field("driver_name")
    assert name is not None and name.confirmed and name.value == "Juan Pérez"

    # The old replica, still alive, cannot move the flow back: it is told where the flow is now.
    stale = await call(registry, context, "flow_confirm", "No.")
    assert stale["ok"] is False and stale["say"] == "¿Y las placas del tractor?"
    record, _ = await store.get("flow-1")
    assert record.flow is not None and record.flow.current == 2

    await eventually(lambda: len(events) >= 3)
    captured = [e for e in events if isinstance(e, FieldCaptured)]
    assert [(e.field, e.value, e.confirmed) for e in captured[:3]] == [
        ("driver_name", "Juan Pérez", False),
        ("driver_name", "Juan Pérez", True),
        ("tractor_number", "123", False),
    ]


async def test_the_outcome_is_written_to_the_record(bus: NatsClient) -> None:
    typed, store = await setup(bus, "flow-2")
    flow = FlowSession(FLOW, "flow-2", typed, store, clock=lambda: NOW)
    context = ToolContext("flow-2", PROFILE, flow)
    await call(ToolRegistry(flow_tools()), context, "flow_permission", "No, gracias, no puedo.")
    record, _ = await store.get("flow-2")
    assert record.outcome == "declined" and record.flow is not None and record.flow.phase == "done"


async def test_concurrent_tool_calls_of_one_call_run_one_at_a_time(bus: NatsClient) -> None:
    typed, store = await setup(bus, "flow-3")
    flow = FlowSession(FLOW, "flow-3", typed, store, clock=lambda: NOW)
    context = ToolContext("flow-3", PROFILE, flow)
    registry = ToolRegistry(flow_tools())
    await call(registry, context, "flow_permission", "Sí.")
    await asyncio.gather(*(call(registry, context, "flow_repeat") for _ in range(5)))
    record, _ = await store.get("flow-3")
    assert record.flow is not None and record.flow.step == 1

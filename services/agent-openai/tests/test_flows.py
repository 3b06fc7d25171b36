from pathlib import Path

import pytest
import yaml
from nats.aio.client import Client as NatsClient

from switchboard.common.bus import subjects
from switchboard.common.bus.messages import TranscriptTurn
from switchboard.common.calls.record import CallRecord
from switchboard.common.calls.store import CallStore
from switchboard.common.flows.state import FieldState, FlowState
from switchboard.common.profiles import Profile, ProfileStore
from switchboard.devkit.eventually import eventually
from switchboard.sim.flow_following import carrier_registration
from switchboard.sim.openai_realtime import OpenAIRealtimeEmulator
from switchboard.sim.openai_realtime.script import english_receptionist, with_scenarios

from .conftest import OpenLine, RunningAgent, typed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

DAISY_FILE = Path(__file__).parents[3] / "profiles" / "carrier-registration.yaml"


async def test_a_flow_call_taken_over_goes_on_at_the_same_field_without_a_greeting(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator, bus: NatsClient
) -> None:
    daisy = Profile.model_validate(
        {"name": "daisy", **yaml.safe_load(DAISY_FILE.read_text(encoding="utf-8"))}
    )
    await ProfileStore(await typed(bus).js.key_value(subjects.PROFILES_BUCKET)).put(daisy)
    calls = CallStore(await typed(bus).js.key_value(subjects.CALLS_BUCKET))
    flow = FlowState(
        phase="fields",
        current=1,
        fields=[
            FieldState(id="driver_name", raw=["Juan Pérez"], value="Juan Pérez", confirmed=True, attempts=1)
        ],
        step=3,
    )
    await calls.create(
        CallRecord(
            call_id="oa-flow",
            direction="outbound",
            to_number="+1",
            from_number="+1",
            profile="daisy",
            flow=flow,
        )
    )
    emulator.script = with_scenarios(english_receptionist(), (carrier_registration(),))
    async with agent(), line("oa-flow") as call:
        for turn in (
            TranscriptTurn(role="agent", text="¿Tiene un par de minutos ahorita?", generation=1),
            TranscriptTurn(role="caller", text="Sí, claro, dígame."),
            TranscriptTurn(role="agent", text="¿Me puede dar su nombre completo, por favor?", generation=2),
            TranscriptTurn(role="caller", text="Me llamo Juan Pérez."),
            TranscriptTurn(role="agent", text="Anoté Juan Pérez. ¿Es correcto?", generation=3),
            TranscriptTurn(role="caller", text="Sí, correcto."),
        ):
            await call.bus.publish_event("oa-flow", turn)
        await call.attach("daisy", resume=True, first_generation=5)
        await eventually(lambda: call.finished(5), 20, what="the first resumed response played out")
        session = await emulator.wait_for_session(0)
    assert session.responses[0].text == "Perdone, se cortó un momento. ¿Cuál es el número de tractor?"
    assert [tool["name"] for tool in session.config["tools"]][:4] == [
        "end_call",
        "flow_permission",
        "flow_capture",
        "flow_confirm",
    ]

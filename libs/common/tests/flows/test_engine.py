from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from switchboard.common.flows.engine import NEXT_ANSWER, NEXT_CONFIRM, NEXT_END, NEXT_PERMISSION, FlowEngine
from switchboard.common.flows.spec import FlowSpec

pytestmark = pytest.mark.unit

PROFILE = Path(__file__).parents[4] / "profiles" / "carrier-registration.yaml"
NOW = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)  # 10:00 in Mexico City


def spec() -> FlowSpec:
    return FlowSpec.model_validate(yaml.safe_load(PROFILE.read_text(encoding="utf-8"))["flow"])


def accepted() -> FlowEngine:
    engine = FlowEngine(spec())
    step = engine.permission("Sí, claro, dígame.", NOW)
    assert step.next == NEXT_ANSWER and "nombre completo" in step.say
    return engine


def answer(engine: FlowEngine, words: str, confirmation: str = "Sí, correcto.") -> None:
    assert engine.capture(words, NOW).next == NEXT_CONFIRM
    engine.confirm(confirmation)


def test_a_whole_registration_confirms_each_field_then_reads_the_record_back() -> None:
    engine = accepted()
    step = engine.capture("Me llamo Juan Pérez", NOW)
    assert step.say == "Anoté Juan Pérez. ¿Es correcto?" and step.next == NEXT_CONFIRM
    step = engine.confirm("Sí, correcto.")
    assert step.say == "¿Cuál es el número de tractor?"
    answer(engine, "uno dos tres")
    answer(engine, "ABC 1234")
    answer(engine, "cuatro cinco seis")
    answer(engine, "XYZ 9876")
    step = engine.capture("a las 14:30", NOW)
    assert step.say == "Llegada a las catorce treinta. ¿Es correcto?" and step.next == NEXT_CONFIRM
    step = engine.confirm("Sí.")
    assert step.next == NEXT_CONFIRM and step.say.startswith(
        "Le confirmo el registro: nombre completo: Juan Pérez"
    )
    assert "placas del tráiler" in step.say
    step = engine.confirm("Sí, todo bien.")
    assert step.next == NEXT_END and "quedó guardado" in step.say
    state = engine.state
    assert state.outcome == "completed" and state.phase == "done"
    values = {f.id: (f.value, f.confirmed) for f in state.fields}
    assert values == {
        "driver_name": ("Juan Pérez", True),
        "tractor_number": ("123", True),
        "tractor_plates": ("ABC1234", True),
        "trailer_number": ("456", True),
        "trailer_plates": ("XYZ9876", True),
        "eta": ("14:30", True),
    }


def test_a_correction_replaces_the_value_and_keeps_every_utterance() -> None:
    engine = accepted()
    answer(engine, "Juan Pérez")
    engine.capture("uno dos tres", NOW)
    step = engine.confirm("No, está mal.")
    assert step.say == "¿Cuál es el número de tractor?" and step.next == NEXT_ANSWER
    answer(engine, "uno dos cuatro")
    tractor = engine.state.field("tractor_number")
    assert tractor is not None
    assert (tractor.value, tractor.confirmed, tractor.attempts) == ("124", True, 2)
    assert tractor.raw == ["uno dos tres", "No, está mal.", "uno dos cuatro"]


def test_a_field_that_fails_every_attempt_is_kept_unconfirmed_and_the_flow_moves_on() -> None:
    engine = accepted()
    answer(engine, "Juan Pérez")
    step = engine.capture("este", NOW)
    assert step.say.startswith("Perdone, no le entendí bien.") and step.next == NEXT_ANSWER
    engine.capture("pues", NOW)
    step = engine.capture("mmm no me acuerdo", NOW)
    assert step.say.startswith("Vale, lo dejo anotado así") and step.say.endswith(
        "¿Y las placas del tractor?"
    )
    tractor = engine.state.field("tractor_number")
    assert tractor is not None and tractor.value is None and not tractor.confirmed and tractor.attempts == 3


def test_a_repeat_request_repeats_the_question_and_costs_no_attempt() -> None:
    engine = accepted()
    step = engine.capture("¿Cómo? No entendí, repítame por favor.", NOW)
    assert step.say == "¿Me puede dar su nombre completo, por favor?" and not step.state_changed
    assert engine.repeat().say == step.say
    name = engine.state.field("driver_name")
    assert name is not None and name.attempts == 0


@pytest.mark.parametrize(
    ("words", "outcome"),
    [
        ("No, ahorita no puedo, gracias.", "declined"),
        ("Mejor mándemelo por correo.", "email_requested"),
        ("Mándeme un WhatsApp mejor.", "whatsapp_requested"),
    ],
)
def test_permission_answers_that_end_the_call(words: str, outcome: str) -> None:
    engine = FlowEngine(spec())
    step = engine.permission(words, NOW)
    assert step.next == NEXT_END and engine.state.outcome == outcome and engine.state.phase == "done"


def test_a_call_back_keeps_the_absolute_time_asked_for() -> None:
    engine = FlowEngine(spec())
    step = engine.permission("Ahorita voy manejando, llámeme en veinte minutos.", NOW)
    assert step.next == NEXT_END and engine.state.outcome == "call_back"
    assert datetime.fromisoformat(engine.state.call_back_at) == datetime(2026, 12, 5, 16, 20, tzinfo=UTC)


def test_the_wrong_tool_is_refused_with_what_to_do_now() -> None:
    engine = FlowEngine(spec())
    step = engine.confirm("sí")
    assert step.error and step.next == NEXT_PERMISSION and not step.state_changed
    assert step.result()["ok"] is False


def test_a_wrong_record_asks_which_field_and_corrects_only_that_one() -> None:
    engine = accepted()
    for words in ("Juan Pérez", "uno dos tres", "ABC 1234", "cuatro cinco seis", "XYZ 9876", "a las 14:30"):
        answer(engine, words)
    step = engine.confirm("No, las placas del tráiler están mal.")
    assert step.say == "¿Qué dato hay que corregir?"
    step = engine.capture("Las placas del tráiler", NOW)
    assert step.say == "¿Y las placas del tráiler?"
    answer(engine, "XYZ 9875")
    assert engine.state.phase == "final"
    plates = engine.state.field("trailer_plates")
    assert plates is not None and plates.value == "XYZ9875" and plates.confirmed


def test_a_call_back_without_a_time_asks_when_and_a_day_is_said_back() -> None:
    engine = FlowEngine(spec())
    assert (
        engine.permission("Ahorita no, llámeme más tarde.", NOW).say
        == "Claro. ¿A qué hora le podemos llamar?"
    )
    step = engine.permission("mañana a las nueve", NOW)
    assert step.next == NEXT_END and "mañana a las nueve" in step.say
    assert datetime.fromisoformat(engine.state.call_back_at) == datetime(2026, 12, 6, 15, 0, tzinfo=UTC)


def test_a_call_back_starts_at_the_first_field_not_confirmed_before() -> None:
    from switchboard.common.flows.state import FieldState, FlowState

    fields = [FieldState(id=f.id) for f in spec().fields]
    fields[0] = FieldState(
        id=fields[0].id, raw=["Juan Pérez"], value="Juan Pérez", confirmed=True, attempts=1
    )
    fields[1] = FieldState(id=fields[1].id, raw=["uno dos tres"], value="123", confirmed=True, attempts=1)
    engine = FlowEngine(spec(), FlowState(fields=fields))
    step = engine.permission("Sí, ya puedo.", NOW)
    assert step.next == NEXT_ANSWER and "placas del tractor" in step.say.lower()
    assert "nombre completo" not in step.say and engine.state.current == 2

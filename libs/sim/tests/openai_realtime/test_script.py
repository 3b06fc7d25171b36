import json

import pytest

from switchboard.sim.openai_realtime import (
    FunctionCallSpec,
    Script,
    Turn,
    english_receptionist,
    spanish_receptionist,
)

pytestmark = pytest.mark.unit


def test_turns_are_numbered_from_one_and_fall_back_past_the_end() -> None:
    script = Script(greeting="Hi.", turns=(Turn("First.", "Reply one."),), fallback_reply="Pardon?")

    assert (script.caller_transcript(1), script.reply_to(1, "First.")) == ("First.", "Reply one.")
    assert (script.caller_transcript(2), script.reply_to(2, "")) == ("", "Pardon?")
    assert script.turn(0) is None


def test_a_responder_answers_every_turn_from_its_transcript() -> None:
    script = Script(
        greeting="Hi.", turns=(Turn("First.", "Ignored."),), responder=lambda heard: f"You said: {heard}"
    )

    assert script.reply_to(1, "First.") == "You said: First."
    assert script.reply_to(7, "Later.") == "You said: Later."


def test_the_reply_after_a_function_call_can_use_its_output() -> None:
    spec = FunctionCallSpec("lookup", {"id": 7, "name": "Ana"}, reply_after=lambda output: f"Found {output}.")
    script = Script(greeting="Hi.", turns=(Turn("Find Ana.", "One moment.", spec), Turn("Thanks.", "Bye.")))

    assert script.function_call(1) is spec and script.function_call(2) is None
    assert json.loads(spec.arguments_json()) == {"id": 7, "name": "Ana"}
    assert script.reply_after_function(1, "Find Ana.", "room 3") == "Found room 3."
    plain = Script(greeting="Hi.", turns=(Turn("Find Ana.", "One moment.", FunctionCallSpec("lookup")),))
    assert plain.reply_after_function(1, "Find Ana.", "x") == "One moment."


@pytest.mark.parametrize(
    ("instructions", "asks"),
    [("Greet the caller.", True), ("Saluda al cliente", True), ("Say goodbye.", False), (None, False)],
)
def test_greeting_requests_are_recognized(instructions: str | None, asks: bool) -> None:
    assert english_receptionist().asks_to_greet(instructions) is asks


def test_the_receptionists_speak_their_language() -> None:
    english, spanish = english_receptionist(), spanish_receptionist()

    assert english.language == "en" and spanish.language == "es"
    assert len(english.turns) == len(spanish.turns) >= 3
    assert "¿" in spanish.greeting

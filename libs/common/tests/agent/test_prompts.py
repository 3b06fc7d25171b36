import pytest

from switchboard.common.agent.prompts import (
    conversation_so_far,
    handover_instructions,
    handover_profile,
    opening_prompt,
)
from switchboard.common.bus.messages import BargeIn, Event, TranscriptTurn
from switchboard.common.profiles import Profile

pytestmark = pytest.mark.unit

PROFILE = Profile(
    name="test",
    provider="gemini",
    model="gemini-live",
    instructions="Eres Ana, recepcionista.",
    greeting="Saluda y ofrece ayuda.",
    voice="Kore",
    language="es-MX",
)


def test_a_new_call_opens_with_the_profile_greeting() -> None:
    assert opening_prompt(PROFILE) == (
        "The phone call has just been connected and the caller is listening. Speak first: Saluda y ofrece ayuda."
    )


def test_a_resumed_call_opens_with_an_apology_and_no_greeting() -> None:
    prompt = opening_prompt(PROFILE, resumed=True)
    assert "Saluda" not in prompt
    assert "apologise briefly" in prompt and "Do not greet the caller again" in prompt


def test_the_conversation_so_far_is_the_transcript_turns_one_line_each() -> None:
    events: list[Event] = [
        BargeIn(generation=1, played_ms=0),
        TranscriptTurn(role="agent", text="Buenos días.", generation=1),
        TranscriptTurn(role="caller", text="  Quiero   una\ncita. "),
        TranscriptTurn(role="agent", text="¿Qué día", generation=2, interrupted=True),
        TranscriptTurn(role="agent", text="", generation=3, interrupted=True),
        TranscriptTurn(role="caller", text=" "),
    ]
    assert conversation_so_far(events) == (
        "Agent: Buenos días.\n"
        "Caller: Quiero una cita.\n"
        "Agent (cut off by the caller; this is all they heard): ¿Qué día\n"
        "Agent (cut off by the caller before saying anything)"
    )


def test_a_long_conversation_keeps_its_most_recent_turns() -> None:
    events = [TranscriptTurn(role="caller", text=f"turn {n:03d}") for n in range(300)]
    text = conversation_so_far(events, max_chars=200)
    lines = text.splitlines()
    assert lines[0] == "(earlier turns left out)"
    assert lines[-1] == "Caller: turn 299"
    assert len(text) <= 200 + len(lines[0]) + 1
    assert [int(line.rsplit(" ", 1)[1]) for line in lines[1:]] == list(range(300 - len(lines) + 1, 300))


def test_a_single_overlong_turn_keeps_its_end() -> None:
    text = conversation_so_far([TranscriptTurn(role="caller", text="a" * 500 + " the end")], max_chars=100)
    assert text.startswith("Caller: …aaa")
    assert text.endswith("aaa the end") and len(text) == 100


def test_the_handover_profile_adds_the_conversation_to_the_instructions_and_nothing_else() -> None:
    resumed = handover_profile(PROFILE, "Caller: Hola.")
    assert resumed.instructions == handover_instructions(PROFILE.instructions, "Caller: Hola.")
    assert resumed.instructions.startswith("Eres Ana, recepcionista.\n\n# This call was handed over to you\n")
    assert resumed.instructions.endswith("the most recent turn last:\nCaller: Hola.")
    assert resumed.model_copy(update={"instructions": PROFILE.instructions}) == PROFILE
    assert "Nothing had been said yet." in handover_instructions("x", "")
    assert "not available" in handover_instructions("x", None)

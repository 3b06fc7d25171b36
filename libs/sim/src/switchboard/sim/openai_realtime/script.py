"""What the emulated model hears and says: a scripted conversation.

User turns are numbered by how many user messages the conversation holds, so a client that reconnects and
replays its history continues the script where it was instead of starting over.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from switchboard.sim.flow_following import FlowScenario, caller_turns_before

Reply = str | Callable[[str], str]
"""A fixed line, or a function from what was said (a transcript, or a tool's output) to the line."""


@dataclass(frozen=True, slots=True)
class FunctionCallSpec:
    """On its turn, the model calls `name` with `arguments` instead of answering.

    Once the client returns the function's output and asks for a response, the model says `reply_after` (a
    line, or a function of the output), or the turn's own reply when it is not set.
    """

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    reply_after: Reply | None = None

    def arguments_json(self) -> str:
        """The arguments as the JSON string the protocol carries."""
        return json.dumps(dict(self.arguments), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange: what the caller says (the scripted transcript) and what the model answers."""

    caller_says: str
    reply: str
    function_call: FunctionCallSpec | None = None


@dataclass(frozen=True, slots=True)
class Script:
    """A conversation for the emulated model.

    `turns[n]` is user turn n + 1. Past the last turn the caller's words transcribe as `unscripted_transcript`
    and the model answers `fallback_reply`. `responder`, when set, answers every user turn from its transcript
    instead of the turns' replies. `language` is the synthesis voice of the model's replies (and of a caller
    speaking the script, see `caller_audio`).
    """

    greeting: str
    turns: tuple[Turn, ...] = ()
    fallback_reply: str = "Sorry, could you say that again?"
    unscripted_transcript: str = ""
    responder: Callable[[str], str] | None = None
    language: str = "en"
    greet_words: tuple[str, ...] = ("greet", "welcome", "saluda", "saludo", "bienvenida")
    follows_flow: bool = False
    """Answer each caller turn through the flow tools (see `switchboard.sim.flow_following`).

    The turns then only say what the caller is heard saying."""
    variants: tuple[tuple[str, Script], ...] = ()
    """(phrase, script): a session whose instructions contain the phrase plays that script instead."""

    def for_instructions(self, instructions: str | None) -> Script:
        """The script a session with these instructions plays."""
        text = instructions or ""
        return next((script for phrase, script in self.variants if phrase in text), self)

    def caller_turn_number(self, number: int, instructions: str | None) -> int:
        """The script's turn for the session's user turn `number`.

        A flow call taken over from another replica goes on from its handed-over conversation.
        """
        return number + caller_turns_before(instructions) if self.follows_flow else number

    def turn(self, number: int) -> Turn | None:
        """User turn `number` (1-based), if the script has it."""
        return self.turns[number - 1] if 1 <= number <= len(self.turns) else None

    def caller_transcript(self, number: int) -> str:
        """What the transcription of user turn `number` says."""
        turn = self.turn(number)
        return turn.caller_says if turn else self.unscripted_transcript

    def reply_to(self, number: int, transcript: str) -> str:
        """The model's answer to user turn `number`."""
        if self.responder is not None:
            return self.responder(transcript)
        turn = self.turn(number)
        return turn.reply if turn else self.fallback_reply

    def function_call(self, number: int) -> FunctionCallSpec | None:
        """The function the model calls on user turn `number`, if any."""
        turn = self.turn(number)
        return turn.function_call if turn else None

    def reply_after_function(self, number: int, transcript: str, output: str) -> str:
        """The model's answer once the function called on turn `number` returned `output`."""
        spec = self.function_call(number)
        if spec is not None and spec.reply_after is not None:
            return spec.reply_after if isinstance(spec.reply_after, str) else spec.reply_after(output)
        return self.reply_to(number, transcript)

    def asks_to_greet(self, instructions: str | None) -> bool:
        """Whether response instructions ask for the greeting."""
        lowered = (instructions or "").lower()
        return any(word in lowered for word in self.greet_words)


def flow_script(scenario: FlowScenario) -> Script:
    """A model that follows a profile's flow, hearing the scenario's caller lines in order."""
    return Script(
        greeting=scenario.greeting,
        turns=tuple(Turn(line, "") for line in scenario.caller_lines),
        fallback_reply="",
        unscripted_transcript=scenario.fallback_line,
        language=scenario.language,
        follows_flow=True,
    )


def with_scenarios(script: Script, scenarios: tuple[FlowScenario, ...]) -> Script:
    """`script`, playing each scenario's flow script in sessions whose instructions match it."""
    return replace(script, variants=tuple((scenario.match, flow_script(scenario)) for scenario in scenarios))


def english_receptionist() -> Script:
    """The default script: a dental clinic receptionist booking a cleaning."""
    return Script(
        greeting="Thank you for calling Bright Smile Dental. This is Ava. How can I help you today?",
        turns=(
            Turn(
                "Hi, I would like to book a cleaning next week.", "Of course. Which day works best for you?"
            ),
            Turn("Tuesday morning, please.", "I have Tuesday at nine thirty. Shall I book it for you?"),
            Turn(
                "Yes, that is perfect.", "You are all set for Tuesday at nine thirty. Anything else I can do?"
            ),
            Turn("No, that is all. Thank you.", "Thank you for calling. Have a lovely day. Goodbye!"),
        ),
        fallback_reply="Sorry, I did not catch that. Could you say it again?",
        language="en",
    )


def spanish_receptionist() -> Script:
    """The same receptionist, in Spanish."""
    return Script(
        greeting="Gracias por llamar a Clínica Dental Sonrisa. Le atiende Ana. ¿En qué puedo ayudarle?",
        turns=(
            Turn(
                "Hola, quería pedir cita para una limpieza la semana que viene.",
                "Claro. ¿Qué día le viene mejor?",
            ),
            Turn(
                "El martes por la mañana, por favor.", "Tengo el martes a las nueve y media. ¿Se la reservo?"
            ),
            Turn("Sí, perfecto.", "Queda reservada el martes a las nueve y media. ¿Algo más?"),
            Turn("No, eso es todo. Gracias.", "Gracias por llamar. Que tenga un buen día. ¡Adiós!"),
        ),
        fallback_reply="Perdone, no le he entendido. ¿Puede repetirlo?",
        language="es",
    )

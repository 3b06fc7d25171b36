"""What the emulated model says and what it pretends to hear: a small, declarative conversation script."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from switchboard.sim.flow_following import FlowScenario, caller_turns_before

if TYPE_CHECKING:
    from switchboard.sim.gemini_live.session import LiveSession


@dataclass(frozen=True, slots=True)
class ScriptedToolCall:
    """A function call the model makes before it answers a caller turn."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    """Everything a reply callable may look at to choose what the model says."""

    caller_turn: int
    """Index of the caller turn being answered (0 for the first thing the caller said)."""
    transcript: str
    """What the caller said, as scripted (or the text sent with `clientContent`)."""
    tool_responses: tuple[Mapping[str, Any], ...]
    """The `functionResponses` the client sent for this turn's tool calls, in order."""
    session: LiveSession


Replies = Sequence[str] | Callable[[ReplyRequest], str]


@dataclass(slots=True)
class GeminiScript:
    """A scripted conversation.

    The first `clientContent` turn that asks for a reply is answered with `greeting` (the model does not speak
    first on its own). Each later caller turn `n` (an utterance detected in the audio, or a text turn) is heard
    as `caller_transcripts[n]`, may trigger `tool_calls[n]`, and is answered with `replies[n]` or
    `replies(request)`. Past the end of a sequence the `fallback_*` text is used.
    """

    greeting: str
    replies: Replies
    caller_transcripts: Sequence[str]
    tool_calls: Mapping[int, Sequence[ScriptedToolCall]] = field(default_factory=dict)
    language: str = "en"
    fallback_reply: str = "Is there anything else I can help you with?"
    fallback_transcript: str = "Okay."
    follows_flow: bool = False
    """Answer each caller turn through the flow tools (see `switchboard.sim.flow_following`); the replies and
    tool calls are then decided by the flow's results."""
    variants: tuple[tuple[str, GeminiScript], ...] = ()
    """(phrase, script): a session whose system instruction contains the phrase plays that script instead."""

    def for_instructions(self, instructions: str | None) -> GeminiScript:
        """The script a session with this system instruction plays."""
        text = instructions or ""
        return next((script for phrase, script in self.variants if phrase in text), self)

    def caller_turn_index(self, caller_turn: int, instructions: str | None) -> int:
        """The script's index for the session's caller turn (a flow call taken over goes on from there)."""
        return caller_turn + caller_turns_before(instructions) if self.follows_flow else caller_turn

    @classmethod
    def flow_following(cls, scenario: FlowScenario) -> GeminiScript:
        """A model that follows a profile's flow, hearing the scenario's caller lines in order."""
        return cls(
            greeting=scenario.greeting,
            replies=(),
            caller_transcripts=scenario.caller_lines,
            language=scenario.language,
            fallback_transcript=scenario.fallback_line,
            follows_flow=True,
        )

    def with_scenarios(self, scenarios: tuple[FlowScenario, ...]) -> GeminiScript:
        """Play each scenario's flow in sessions whose instructions match it."""
        self.variants = tuple(
            (scenario.match, GeminiScript.flow_following(scenario)) for scenario in scenarios
        )
        return self

    def transcript_for(self, caller_turn: int) -> str:
        """What the caller is heard saying on turn `caller_turn`."""
        if 0 <= caller_turn < len(self.caller_transcripts):
            return self.caller_transcripts[caller_turn]
        return self.fallback_transcript

    def tool_calls_for(self, caller_turn: int) -> Sequence[ScriptedToolCall]:
        """The function calls the model makes before answering `caller_turn`."""
        return self.tool_calls.get(caller_turn, ())

    def reply_for(self, request: ReplyRequest) -> str:
        """What the model says in answer to `request`."""
        if callable(self.replies):
            return self.replies(request)
        if 0 <= request.caller_turn < len(self.replies):
            return self.replies[request.caller_turn]
        return self.fallback_reply

    @classmethod
    def english_receptionist(cls) -> GeminiScript:
        """A dental clinic's receptionist booking an appointment, in English."""
        return cls(
            greeting="Thank you for calling Northwind Dental, this is Ava. How can I help you today?",
            caller_transcripts=(
                "Hi, I'd like to book a cleaning appointment.",
                "My name is Alex Rivera.",
                "Tuesday morning works for me.",
                "No, that's all. Thank you!",
            ),
            replies=(
                "Of course, I'd be happy to help you book a cleaning. May I have your name, please?",
                "Thank you, Alex. We have openings on Tuesday morning and Thursday afternoon. "
                "Which would you prefer?",
                "You're booked for Tuesday at nine in the morning. Is there anything else I can help you with?",
                "You're welcome, Alex. Have a great day. Goodbye!",
            ),
            language="en",
        )

    @classmethod
    def spanish_receptionist(cls) -> GeminiScript:
        """The same receptionist, in Spanish."""
        return cls(
            greeting="Gracias por llamar a Clínica Dental Norte, le atiende Ana. ¿En qué puedo ayudarle?",
            caller_transcripts=(
                "Hola, quisiera pedir una cita para una limpieza.",
                "Me llamo Alex Rivera.",
                "El martes por la mañana me viene bien.",
                "No, eso es todo. ¡Gracias!",
            ),
            replies=(
                "Claro, con mucho gusto le ayudo a reservar una limpieza. ¿Me dice su nombre, por favor?",
                "Gracias, Alex. Tenemos huecos el martes por la mañana y el jueves por la tarde. ¿Cuál prefiere?",
                "Queda reservado el martes a las nueve de la mañana. ¿Puedo ayudarle en algo más?",
                "De nada, Alex. Que tenga un buen día. ¡Adiós!",
            ),
            language="es",
            fallback_reply="¿Puedo ayudarle en algo más?",
            fallback_transcript="Vale.",
        )

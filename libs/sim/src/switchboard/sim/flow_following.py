"""How an emulated model follows a Switchboard conversation flow, and the scenarios it can play.

A real speech-to-speech model given the flow tools does this: after each caller turn it calls the flow tool the
last result named, with the caller's words; it says the result's `say`; when the result says the conversation
is over, it says goodbye and calls `end_call`. The emulated models do the same, deterministically, so a profile
with a `flow:` runs the real flow engine through the real tools offline.

A scenario is what the emulated model hears: the caller's lines, in order, for a profile (picked by a phrase of
the profile's instructions). The demo command speaks the same lines, so transcripts match what was said.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FLOW_TOOLS = ("flow_permission", "flow_capture", "flow_confirm", "flow_repeat")
_ANSWER_TOOLS = ("flow_permission", "flow_capture", "flow_confirm")


@dataclass(frozen=True, slots=True)
class FlowScenario:
    """A caller's side of a conversation with a flow profile, for the emulated models and the demo."""

    name: str
    match: str
    """A phrase of the profile's instructions: sessions whose instructions contain it play this scenario."""
    greeting: str
    caller_lines: tuple[str, ...]
    language: str = "es"
    fallback_line: str = "Sí."


def flow_output(output: str | Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A flow tool's result (it has `say` and `next`), or None when `output` is something else."""
    if isinstance(output, str):
        try:
            decoded = json.loads(output)
        except ValueError:
            return None
    else:
        decoded = output
    if isinstance(decoded, Mapping) and "say" in decoded and "next" in decoded:
        return decoded
    return None


def next_tool(last: Mapping[str, Any] | None) -> str:
    """The flow tool the caller's next words go to: the one the last result named (at first, permission)."""
    if last is None:
        return "flow_permission"
    hint = str(last.get("next", ""))
    return next((name for name in _ANSWER_TOOLS if name in hint), "flow_capture")


def conversation_over(result: Mapping[str, Any]) -> bool:
    """Whether the result tells the model to end the call."""
    return "end_call" in str(result.get("next", ""))


def carrier_registration() -> FlowScenario:
    """The reference scenario: a driver gives the six fields and corrects the trailer number once."""
    return FlowScenario(
        name="carrier-registration",
        match="Eres Daisy",
        greeting=(
            "¡Hola, buen día! Le habla Daisy, del área de despacho. Le llamo para registrar los datos de su "
            "viaje; son solo unos cuantos datos. ¿Tiene un par de minutos ahorita?"
        ),
        caller_lines=(
            "Sí, claro, dígame.",
            "Me llamo Juan Pérez.",
            "Sí, correcto.",
            "Es el uno dos tres.",
            "Sí.",
            "ABC 1234.",
            "Sí, correcto.",
            "El cuatro cinco seis.",
            "No, perdón, está mal.",
            "Cuatro cinco siete.",
            "Sí.",
            "XYZ 9876.",
            "Sí.",
            "A las dos y media de la tarde.",
            "Sí, correcto.",
            "Sí, todo bien.",
        ),
    )


def scenarios() -> tuple[FlowScenario, ...]:
    """Every scenario the emulators know."""
    return (carrier_registration(),)


def scenario_for(instructions: str | None, known: tuple[FlowScenario, ...]) -> FlowScenario | None:
    """The scenario whose phrase the session's instructions contain."""
    text = instructions or ""
    return next((scenario for scenario in known if scenario.match in text), None)


def caller_turns_before(instructions: str | None) -> int:
    """Caller turns of a call handed over from another agent replica, as its instructions carry them.

    A session that takes a call over starts with the conversation so far in its instructions (one
    ``Caller: …`` line per caller turn); the scenario goes on from the line after those.
    """
    return sum(1 for line in (instructions or "").splitlines() if line.startswith("Caller: "))


def resumed_opening(prompt: str | None) -> str | None:
    """What a taken-over call's opening asks to say after the apology (between « »), if it asks."""
    text = prompt or ""
    start, end = text.find("«"), text.rfind("»")
    if start < 0 or end <= start:
        return None
    return f"Perdone, se cortó un momento. {text[start + 1 : end]}"

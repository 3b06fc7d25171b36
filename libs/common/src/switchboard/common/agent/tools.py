"""The built-in tools both agents offer their model: end the call, transfer it, send DTMF."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from switchboard.common.agent.model_session import ToolCall
from switchboard.common.profiles import Profile


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model sees it: name, description and JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


END_CALL = ToolSpec(
    name="end_call",
    description=(
        "End the phone call. Say goodbye first, in the same turn; the line is closed once the goodbye has played."
    ),
    parameters={
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "Why the call ends, in a few words"}},
        "required": [],
    },
)
TRANSFER_CALL = ToolSpec(
    name="transfer_call",
    description="Transfer the caller to a human colleague. Tell the caller first that you are transferring them.",
    parameters={"type": "object", "properties": {}, "required": []},
)
SEND_DTMF = ToolSpec(
    name="send_dtmf",
    description="Press phone keys (digits 0-9, * and #), e.g. to navigate a phone menu.",
    parameters={
        "type": "object",
        "properties": {"digits": {"type": "string", "description": "The keys to press, e.g. '1' or '123#'"}},
        "required": ["digits"],
    },
)
_BUILT_IN = {spec.name: spec for spec in (END_CALL, TRANSFER_CALL, SEND_DTMF)}
_DTMF = re.compile(r"[0-9*#wW]{1,32}")


def tools_for(profile: Profile) -> list[ToolSpec]:
    """The tools a profile enables (transfer only when the profile has a number to transfer to)."""
    return [_BUILT_IN[name] for name in profile.tools if name != "transfer_call" or profile.transfer_to]


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What running a tool gives the model back, and what the call must do next."""

    result: dict[str, Any]
    hangup_reason: str | None = None
    transfer_to: str | None = None
    dtmf: str | None = None
    respond: bool = True


def run_tool(call: ToolCall, profile: Profile) -> ToolOutcome:
    """Decide a built-in tool call; unknown tools and bad arguments get an error result the model can read."""
    enabled = {spec.name for spec in tools_for(profile)}
    if call.name not in enabled:
        return ToolOutcome({"ok": False, "error": f"unknown tool {call.name!r}"})
    if call.name == "end_call":
        reason = str(call.arguments.get("reason") or "agent_end_call")[:200]
        return ToolOutcome(
            {"ok": True, "status": "the call ends after your goodbye"}, hangup_reason=reason, respond=False
        )
    if call.name == "transfer_call":
        return ToolOutcome(
            {"ok": True, "status": "transferring"}, transfer_to=profile.transfer_to, respond=False
        )
    digits = str(call.arguments.get("digits", ""))
    if not _DTMF.fullmatch(digits):
        return ToolOutcome({"ok": False, "error": "digits must be 1-32 of 0-9, *, #"})
    return ToolOutcome({"ok": True, "sent": digits}, dtmf=digits)

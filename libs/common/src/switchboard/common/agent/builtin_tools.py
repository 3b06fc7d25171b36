"""The built-in tools: end the call, transfer it, press phone keys; registered like any other tool."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from switchboard.common.agent.tools import Tool, ToolContext, ToolError, ToolOutcome, ToolSpec
from switchboard.common.profiles import Profile

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
_DTMF = re.compile(r"[0-9*#wW]{1,32}")


async def end_call(arguments: Mapping[str, Any], _: ToolContext) -> ToolOutcome:
    """Hang up once the goodbye has played."""
    reason = str(arguments.get("reason") or "agent_end_call")[:200]
    return ToolOutcome(
        {"ok": True, "status": "the call ends after your goodbye"}, hangup_reason=reason, respond=False
    )


async def transfer_call(_: Mapping[str, Any], context: ToolContext) -> ToolOutcome:
    """Transfer to the profile's number once the announcement has played."""
    if not context.profile.transfer_to:
        raise ToolError("there is no number to transfer to")
    return ToolOutcome(
        {"ok": True, "status": "transferring"}, transfer_to=context.profile.transfer_to, respond=False
    )


async def send_dtmf(arguments: Mapping[str, Any], _: ToolContext) -> ToolOutcome:
    """Press keys on the line."""
    digits = str(arguments.get("digits", ""))
    if not _DTMF.fullmatch(digits):
        raise ToolError("digits must be 1-32 of 0-9, *, #")
    return ToolOutcome({"ok": True, "sent": digits}, dtmf=digits)


def _listed(name: str) -> Callable[[Profile], bool]:
    def offered(profile: Profile) -> bool:
        return name in profile.tools

    return offered


def _transfer_offered(profile: Profile) -> bool:
    """Transfer is offered only when the profile lists it and has a number to transfer to."""
    return "transfer_call" in profile.tools and bool(profile.transfer_to)


def built_in_tools() -> list[Tool]:
    """end_call, transfer_call and send_dtmf, each offered when the profile's `tools` lists it."""
    return [
        Tool(END_CALL, end_call, _listed("end_call")),
        Tool(TRANSFER_CALL, transfer_call, _transfer_offered),
        Tool(SEND_DTMF, send_dtmf, _listed("send_dtmf")),
    ]

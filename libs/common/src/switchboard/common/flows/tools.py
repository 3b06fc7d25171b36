"""The flow tools: one fixed set for the whole call, whatever the flow's phase.

Gemini Live cannot change tools mid-session, so the set never changes. Each tool passes the caller's own words to
the flow engine and answers with what to say next.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchboard.common.agent.tools import Tool, ToolContext, ToolError, ToolOutcome, ToolSpec
from switchboard.common.flows.engine import FlowEngine, Step
from switchboard.common.flows.session import FlowSession
from switchboard.common.profiles import Profile

_WORDS = {
    "type": "object",
    "properties": {
        "caller_words": {
            "type": "string",
            "description": "Exactly what the caller said, word for word, as you heard it: do not correct, "
            "complete or reformat it (no digits for spoken numbers, no joined-up letters)",
        }
    },
    "required": ["caller_words"],
}
_HOW = (
    " The result's `say` is what you say next, in your own voice (you may add a short acknowledgement such as "
    "'perfecto'); its `next` says what to do after."
)

FLOW_PERMISSION = ToolSpec(
    "flow_permission",
    "Record the caller's answer to whether they can talk now (or to when to call them back)." + _HOW,
    _WORDS,
)
FLOW_CAPTURE = ToolSpec(
    "flow_capture",
    "Record what the caller said in answer to the question you just asked (a field's value, or which field "
    "to correct). The platform checks and normalises it; never pass a value you made up." + _HOW,
    _WORDS,
)
FLOW_CONFIRM = ToolSpec(
    "flow_confirm",
    "Record the caller's answer to a read-back (whether what you read back is right)." + _HOW,
    _WORDS,
)
FLOW_REPEAT = ToolSpec(
    "flow_repeat",
    "The caller asked you to repeat ('no entendí', 'repite', 'otra vez'): get the current question." + _HOW,
    {"type": "object", "properties": {}, "required": []},
)


def _has_flow(profile: Profile) -> bool:
    return profile.flow is not None


def _flow(context: ToolContext) -> FlowSession:
    if context.flow is None:
        raise ToolError("this call has no flow")
    return context.flow


def _words(arguments: Mapping[str, Any]) -> str:
    words = " ".join(str(arguments.get("caller_words", "")).split())
    if not words:
        raise ToolError("caller_words is empty: pass exactly what the caller said")
    return words[:500]


def _outcome(step: Step) -> ToolOutcome:
    return ToolOutcome(step.result())


async def flow_permission(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutcome:
    """The permission answer."""
    flow, words = _flow(context), _words(arguments)
    return _outcome(await flow.apply(lambda engine: engine.permission(words, flow.now())))


async def flow_capture(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutcome:
    """An answer to the current question."""
    flow, words = _flow(context), _words(arguments)
    return _outcome(await flow.apply(lambda engine: engine.capture(words, flow.now())))


async def flow_confirm(arguments: Mapping[str, Any], context: ToolContext) -> ToolOutcome:
    """A yes or no to a read-back."""
    flow, words = _flow(context), _words(arguments)
    return _outcome(await flow.apply(lambda engine: engine.confirm(words)))


async def flow_repeat(_: Mapping[str, Any], context: ToolContext) -> ToolOutcome:
    """The current question again."""
    return _outcome(await _flow(context).apply(FlowEngine.repeat))


def flow_tools() -> list[Tool]:
    """The flow tools, offered by every profile that has a `flow:`."""
    return [
        Tool(FLOW_PERMISSION, flow_permission, _has_flow),
        Tool(FLOW_CAPTURE, flow_capture, _has_flow),
        Tool(FLOW_CONFIRM, flow_confirm, _has_flow),
        Tool(FLOW_REPEAT, flow_repeat, _has_flow),
    ]

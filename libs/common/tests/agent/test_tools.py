from collections.abc import Mapping
from typing import Any

import pytest

from switchboard.common.agent.builtin_tools import built_in_tools
from switchboard.common.agent.model_session import ToolCall
from switchboard.common.agent.tools import (
    Tool,
    ToolContext,
    ToolError,
    ToolOutcome,
    ToolRegistry,
    ToolSpec,
    argument_problem,
)
from switchboard.common.profiles import Profile

pytestmark = pytest.mark.unit

PROFILE = Profile(
    name="t",
    provider="openai",
    model="gpt-realtime",
    instructions="Be brief.",
    greeting="Say hello.",
    voice="marin",
    tools=("end_call", "send_dtmf", "transfer_call"),
)
ECHO = ToolSpec(
    "echo",
    "Echo a word",
    {
        "type": "object",
        "properties": {"word": {"type": "string"}, "times": {"type": "integer"}},
        "required": ["word"],
    },
)


def context(profile: Profile = PROFILE) -> ToolContext:
    return ToolContext("call-1", profile)


async def echo(arguments: Mapping[str, Any], ctx: ToolContext) -> ToolOutcome:
    if arguments["word"] == "boom":
        raise RuntimeError("broken")
    if arguments["word"] == "no":
        raise ToolError("not now")
    return ToolOutcome({"ok": True, "said": arguments["word"], "call": ctx.call_id})


def registry() -> ToolRegistry:
    return ToolRegistry([*built_in_tools(), Tool(ECHO, echo, lambda p: p.name == "t")])


def test_a_profile_offers_the_tools_it_lists_and_transfer_only_with_a_number() -> None:
    assert [s.name for s in registry().specs_for(PROFILE)] == ["end_call", "send_dtmf", "echo"]
    with_number = PROFILE.model_copy(update={"transfer_to": "+15550100"})
    assert "transfer_call" in [s.name for s in registry().specs_for(with_number)]
    other = PROFILE.model_copy(update={"name": "other", "tools": ("end_call",)})
    assert [s.name for s in registry().specs_for(other)] == ["end_call"]


def test_a_tool_is_declared_once() -> None:
    with pytest.raises(ValueError, match="echo"):
        ToolRegistry([Tool(ECHO, echo), Tool(ECHO, echo)])


async def test_handlers_get_the_arguments_and_the_call() -> None:
    outcome = await registry().run(ToolCall("c", "echo", {"word": "hi"}), context())
    assert outcome.result == {"ok": True, "said": "hi", "call": "call-1"}


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (ToolCall("c", "launch_rockets", {}), "unknown tool 'launch_rockets'"),
        (ToolCall("c", "echo", {}), "echo: missing argument 'word'"),
        (ToolCall("c", "echo", {"word": 3}), "echo: argument 'word' must be a string"),
        (ToolCall("c", "echo", {"word": "x", "times": True}), "echo: argument 'times' must be a integer"),
        (ToolCall("c", "echo", {"word": "no"}), "not now"),
        (ToolCall("c", "echo", {"word": "boom"}), "echo failed on our side; carry on without it"),
        (ToolCall("c", "send_dtmf", {"digits": "12a"}), "digits must be 1-32 of 0-9, *, #"),
    ],
)
async def test_every_failure_is_a_result_the_model_reads(call: ToolCall, error: str) -> None:
    outcome = await registry().run(call, context())
    assert outcome.result == {"ok": False, "error": error}
    assert outcome.respond and outcome.hangup_reason is None


async def test_a_tool_the_profile_does_not_offer_is_unknown_to_its_calls() -> None:
    other = PROFILE.model_copy(update={"name": "other"})
    outcome = await registry().run(ToolCall("c", "echo", {"word": "hi"}), context(other))
    assert outcome.result["error"] == "unknown tool 'echo'"


async def test_built_ins_say_what_the_call_does_next() -> None:
    ended = await registry().run(ToolCall("c", "end_call", {"reason": "done"}), context())
    assert ended.hangup_reason == "done" and not ended.respond
    pressed = await registry().run(ToolCall("c", "send_dtmf", {"digits": "12#"}), context())
    assert pressed.dtmf == "12#"


def test_argument_problems_of_a_flat_schema() -> None:
    assert argument_problem(ECHO.parameters, {"word": "a", "extra": 1}) == ""

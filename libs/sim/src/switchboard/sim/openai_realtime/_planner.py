"""Deciding what the next response says, from the conversation and the script."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from switchboard.sim.flow_following import conversation_over, flow_output, next_tool, resumed_opening
from switchboard.sim.openai_realtime.items import FunctionCallItem, FunctionCallOutputItem, Item, MessageItem
from switchboard.sim.openai_realtime.script import Script


@dataclass(frozen=True, slots=True)
class Speak:
    """Answer with an assistant audio message saying `text`."""

    text: str


@dataclass(frozen=True, slots=True)
class CallFunction:
    """Answer with a function call."""

    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class AwaitOutput:
    """The last function call has no output yet: the response waits for it."""

    call_id: str


Plan = Speak | CallFunction | AwaitOutput


def plan_response(items: Sequence[Item], script: Script, instructions: str | None) -> Plan:
    """What the model does next.

    - after a function's output: the turn's reply once the function returned;
    - after a function call without output: wait for it;
    - after a user message (turn n): the function call of turn n if the script has one, else its reply;
    - otherwise the greeting, when nothing was said yet or the instructions ask for it, else the fallback line.
    """
    tail = [item for item in items if not (isinstance(item, MessageItem) and item.role == "system")]
    if script.follows_flow:
        return _plan_flow(tail, script, instructions)
    last = tail[-1] if tail else None
    if isinstance(last, FunctionCallOutputItem):
        call_index = next(
            (
                index
                for index, item in enumerate(tail)
                if isinstance(item, FunctionCallItem) and item.call_id == last.call_id
            ),
            len(tail) - 1,
        )
        turn, transcript = _user_turn(tail[:call_index], script)
        return Speak(script.reply_after_function(turn, transcript, last.output))
    if isinstance(last, FunctionCallItem):
        return AwaitOutput(last.call_id)
    if isinstance(last, MessageItem) and last.role == "user":
        turn, transcript = _user_turn(tail, script)
        spec = script.function_call(turn)
        if spec is not None:
            return CallFunction(spec.name, spec.arguments_json())
        return Speak(script.reply_to(turn, transcript))
    said_anything = any(isinstance(item, MessageItem) and item.role == "assistant" for item in tail)
    if not said_anything or script.asks_to_greet(instructions):
        return Speak(script.greeting)
    return Speak(script.fallback_reply)


def _plan_flow(tail: Sequence[Item], script: Script, instructions: str | None) -> Plan:
    """Follow the flow: caller words to the tool the last result named, then say what the result says."""
    last = tail[-1] if tail else None
    outputs = _flow_outputs(tail)
    if isinstance(last, FunctionCallOutputItem):
        result = flow_output(last.output)
        if result is None:  # end_call's result, or a tool error without a text: the last thing to say
            return Speak(str(outputs[-1].get("say", "")) if outputs else script.greeting)
        if conversation_over(result):
            return CallFunction("end_call", json.dumps({"reason": "flow_done"}))
        call = next((i for i in tail if isinstance(i, FunctionCallItem) and i.call_id == last.call_id), None)
        retry = next_tool(result)
        if result.get("ok") is False and call is not None and call.name != retry:
            return CallFunction(retry, call.arguments)  # the wrong tool for where the flow is: the right one
        return Speak(str(result.get("say", "")))
    if isinstance(last, FunctionCallItem):
        return AwaitOutput(last.call_id)
    if isinstance(last, MessageItem) and last.role == "user":
        _, transcript = _user_turn(tail, script)
        tool = next_tool(outputs[-1] if outputs else None)
        return CallFunction(tool, json.dumps({"caller_words": transcript}, ensure_ascii=False))
    resumed = resumed_opening(instructions)
    return Speak(resumed if resumed is not None else script.greeting)


def _flow_outputs(items: Sequence[Item]) -> list[Mapping[str, Any]]:
    return [
        result
        for item in items
        if isinstance(item, FunctionCallOutputItem)
        if (result := flow_output(item.output))
    ]


def user_turn_number(items: Sequence[Item]) -> int:
    """How many user messages the conversation holds."""
    return sum(1 for item in items if isinstance(item, MessageItem) and item.role == "user")


def _user_turn(items: Sequence[Item], script: Script) -> tuple[int, str]:
    users = [item for item in items if isinstance(item, MessageItem) and item.role == "user"]
    if not users:
        return 0, ""
    number = len(users)
    return number, users[-1].text() or script.caller_transcript(number)

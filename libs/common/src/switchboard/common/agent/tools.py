"""The tools an agent offers its model: each declared once, in a registry both agents read.

A tool is its declaration as the model sees it (`ToolSpec`: name, description, JSON-schema parameters), whether a
profile offers it, and an async handler that gets the call's context and the arguments. Whatever a handler does
wrong, the model gets a result it can read (``{"ok": false, "error": …}``); the call never sees an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from switchboard.common.agent.model_session import ToolCall
from switchboard.common.profiles import Profile

if TYPE_CHECKING:
    from switchboard.common.flows.session import FlowSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model sees it: name, description and JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What running a tool gives the model back, and what the call must do next."""

    result: dict[str, Any]
    hangup_reason: str | None = None
    transfer_to: str | None = None
    dtmf: str | None = None
    respond: bool = True

    @classmethod
    def error(cls, message: str) -> ToolOutcome:
        """A result telling the model what went wrong (it answers the caller as usual)."""
        return cls({"ok": False, "error": message})


@dataclass(slots=True)
class ToolContext:
    """What a tool's handler may use of the call it runs in."""

    call_id: str
    profile: Profile
    flow: FlowSession | None = None
    """The call's flow, when its profile has one."""


class ToolError(Exception):
    """A handler refuses the call (bad arguments, wrong moment): the message is the model's to read."""


ToolHandler = Callable[[Mapping[str, Any], ToolContext], Awaitable[ToolOutcome]]


def _always(_: Profile) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Tool:
    """One tool: its declaration, which profiles offer it, and what runs when the model calls it."""

    spec: ToolSpec
    handler: ToolHandler
    offered: Callable[[Profile], bool] = field(default=_always)

    @property
    def name(self) -> str:
        """The name the model calls it by."""
        return self.spec.name


class ToolRegistry:
    """Every tool an agent knows, by name; a profile's tools are the ones it offers."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        """Add a tool; a second tool of the same name is refused."""
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        """The names of every registered tool."""
        return list(self._tools)

    def offered(self, profile: Profile) -> list[Tool]:
        """The tools `profile` offers its model, in registration order."""
        return [tool for tool in self._tools.values() if tool.offered(profile)]

    def specs_for(self, profile: Profile) -> list[ToolSpec]:
        """The declarations the model of a call of `profile` gets (fixed for the whole call)."""
        return [tool.spec for tool in self.offered(profile)]

    async def run(self, call: ToolCall, context: ToolContext) -> ToolOutcome:
        """Run a tool call; unknown tools, bad arguments and failing handlers become error results."""
        tool = self._tools.get(call.name)
        if tool is None or not tool.offered(context.profile):
            return ToolOutcome.error(f"unknown tool {call.name!r}")
        problem = argument_problem(tool.spec.parameters, call.arguments)
        if problem:
            return ToolOutcome.error(f"{call.name}: {problem}")
        try:
            return await tool.handler(call.arguments, context)
        except ToolError as exc:
            return ToolOutcome.error(str(exc))
        except Exception:  # a tool's boundary: its failure is the model's to hear, the call goes on
            logger.exception("the tool %s failed", call.name)
            return ToolOutcome.error(f"{call.name} failed on our side; carry on without it")


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "object": (dict,),
    "array": (list,),
}


def argument_problem(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> str:
    """What is wrong with `arguments` for a flat object schema (missing or mistyped properties), or ""."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in arguments:
            return f"missing argument {name!r}"
    for name, value in arguments.items():
        declared = properties.get(name)
        if declared is None:
            continue
        types = _JSON_TYPES.get(str(declared.get("type", "")))
        wrong_bool = isinstance(value, bool) and declared.get("type") in ("integer", "number")
        if types is not None and (not isinstance(value, types) or wrong_bool):
            return f"argument {name!r} must be a {declared['type']}"
    return ""

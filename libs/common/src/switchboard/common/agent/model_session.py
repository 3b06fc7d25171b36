"""The seam between the provider-agnostic call agent and one provider's model session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from switchboard.common.errors import SwitchboardError


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asked to run a tool."""

    call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    response_id: str = ""
    """The response that made the call, when the provider says (tells whether the model spoke in it)."""


@dataclass(frozen=True, slots=True)
class HeardReport:
    """What the caller really heard of an interrupted response."""

    response_id: str
    played_ms: int
    sent_ms: int
    heard_text: str
    full_text: str


class SessionEvents(Protocol):
    """What a model session reports; the call agent implements it. Every method returns quickly."""

    async def response_started(self, response_id: str) -> None:
        """The model began a response (a new generation of agent audio)."""

    async def response_audio(self, response_id: str, pcm: bytes) -> None:
        """PCM16 audio of a response, at the provider's output rate."""

    async def response_text(self, response_id: str, delta: str) -> None:
        """Transcript of the agent's speech, as it comes."""

    async def response_done(self, response_id: str, *, interrupted: bool) -> None:
        """A response ended (interrupted: cancelled by the caller speaking)."""

    async def caller_speech_started(self) -> None:
        """The model heard the caller start speaking (barge-in when agent audio is playing)."""

    async def caller_speech_stopped(self) -> None:
        """The model heard the caller stop speaking."""

    async def caller_transcript(self, text: str) -> None:
        """What the caller said, as recognised."""

    async def tool_called(self, call: ToolCall) -> None:
        """The model asked for a tool."""

    async def session_error(self, error: SwitchboardError) -> None:
        """Something failed; a non-retryable error ends the call."""

    async def session_reconnected(self) -> None:
        """The model connection was lost and restored."""


class ModelSession(Protocol):
    """One model conversation for one call, as a provider implements it."""

    async def start(self) -> None:
        """Connect and configure (instructions, voice, tools, turn detection); return when audio can flow."""

    async def speak_first(self, prompt: str) -> None:
        """Make the model speak first, as `prompt` asks (`opening_prompt`: the greeting, or a resumed call's)."""

    async def push_audio(self, pcm: bytes) -> None:
        """Caller audio, PCM16 at the provider's input rate."""

    async def interrupt(self) -> None:
        """Stop the running response (the caller barged in)."""

    async def reconcile_heard(self, report: HeardReport) -> None:
        """Make the model's memory match what the caller heard of an interrupted response."""

    async def send_tool_result(self, call: ToolCall, result: dict[str, Any], *, respond: bool) -> None:
        """Return a tool's result to the model; `respond`: let the model answer it with speech."""

    async def aclose(self) -> None:
        """Close the connection and everything the session runs."""

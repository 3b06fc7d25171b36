"""Agent profiles: what an agent says and how; validated by call-control, stored in the KV bucket `profiles`."""

from __future__ import annotations

import re
from typing import Literal

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from switchboard.common.bus.formats import AudioFormat
from switchboard.common.calls.numbers import E164_PATTERN
from switchboard.common.errors import ConfigError, ErrorCategory, SwitchboardError
from switchboard.common.flows.spec import FlowSpec

Provider = Literal["openai", "gemini"]
ToolName = Literal["end_call", "transfer_call", "send_dtmf"]

PROVIDER_AUDIO: dict[str, tuple[AudioFormat, AudioFormat]] = {
    "openai": (AudioFormat.PCM24K, AudioFormat.PCM24K),
    "gemini": (AudioFormat.PCM16K, AudioFormat.PCM24K),
}
"""The (input, output) audio formats of each provider's agents: what they subscribe to and publish."""


class TurnDetection(BaseModel):
    """How the model decides that the caller started or finished speaking."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    prefix_padding_ms: int = Field(default=300, ge=0, le=2000)
    silence_duration_ms: int = Field(default=500, ge=100, le=5000)
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"


PROFILE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,63}$"
"""A profile name: lower-case ASCII letters, digits, `_` and `-`, 64 at most; always a valid KV key."""


_PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,63}")


def is_profile_name(value: str) -> bool:
    """Whether `value` is a name a profile may have (full match)."""
    return _PROFILE_NAME.fullmatch(value) is not None


class Profile(BaseModel):
    """One agent: provider and model, instructions, greeting, voice, language, tools, turn detection."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=PROFILE_NAME_PATTERN)
    provider: Provider
    model: str = Field(min_length=1)
    instructions: str = Field(min_length=1)
    greeting: str = Field(min_length=1, description="What the agent is asked to say first")
    voice: str = Field(min_length=1)
    language: str = Field(default="en-US", pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")
    tools: tuple[ToolName, ...] = ("end_call",)
    transfer_to: str | None = Field(default=None, pattern=E164_PATTERN)
    turn_detection: TurnDetection = TurnDetection()
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_duration_s: int = Field(default=900, ge=10, le=4 * 3600)
    flow: FlowSpec | None = None
    """A conversation flow the platform runs (permission, fields, read-backs); its tools are offered with it."""
    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Where call-control sends this profile's result webhooks (its secret is a setting)",
    )

    @model_validator(mode="after")
    def _flow_can_end(self) -> Profile:
        if self.flow is not None and "end_call" not in self.tools:
            raise ValueError("a profile with a flow needs end_call in its tools (the flow ends the call)")
        return self

    @property
    def audio_formats(self) -> tuple[AudioFormat, AudioFormat]:
        """(input, output) formats of this profile's agents."""
        return PROVIDER_AUDIO[self.provider]


class ProfileNotFound(SwitchboardError):
    """No profile by that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no profile {name!r}", category=ErrorCategory.NOT_FOUND, code="profile_not_found")


class ProfileStore:
    """The `profiles` bucket: every replica of every service reads the same version."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def put(self, profile: Profile) -> int:
        """Publish a profile; returns its revision."""
        return await self._kv.put(profile.name, profile.model_dump_json().encode())

    async def get(self, name: str) -> tuple[Profile, int]:
        """A profile and its revision; raises `ProfileNotFound`, or `ConfigError` if the stored one is invalid.

        A name no profile can have (not a valid key, say `*` or `a b`) is not found, never a bus error.
        """
        if not is_profile_name(name):
            raise ProfileNotFound(name)
        try:
            entry = await self._kv.get(name)
        except KeyNotFoundError as exc:
            raise ProfileNotFound(name) from exc
        try:
            return Profile.model_validate_json(entry.value or b""), entry.revision or 0
        except ValidationError as exc:
            raise ConfigError(f"stored profile {name!r} is invalid: {exc}", code="invalid_profile") from exc

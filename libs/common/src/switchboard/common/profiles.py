"""Agent profiles: what an agent says and how; validated by call-control, stored in the KV bucket `profiles`."""

from __future__ import annotations

import re
from typing import Literal

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from switchboard.common.bus.formats import AudioFormat
from switchboard.common.calls.attempts import CallingHours, RetryableOutcome, RetryPolicy, zone
from switchboard.common.calls.numbers import E164_PATTERN
from switchboard.common.errors import ConfigError, ErrorCategory, SwitchboardError
from switchboard.common.flows.spec import FlowSpec

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

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


class CallingHoursSpec(BaseModel):
    """When callees may be called, in their local time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(default="20:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
    days: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat")

    @model_validator(mode="after")
    def _opens(self) -> CallingHoursSpec:
        if self.end != "24:00" and self.end <= self.start:
            raise ValueError(
                "end must be after start (hours that span midnight are two windows: not supported)"
            )
        if not self.days:
            raise ValueError("at least one day")
        return self

    def stored(self) -> CallingHours:
        """As the call record keeps it."""
        return CallingHours(
            start=self.start,
            end="23:59" if self.end == "24:00" else self.end,
            days=tuple(sorted({WEEKDAYS.index(day) for day in self.days})),
        )


class RetrySpec(BaseModel):
    """Unanswered attempts tried again: which outcomes, how many attempts in all, the delay, the hours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    on: tuple[RetryableOutcome, ...] = ("no_answer", "busy")
    max_attempts: int = Field(default=3, ge=1, le=10)
    delay_s: int = Field(default=600, ge=1, le=7 * 24 * 3600)
    calling_hours: CallingHoursSpec | None = None

    def stored(self) -> RetryPolicy:
        """As the call record keeps it."""
        return RetryPolicy(
            on=tuple(self.on),
            max_attempts=self.max_attempts,
            delay_s=self.delay_s,
            calling_hours=self.calling_hours.stored() if self.calling_hours is not None else None,
        )


class VoicemailSpec(BaseModel):
    """What to do when an answering machine takes an outbound call (Twilio's machine detection)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    detect: bool = True
    action: Literal["hang_up", "leave_message"] = "hang_up"
    message: str = Field(default="", max_length=1000, description="What the agent says after the beep")

    @model_validator(mode="after")
    def _message(self) -> VoicemailSpec:
        if self.action == "leave_message" and not self.message.strip():
            raise ValueError("leave_message needs a message")
        return self


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
    retry: RetrySpec | None = None
    """Outbound calls whose attempt was not answered are placed again (each attempt a record of its own)."""
    voicemail: VoicemailSpec | None = None
    """Detect answering machines on outbound calls, and hang up or leave a message."""
    timezone: str | None = Field(
        default=None,
        description="Callees' time zone when their number does not tell (IANA, e.g. America/Mexico_City)",
    )
    recording: Literal["off", "on"] = Field(
        default="off",
        description="on: the edge records the call in stereo (left the caller, right what the caller heard)",
    )
    recording_disclosure: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="What the agent says, word for word, before its greeting (e.g. that the call is recorded)",
    )
    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Where call-control sends this profile's result webhooks (its secret is a setting)",
    )

    @field_validator("recording", mode="before")
    @classmethod
    def _yaml_switch(cls, value: object) -> object:
        # YAML 1.1 reads a bare `on`/`off` as a boolean: take it as the word it was.
        if isinstance(value, bool):
            return "on" if value else "off"
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value

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

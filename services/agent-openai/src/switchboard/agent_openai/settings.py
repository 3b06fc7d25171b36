"""OpenAI agent settings (env prefix ``AGENT_OPENAI_``); the model of each call comes from its profile."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from switchboard.common.agent.service import AgentSettings
from switchboard.common.runtime.settings import require_secret


class AgentOpenAISettings(AgentSettings):
    """Where OpenAI Realtime is, how to authenticate, and how the plugin holds on to a model connection."""

    model_config = SettingsConfigDict(env_prefix="AGENT_OPENAI_", extra="ignore", frozen=True)

    ops_port: int = 9104
    api_key: SecretStr | None = None
    """The OpenAI API key (``AGENT_OPENAI_API_KEY``), sent as ``Authorization: Bearer``."""
    base_url: str | None = None
    """None: OpenAI's endpoint. Else e.g. ``http://127.0.0.1:8765/v1`` for the emulator (``ws://…/v1/realtime``)."""
    max_session_duration_s: float | None = Field(default=20 * 60, gt=0)
    """The plugin replaces its connection after this long (once the model is quiet); None keeps it (OpenAI ends
    sessions at 60 minutes)."""
    connect_timeout_s: float = Field(default=10.0, gt=0)
    """Opening the WebSocket."""
    reconnect_attempts: int = Field(default=3, ge=0)
    """Connections tried in a row after an unexpected close before the call is given up (0: none)."""
    reconnect_interval_s: float = Field(default=2.0, ge=0)
    """Wait between reconnection attempts after the first, immediate-ish one (the plugin waits 0.1 s first)."""

    input_batching: bool = True
    """True: caller audio goes through the plugin, which sends it in 100 ms appends (a frame waits up to 80 ms).
    False: each 20 ms caller frame is appended as it arrives (five times the messages, no wait)."""

    @field_validator("base_url")
    @classmethod
    def _without_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    def api_key_value(self) -> str:
        """The API key; fails naming the variable when it is missing or a placeholder."""
        return require_secret(self.api_key, "AGENT_OPENAI_API_KEY")

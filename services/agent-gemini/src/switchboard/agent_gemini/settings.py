"""Gemini agent settings (env prefix ``AGENT_GEMINI_``); the model of each call comes from its profile."""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from switchboard.common.agent.service import AgentSettings
from switchboard.common.errors import ConfigError
from switchboard.common.runtime.settings import require_secret


class AgentGeminiSettings(AgentSettings):
    """Where Gemini Live is, how to authenticate, and how hard to hold on to a model connection."""

    model_config = SettingsConfigDict(env_prefix="AGENT_GEMINI_", extra="ignore", frozen=True)

    ops_port: int = 9105
    api_key: SecretStr | None = None
    """The Gemini API key (``AGENT_GEMINI_API_KEY``), sent in ``x-goog-api-key``."""
    base_url: str | None = None
    """None: Google's endpoint. Else e.g. ``https://127.0.0.1:9443`` for the emulator (the SDK adds ``wss``)."""
    ca_file: Path | None = None
    """A PEM bundle to trust instead of the system's (the emulator's test CA)."""
    api_version: str = "v1beta"
    connect_timeout_s: float = Field(default=10.0, gt=0)
    """Opening a connection, up to the service's ``setupComplete``."""
    reconnect_attempts: int = Field(default=5, ge=0)
    """Connections tried in a row after an unexpected close before the call is given up."""
    reconnect_backoff_s: float = Field(default=0.1, ge=0)
    """Wait before the second attempt; it doubles with each further attempt, up to ``reconnect_backoff_max_s``."""
    reconnect_backoff_max_s: float = Field(default=2.0, ge=0)
    reconnect_buffer_ms: int = Field(default=3000, ge=0, le=60_000)
    """Caller audio kept while the model connection is replaced, sent once the session is resumed."""
    go_away_margin_s: float = Field(default=1.0, ge=0)
    """After ``goAway``, move to a new connection once the model is quiet, or this long before the deadline."""
    ws_compression: bool = False
    """permessage-deflate on the model WebSocket. Off: base64 audio barely compresses, and every compressed
    connection costs zlib time on each message and zlib buffers in memory."""

    @field_validator("base_url")
    @classmethod
    def _without_trailing_slash(cls, value: str | None) -> str | None:
        # The SDK appends "/ws/…" to the base URL as is: a trailing slash would make the path "//ws/…".
        return value.rstrip("/") if value else None

    def api_key_value(self) -> str:
        """The API key; fails naming the variable when it is missing or a placeholder."""
        return require_secret(self.api_key, "AGENT_GEMINI_API_KEY")

    def ssl_context(self) -> ssl.SSLContext | None:
        """A context trusting ``ca_file``, or None for the system's trust store."""
        if self.ca_file is None:
            return None
        try:
            return ssl.create_default_context(cafile=str(self.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"AGENT_GEMINI_CA_FILE {self.ca_file} cannot be read: {exc}", code="ca_file"
            ) from exc

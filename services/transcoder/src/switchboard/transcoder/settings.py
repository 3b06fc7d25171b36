"""Transcoder settings (env prefix ``TRANSCODER_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from switchboard.common.runtime.settings import ServiceSettings


class TranscoderSettings(ServiceSettings):
    """How many calls one replica takes, and when it lets an idle call go."""

    model_config = SettingsConfigDict(env_prefix="TRANSCODER_", extra="ignore", frozen=True)

    ops_port: int = 9103
    capacity: int = Field(default=400, ge=1)
    idle_timeout_s: float = Field(default=30.0, gt=0)
    heartbeat_interval_s: float = Field(default=0.5, gt=0)
    drain_timeout_s: float = Field(default=900.0, ge=0, description="How long calls may go on after SIGTERM")

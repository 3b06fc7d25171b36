"""Settings shared by every service; each service subclasses `ServiceSettings` with its own env prefix."""

from __future__ import annotations

import os
import socket
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from switchboard.common.bus.connection import BusOptions
from switchboard.common.errors import ConfigError

_PLACEHOLDERS = frozenset({"", "changethis", "changeme", "change-me", "secret", "placeholder", "xxx", "todo"})


def default_instance_id() -> str:
    """host-pid: unique per process, readable in logs."""
    return f"{socket.gethostname()}-{os.getpid()}"


class ServiceSettings(BaseSettings):
    """What every service needs: NATS, its ops port, logging, an instance id."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore", frozen=True)

    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_token: SecretStr | None = None
    instance_id: str = Field(default_factory=default_instance_id)
    ops_host: str = "0.0.0.0"
    ops_port: int = 9100
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    jetstream_replicas: int = Field(default=1, ge=1, le=5, description="Replicas of the stream and buckets")

    def bus_options(self, service: str) -> BusOptions:
        """How this service connects to NATS."""
        return BusOptions(
            url=self.nats_url,
            name=f"{service}/{self.instance_id}",
            user=self.nats_user,
            password=self.nats_password.get_secret_value() if self.nats_password else None,
            token=self.nats_token.get_secret_value() if self.nats_token else None,
        )


def require_secret(value: SecretStr | None, variable: str) -> str:
    """The secret's value; fails naming `variable` when it is missing or an obvious placeholder."""
    plain = value.get_secret_value() if value is not None else ""
    if plain.strip().lower() in _PLACEHOLDERS:
        raise ConfigError(
            f"{variable} is missing or a placeholder: set it to a real secret", code="missing_secret"
        )
    return plain

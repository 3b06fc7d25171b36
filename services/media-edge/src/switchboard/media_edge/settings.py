"""Media-edge settings (env prefix ``MEDIA_EDGE_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from switchboard.common.runtime.settings import ServiceSettings, require_secret


class MediaEdgeSettings(ServiceSettings):
    """Where Twilio dials, the secrets that prove a stream is genuine, pacing, limits and drain."""

    model_config = SettingsConfigDict(env_prefix="MEDIA_EDGE_", extra="ignore", frozen=True)

    ops_port: int = 9102
    host: str = "0.0.0.0"
    port: int = 8080
    public_stream_url: str = Field(
        default="wss://localhost/twilio/stream",
        description="The wss:// URL of /twilio/stream exactly as written in the TwiML: Twilio signs it",
    )
    twilio_auth_token: SecretStr | None = None
    stream_secret: SecretStr | None = None

    transcode: Literal["inline", "service"] = Field(
        default="inline",
        description="inline: the edge converts μ-law to and from the agent's format; service: a transcoder does",
    )
    pacing_lead_ms: float = Field(default=100.0, ge=20.0, le=2000.0)
    min_chunk_ms: float = Field(default=100.0, ge=5.0, le=500.0)
    playout_report_interval_ms: float = Field(default=250.0, gt=0.0)
    generation_end_idle_ms: float = Field(default=300.0, gt=0.0)
    max_payload_bytes: int = Field(
        default=4000, ge=160, description="Largest μ-law payload of one media message"
    )
    max_message_bytes: int = Field(default=65536, ge=1024, description="Largest text frame read as a message")
    early_audio_ms: float = Field(default=2000.0, ge=20.0, description="Caller audio held while attaching")
    start_timeout_s: float = Field(default=10.0, gt=0.0)
    attach_timeout_s: float = Field(default=2.0, gt=0.0)
    attach_attempts: int = Field(default=4, ge=1)
    hangup_grace_s: float = Field(
        default=1.0,
        ge=0.0,
        le=30.0,
        description="After ctl.hangup, how long the REST hang-up may take to stop the stream before the edge closes it",
    )
    drain_deadline_s: float = Field(default=900.0, ge=0.0)
    drain_from_loopback_only: bool = True
    bus_backlog_limit_bytes: int = Field(default=1 << 20, ge=65536)
    event_publish_timeout_s: float = Field(default=5.0, gt=0.0)
    heartbeat_interval_s: float = Field(
        default=0.5,
        gt=0.0,
        description="ctl.heartbeat period (the platform's: transcoders and agents use the same)",
    )
    component_timeout_s: float = Field(
        default=2.0,
        description="A transcoder or agent silent (no ctl.heartbeat) this long is lost: the call is attached again",
    )
    max_reattaches: int = Field(
        default=3, ge=0, description="Re-attaches per call; a component lost once more ends the stream"
    )
    livekit_url: str = Field(
        default="", description="ws(s):// URL of the LiveKit server; empty: the edge takes no LiveKit calls"
    )
    livekit_api_key: str = ""
    livekit_api_secret: SecretStr | None = None
    livekit_capacity: int = Field(default=200, ge=1, description="LiveKit calls served at once by this edge")
    recordings_bucket: str = Field(
        default="recordings",
        pattern=r"^[A-Za-z0-9_\-]{1,64}$",
        description="The JetStream object store holding call recordings (one per deployment)",
    )
    recordings_retention_days: float = Field(
        default=30.0,
        ge=0.0,
        description="How long recordings are kept (the bucket's TTL, set when the edge creates it); 0: forever",
    )
    recording_finish_timeout_s: float = Field(
        default=10.0, gt=0.0, description="How long the end of a call may wait for its recording to be stored"
    )
    ws_ping_interval_s: float | None = 20.0
    ws_implementation: Literal["websockets-sansio", "websockets"] = "websockets-sansio"

    @field_validator("public_stream_url")
    @classmethod
    def _secure_websocket_url(cls, value: str) -> str:
        if not value.startswith("wss://") or "?" in value:
            raise ValueError(
                "the public stream URL is a wss:// URL without a query string, as Twilio requires"
            )
        return value

    @model_validator(mode="after")
    def _timeout_above_the_heartbeat_interval(self) -> MediaEdgeSettings:
        if self.component_timeout_s <= self.heartbeat_interval_s:
            raise ValueError(
                f"component_timeout_s ({self.component_timeout_s}) must be above heartbeat_interval_s "
                f"({self.heartbeat_interval_s}), or every component would be taken for lost"
            )
        return self

    def auth_token(self) -> str:
        """The Twilio auth token; fails naming the variable when it is missing or a placeholder."""
        return require_secret(self.twilio_auth_token, "MEDIA_EDGE_TWILIO_AUTH_TOKEN")

    def livekit_secret(self) -> str:
        """The LiveKit API secret the edge signs its join tokens with; fails naming the variable."""
        return require_secret(self.livekit_api_secret, "MEDIA_EDGE_LIVEKIT_API_SECRET")

    def stream_token_secret(self) -> str:
        """The stream-token secret shared with call-control; fails the same way."""
        return require_secret(self.stream_secret, "MEDIA_EDGE_STREAM_SECRET")

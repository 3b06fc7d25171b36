"""call-control settings (env prefix ``CALL_CONTROL_``), and the checked configuration the service starts from."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from switchboard.call_control.webhook_signing import WebhookSecrets
from switchboard.call_control.webhook_targets import WebhookTargetPolicy, WebhookTargetRefused
from switchboard.common.calls.numbers import is_e164
from switchboard.common.errors import ConfigError
from switchboard.common.profiles import Profile
from switchboard.common.runtime.settings import ServiceSettings, require_secret

PREFIX = "CALL_CONTROL_"
MIN_API_KEY_LENGTH = 16
MIN_WEBHOOK_SECRET_LENGTH = 16
WEBHOOK_RETRY_DELAYS_S = (10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 28800.0)
"""Twelve tries over about 24 hours."""


def _split(value: Any) -> Any:
    """Comma- (or whitespace-) separated text as a list; anything else unchanged."""
    if isinstance(value, str):
        return [item for item in re.split(r"[,\s]+", value) if item]
    return value


def _set_of(value: Any, normal: Callable[[str], str]) -> Any:
    """A list setting as a frozenset of `normal`-ised items; anything else unchanged (pydantic judges it)."""
    value = _split(value)
    if isinstance(value, list | set | frozenset | tuple):
        return frozenset(normal(str(item)) for item in value)
    return value


def _pairs(items: list[str], form: str) -> dict[str, str]:
    """`KEY=VALUE` items as a mapping; raises `ValueError` naming `form` for an item that is not one."""
    mapping: dict[str, str] = {}
    for item in items:
        key, separator, value = str(item).partition("=")
        if not separator or not key or not value:
            raise ValueError(f"expected {form}, got {item!r}")
        mapping[key] = value
    return mapping


class CallControlSettings(ServiceSettings):
    """Everything call-control is configured with; secrets are `SecretStr` and never logged."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True)

    ops_port: int = 9101
    http_host: str = "0.0.0.0"
    http_port: int = 8080

    api_keys: SecretStr | None = Field(default=None, description="API keys of /v1, comma-separated")
    rate_limit_per_s: float = Field(
        default=2.0, gt=0, description="Requests per second per API key, sustained"
    )
    rate_limit_burst: int = Field(default=20, ge=1, description="Requests per API key allowed at once")
    auth_failures_per_s: float = Field(
        default=0.2, gt=0, description="Failed authentications per second per client address, sustained"
    )
    auth_failure_burst: int = Field(
        default=10, ge=1, description="Failed authentications per client address before 429"
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Largest request body accepted; a larger one is 413 before it is read",
    )
    idempotency_ttl_s: float = Field(
        default=24 * 3600, gt=0, description="How long Idempotency-Keys are kept"
    )

    recordings_bucket: str = Field(
        default="recordings",
        pattern=r"^[A-Za-z0-9_\-]{1,64}$",
        description="The JetStream object store of call recordings (the media edge's MEDIA_EDGE_RECORDINGS_BUCKET)",
    )
    recordings_retention_days: float = Field(
        default=30.0,
        ge=0.0,
        description="How long recordings are kept when call-control creates their bucket (0: forever)",
    )

    console_secure_cookie: bool = Field(
        default=True,
        description="Mark the console's session cookie Secure (browsers keep it over https and on localhost)",
    )

    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str = Field(default="", description="Caller ID of outbound calls (E.164)")
    twilio_api_base_url: str = Field(
        default="", description="Send every Twilio API request here instead (the emulator); empty: Twilio"
    )
    twilio_timeout_s: float = Field(default=10.0, gt=0)

    public_base_url: str = Field(
        default="", description="How Twilio reaches call-control, e.g. https://calls.example.com"
    )
    media_stream_url: str = Field(
        default="", description="The media edge's stream URL, wss://…/twilio/stream"
    )
    stream_secret: SecretStr | None = None

    livekit_url: str = Field(
        default="",
        description="LiveKit's API URL (https://…, or the emulator's http://); empty: no LiveKit calls",
    )
    livekit_api_key: str = ""
    livekit_api_secret: SecretStr | None = None
    livekit_outbound_trunk_id: str = Field(
        default="", description="The SIP outbound trunk LiveKit dials out on"
    )
    livekit_from_number: str = Field(
        default="", description="Caller ID of outbound LiveKit calls (E.164; default: the Twilio one)"
    )
    livekit_empty_timeout_s: int = Field(
        default=30, ge=1, description="A call's room closes this long after it empties"
    )
    livekit_edge_join_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="How long a dial waits for the edge to join the call's room"
    )

    allowed_countries: Annotated[frozenset[str], NoDecode] = frozenset({"US", "CA"})
    profiles_dir: Path = Path("profiles")
    inbound_profiles: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, description="Called number → profile, as +15550100100=receptionist-openai,…"
    )
    default_inbound_profile: str = ""
    ring_timeout_s: int = Field(default=30, ge=1, le=600)

    result_webhook_url: str = Field(
        default="", description="Result webhooks of profiles without a URL of their own"
    )
    result_webhook_secret: SecretStr | None = Field(
        default=None, description="Signs every profile's webhooks"
    )
    result_webhook_secrets: SecretStr | None = Field(
        default=None,
        description="Per-profile signing secrets, as profile=secret,… (over result_webhook_secret)",
    )
    result_webhook_allow_http: bool = Field(default=False, description="Allow plain http:// webhook URLs")
    result_webhook_allowed_hosts: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(), description="Hosts allowed even where they resolve to non-public addresses"
    )
    result_webhook_timeout_s: float = Field(default=5.0, gt=0, le=30)
    result_webhook_retry_delays_s: Annotated[tuple[float, ...], NoDecode] = Field(
        default=WEBHOOK_RETRY_DELAYS_S, description="Seconds before each retry of a failed delivery"
    )

    @field_validator("result_webhook_allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        return _set_of(value, str.lower)

    @field_validator("result_webhook_retry_delays_s", mode="before")
    @classmethod
    def _delays(cls, value: Any) -> Any:
        value = _split(value)
        if isinstance(value, list | tuple) and not all(float(item) > 0 for item in value):
            raise ValueError("every delay must be above 0 seconds")
        return value

    def webhook_policy(self) -> WebhookTargetPolicy:
        """Where webhooks may go."""
        return WebhookTargetPolicy(
            allow_http=self.result_webhook_allow_http, allowed_hosts=self.result_webhook_allowed_hosts
        )

    @field_validator("allowed_countries", mode="before")
    @classmethod
    def _countries(cls, value: Any) -> Any:
        return _set_of(value, str.upper)

    @field_validator("inbound_profiles", mode="before")
    @classmethod
    def _inbound(cls, value: Any) -> Any:
        items = _split(value)
        return _pairs(items, "NUMBER=PROFILE") if isinstance(items, list) else value

    def checked(self) -> StartConfig:
        """The configuration with every secret present and every URL usable.

        Raises `ConfigError` naming the variable to fix.
        """
        keys = [key for key in require_secret(self.api_keys, f"{PREFIX}API_KEYS").split(",") if key.strip()]
        for key in keys:
            require_secret(SecretStr(key.strip()), f"{PREFIX}API_KEYS")
            if len(key.strip()) < MIN_API_KEY_LENGTH:
                raise _invalid("API_KEYS", f"every key must have at least {MIN_API_KEY_LENGTH} characters")
        if not re.fullmatch(r"AC[0-9a-fA-F]{32}", self.twilio_account_sid):
            raise _invalid("TWILIO_ACCOUNT_SID", "expected AC followed by 32 hex digits")
        if not is_e164(self.twilio_from_number):
            raise _invalid("TWILIO_FROM_NUMBER", "expected an E.164 number such as +15550100100")
        _require_url("PUBLIC_BASE_URL", self.public_base_url, ("https", "http"))
        _require_url("MEDIA_STREAM_URL", self.media_stream_url, ("wss", "ws"))
        if urlsplit(self.media_stream_url).query:
            raise _invalid(
                "MEDIA_STREAM_URL", "Twilio forbids a query string: per-call data goes in <Parameter>s"
            )
        if self.twilio_api_base_url:
            _require_url("TWILIO_API_BASE_URL", self.twilio_api_base_url, ("https", "http"))
        for number in self.inbound_profiles:
            if not is_e164(number):
                raise _invalid("INBOUND_PROFILES", f"{number!r} is not an E.164 number")
        if not self.allowed_countries or not all(
            re.fullmatch(r"[A-Z]{2}", c) for c in self.allowed_countries
        ):
            raise _invalid("ALLOWED_COUNTRIES", "expected ISO 3166 region codes such as US,CA,MX")
        if self.result_webhook_url:
            try:
                self.webhook_policy().parse(self.result_webhook_url)
            except WebhookTargetRefused as error:
                raise _invalid("RESULT_WEBHOOK_URL", error.message) from None
        livekit_secret = ""
        if self.livekit_url:
            _require_url("LIVEKIT_URL", self.livekit_url, ("https", "http"))
            livekit_secret = require_secret(self.livekit_api_secret, f"{PREFIX}LIVEKIT_API_SECRET")
            if not self.livekit_api_key:
                raise _invalid("LIVEKIT_API_KEY", "the API key LiveKit issued with the secret")
            if not self.livekit_outbound_trunk_id:
                raise _invalid("LIVEKIT_OUTBOUND_TRUNK_ID", "the id of the outbound trunk (ST_…)")
            if self.livekit_from_number and not is_e164(self.livekit_from_number):
                raise _invalid("LIVEKIT_FROM_NUMBER", "expected an E.164 number such as +15550100100")
        return StartConfig(
            livekit_api_secret=livekit_secret,
            api_keys=tuple(key.strip() for key in keys),
            twilio_auth_token=require_secret(self.twilio_auth_token, f"{PREFIX}TWILIO_AUTH_TOKEN"),
            stream_secret=require_secret(self.stream_secret, f"{PREFIX}STREAM_SECRET"),
            webhook_secrets=self._webhook_secrets(),
        )

    def _webhook_secrets(self) -> WebhookSecrets:
        default = (
            require_secret(self.result_webhook_secret, f"{PREFIX}RESULT_WEBHOOK_SECRET")
            if self.result_webhook_secret
            else None
        )
        per_profile: dict[str, str] = {}
        if self.result_webhook_secrets is not None:
            try:
                per_profile = _pairs(_split(self.result_webhook_secrets.get_secret_value()), "PROFILE=SECRET")
            except ValueError:  # the message would quote a secret
                raise _invalid("RESULT_WEBHOOK_SECRETS", "expected PROFILE=SECRET,…") from None
        for secret in [*([default] if default else []), *per_profile.values()]:
            if len(secret) < MIN_WEBHOOK_SECRET_LENGTH:
                raise _invalid(
                    "RESULT_WEBHOOK_SECRET", f"secrets need at least {MIN_WEBHOOK_SECRET_LENGTH} characters"
                )
        if self.result_webhook_url and default is None:
            raise _invalid(
                "RESULT_WEBHOOK_SECRET", "RESULT_WEBHOOK_URL is set: its webhooks need a signing secret"
            )
        return WebhookSecrets(default=default, per_profile=per_profile)

    def webhook_url(self, path: str) -> str:
        """The public URL of one of call-control's own paths."""
        return self.public_base_url.rstrip("/") + path


@dataclass(frozen=True, slots=True)
class StartConfig:
    """The secrets, checked; only ever held in memory."""

    api_keys: tuple[str, ...]
    twilio_auth_token: str
    stream_secret: str
    webhook_secrets: WebhookSecrets = field(default_factory=WebhookSecrets)
    livekit_api_secret: str = ""
    """Empty when LiveKit is not configured."""

    def __repr__(self) -> str:
        return (
            f"StartConfig(api_keys=<{len(self.api_keys)} keys>, twilio_auth_token=***, stream_secret=***, "
            f"webhook_secrets={self.webhook_secrets!r})"
        )

    def check_profile_webhooks(self, profiles: Mapping[str, Profile], policy: WebhookTargetPolicy) -> None:
        """Refuse (`ConfigError`) a profile whose webhook URL is malformed or has no signing secret."""
        for name, profile in sorted(profiles.items()):
            if not profile.webhook_url:
                continue
            try:
                policy.parse(profile.webhook_url)
            except WebhookTargetRefused as error:
                raise ConfigError(f"profile {name}: {error.message}", code="invalid_profile") from None
            if self.webhook_secrets.for_profile(name) is None:
                raise ConfigError(
                    f"profile {name}: field 'webhook_url' needs a signing secret: set {PREFIX}RESULT_WEBHOOK_SECRET "
                    f"or {PREFIX}RESULT_WEBHOOK_SECRETS={name}=…",
                    code="invalid_profile",
                )


def _invalid(variable: str, problem: str) -> ConfigError:
    return ConfigError(f"{PREFIX}{variable}: {problem}", code="invalid_setting")


def _require_url(variable: str, url: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        raise _invalid(variable, f"expected a {' or '.join(s + '://' for s in schemes)} URL, got {url!r}")

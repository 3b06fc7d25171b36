import pytest
from pydantic import ValidationError

from switchboard.common.errors import ConfigError
from switchboard.media_edge.settings import MediaEdgeSettings

pytestmark = pytest.mark.unit


def test_missing_or_placeholder_secrets_are_named() -> None:
    settings = MediaEdgeSettings(twilio_auth_token="changethis", stream_secret="s3cr3t-value")
    with pytest.raises(ConfigError, match="MEDIA_EDGE_TWILIO_AUTH_TOKEN"):
        settings.auth_token()
    assert settings.stream_token_secret() == "s3cr3t-value"
    with pytest.raises(ConfigError, match="MEDIA_EDGE_STREAM_SECRET"):
        MediaEdgeSettings().stream_token_secret()


def test_the_public_url_is_what_twilio_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIA_EDGE_PUBLIC_STREAM_URL", "wss://edge.example.com/twilio/stream")
    monkeypatch.setenv("MEDIA_EDGE_PACING_LEAD_MS", "80")
    settings = MediaEdgeSettings()
    assert settings.public_stream_url == "wss://edge.example.com/twilio/stream"
    assert settings.pacing_lead_ms == 80
    for url in ("ws://edge.example.com/twilio/stream", "wss://edge.example.com/twilio/stream?call=1"):
        with pytest.raises(ValidationError):
            MediaEdgeSettings(public_stream_url=url)


def test_components_are_lost_only_after_more_than_a_heartbeat_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = MediaEdgeSettings()
    assert (settings.component_timeout_s, settings.max_reattaches) == (2.0, 3)
    monkeypatch.setenv("MEDIA_EDGE_COMPONENT_TIMEOUT_S", "1.5")
    monkeypatch.setenv("MEDIA_EDGE_MAX_REATTACHES", "0")
    settings = MediaEdgeSettings(heartbeat_interval_s=1.0)
    assert (settings.component_timeout_s, settings.max_reattaches) == (1.5, 0)
    with pytest.raises(ValidationError, match="component_timeout_s"):
        MediaEdgeSettings(heartbeat_interval_s=2.0)
    with pytest.raises(ValidationError):
        MediaEdgeSettings(max_reattaches=-1)

from typing import Any

import pytest
from pydantic import SecretStr

from switchboard.call_control.settings import CallControlSettings
from switchboard.common.errors import ConfigError

pytestmark = pytest.mark.unit

GOOD: dict[str, Any] = {
    "api_keys": SecretStr("first-key-0123456789,second-key-0123456789"),
    "twilio_account_sid": "AC" + "0" * 32,
    "twilio_auth_token": SecretStr("a-real-auth-token"),
    "twilio_from_number": "+15550100100",
    "public_base_url": "https://calls.example.com",
    "media_stream_url": "wss://edge.example.com/twilio/stream",
    "stream_secret": SecretStr("a-real-stream-secret"),
}


def test_lists_and_maps_come_from_plain_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALL_CONTROL_ALLOWED_COUNTRIES", "us, mx,GB")
    monkeypatch.setenv(
        "CALL_CONTROL_INBOUND_PROFILES", "+15550100111=receptionist-openai,+525512345678=carrier-registration"
    )
    settings = CallControlSettings(**GOOD)
    assert settings.allowed_countries == {"US", "MX", "GB"}
    assert settings.inbound_profiles == {
        "+15550100111": "receptionist-openai",
        "+525512345678": "carrier-registration",
    }
    config = settings.checked()
    assert config.api_keys == ("first-key-0123456789", "second-key-0123456789")
    assert "a-real-auth-token" not in repr(config) and "a-real-auth-token" not in repr(settings)


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"api_keys": None}, "CALL_CONTROL_API_KEYS"),
        ({"api_keys": SecretStr("changeme")}, "CALL_CONTROL_API_KEYS"),
        ({"api_keys": SecretStr("good-key-0123456789,short")}, "CALL_CONTROL_API_KEYS"),
        ({"twilio_auth_token": SecretStr("changethis")}, "CALL_CONTROL_TWILIO_AUTH_TOKEN"),
        ({"stream_secret": None}, "CALL_CONTROL_STREAM_SECRET"),
        ({"twilio_account_sid": "ACxyz"}, "CALL_CONTROL_TWILIO_ACCOUNT_SID"),
        ({"twilio_from_number": "555-0100"}, "CALL_CONTROL_TWILIO_FROM_NUMBER"),
        ({"public_base_url": ""}, "CALL_CONTROL_PUBLIC_BASE_URL"),
        ({"media_stream_url": "https://edge.example.com/twilio/stream"}, "CALL_CONTROL_MEDIA_STREAM_URL"),
        (
            {"media_stream_url": "wss://edge.example.com/twilio/stream?call=1"},
            "CALL_CONTROL_MEDIA_STREAM_URL",
        ),
        ({"inbound_profiles": {"5550100": "x"}}, "CALL_CONTROL_INBOUND_PROFILES"),
        ({"allowed_countries": "USA"}, "CALL_CONTROL_ALLOWED_COUNTRIES"),
    ],
)
def test_start_fails_naming_the_variable(override: dict[str, Any], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        CallControlSettings(**{**GOOD, **override}).checked()

from __future__ import annotations

import pytest

from switchboard.common.security.twilio_signature import compute_signature, is_valid_signature

pytestmark = pytest.mark.unit

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675310",
    "Digits": "1234",
    "From": "+14158675310",
    "To": "+18005551212",
}


@pytest.mark.parametrize(
    ("caller", "expected"),
    [("+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="), ("+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8=")],
)
def test_published_webhook_vectors(caller: str, expected: str) -> None:
    # The worked example of Twilio's webhook security page, and the fixture of Twilio's own SDK tests.
    params = {**PARAMS, "Caller": caller, "From": caller}
    assert compute_signature(TOKEN, URL, params) == expected
    assert is_valid_signature(TOKEN, URL, expected, params)


def test_websocket_upgrade_signs_the_url_alone() -> None:
    url = "wss://edge.example.com/twilio/stream"
    signature = compute_signature(TOKEN, url, {})
    assert signature == compute_signature(TOKEN, url, None)
    assert is_valid_signature(TOKEN, url, signature)
    assert not is_valid_signature("other", url, signature)
    assert not is_valid_signature(TOKEN, "wss://elsewhere.example.com/twilio/stream", signature)
    assert not is_valid_signature(TOKEN, url, None) and not is_valid_signature(TOKEN, url, "")


def test_the_default_port_and_a_trailing_slash_do_not_matter() -> None:
    # Twilio drops the default port before signing over HTTPS; a trailing slash differs between the TwiML and
    # the request line behind some proxies.
    signed = compute_signature(TOKEN, "https://cc.example.com/twilio/status", {"A": "1"})
    assert is_valid_signature(TOKEN, "https://cc.example.com:443/twilio/status", signed, {"A": "1"})
    assert is_valid_signature(TOKEN, "https://cc.example.com/twilio/status/", signed, {"A": "1"})
    assert not is_valid_signature(TOKEN, "https://cc.example.com:8443/twilio/status", signed, {"A": "1"})
    assert not is_valid_signature(TOKEN, "https://cc.example.com/twilio/status", signed, {"A": "2"})


@pytest.mark.parametrize(
    ("url", "params"),
    [
        (URL, PARAMS),
        ("wss://edge.example.com/twilio/stream", {}),
        ("https://edge.example.com:8443/voice?x=1", {"B": "2", "A": "1", "Ä": "ü"}),
    ],
)
def test_matches_the_twilio_sdk(url: str, params: dict[str, str]) -> None:
    request_validator = pytest.importorskip("twilio.request_validator")
    validator = request_validator.RequestValidator(TOKEN)
    signature = compute_signature(TOKEN, url, params)
    assert validator.compute_signature(url, params) == signature
    assert validator.validate(url, params, signature)

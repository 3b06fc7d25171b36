"""Bad input through the whole platform: each gets the right 4xx and leaves no stray record or call."""

from __future__ import annotations

import uuid

import pytest

from switchboard.common.security.twilio_signature import SIGNATURE_HEADER, compute_signature

from .conftest import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]


async def _post_call(
    platform: Platform, body: object, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    async with platform.http.post(f"{platform.api}/v1/calls", json=body, headers=headers) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("to", "code"),
    [
        ("+1555", "invalid_number"),
        ("+19005550123", "premium_rate_number"),
        ("+442079460000", "country_not_allowed"),
    ],
)
async def test_bad_numbers_are_refused_and_nothing_is_dialed(platform: Platform, to: str, code: str) -> None:
    calls, dialed = await platform.calls_count(), len(platform.twilio.calls)
    status, body = await _post_call(platform, {"to": to, "profile": "receptionist-openai"}, platform.auth)
    assert status == 422, body
    assert body["error"]["code"] == code  # type: ignore[index]
    assert await platform.calls_count() == calls and len(platform.twilio.calls) == dialed


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key-0123456789abcdef"}])
async def test_a_missing_or_wrong_api_key_is_401_even_with_a_bad_body(
    platform: Platform, headers: dict[str, str]
) -> None:
    calls = await platform.calls_count()
    status, _ = await _post_call(platform, {"nonsense": True}, headers)
    assert status == 401
    assert await platform.calls_count() == calls


async def test_unsigned_and_tampered_webhooks_are_refused(platform: Platform) -> None:
    url = f"{platform.api}/twilio/status"
    params = {
        "CallSid": "CA" + "0" * 32,
        "CallStatus": "completed",
        "AccountSid": platform.keys.twilio_account_sid,
    }
    async with platform.http.post(url, data=params) as response:
        assert response.status == 403
    signature = compute_signature(platform.keys.twilio_auth_token, url, params)
    tampered = {**params, "CallStatus": "busy"}
    async with platform.http.post(url, data=tampered, headers={SIGNATURE_HEADER: signature}) as response:
        assert response.status == 403
    voice = f"{platform.api}/twilio/voice"
    async with platform.http.post(voice, data={"CallSid": "CA1", "To": "+14155550100"}) as response:
        assert response.status == 403


async def test_a_replayed_idempotency_key_never_places_a_second_call(platform: Platform) -> None:
    key = str(uuid.uuid4())
    headers = {**platform.auth, "Idempotency-Key": key}
    body = {"to": "+14155550199", "profile": "receptionist-openai"}
    first_status, first = await _post_call(platform, body, headers)
    assert first_status == 201
    dialed = len(platform.twilio.calls)
    again_status, again = await _post_call(platform, body, headers)
    assert again_status in (200, 201) and again["call_id"] == first["call_id"]
    other_status, other = await _post_call(platform, {**body, "to": "+14155550198"}, headers)
    assert other_status == 422 and other["error"]["code"] == "idempotency_key_reused"  # type: ignore[index]
    assert len(platform.twilio.calls) == dialed
    async with platform.http.post(
        f"{platform.api}/v1/calls/{first['call_id']}/hangup", json={"reason": "test"}, headers=platform.auth
    ) as response:
        assert response.status in (202, 409)

"""Bad input to the API gets a 4xx with a clear error, is counted, and never reaches Twilio or the store."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import RunCallControl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CALLEE = "+14155550100"


def body(**overrides: Any) -> dict[str, Any]:
    return {"to": CALLEE, "profile": "receptionist-openai", **overrides}


@pytest.mark.parametrize("profile", ["*", ">", "a b", "..", "ünï", "receptionist-openai.", "a" * 65, "A"])
async def test_profile_names_that_cannot_exist_are_refused(
    call_control: RunCallControl, profile: str
) -> None:
    async with call_control() as cc:
        response = await cc.create(body(profile=profile))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_request"
        assert "profile" in response.json()["error"]["message"]
        assert cc.twilio.requests_to("POST", "/Calls.json") == []


async def test_a_well_formed_profile_name_that_does_not_exist(call_control: RunCallControl) -> None:
    async with call_control() as cc:
        response = await cc.create(body(profile="no-such-profile"))
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "unknown_profile"


@pytest.mark.parametrize(
    ("field", "number", "code"),
    [
        ("to", "+14155550123\n", "invalid_number"),
        ("from", "+14155550123\n", "invalid_number"),
        ("to", "+1415555012３", "invalid_number"),
        ("to", " +14155550123", "invalid_number"),
        ("from", "+19005550100", "premium_rate_number"),
        ("from", "+442071838750", "country_not_allowed"),
        ("from", "+15550100100", "invalid_number"),
        ("to", "+" + "1" * 40, "invalid_request"),
    ],
)
async def test_numbers_are_checked_by_full_match_and_from_like_to(
    call_control: RunCallControl, field: str, number: str, code: str
) -> None:
    async with call_control(allowed_countries="US,CA") as cc:
        response = await cc.create(body(**{field: number}))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == code
        assert cc.twilio.requests_to("POST", "/Calls.json") == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"metadata": {f"k{i}": "v" for i in range(21)}},
        {"metadata": {"k": "v" * 501}},
        {"max_duration_s": 10**30},
        {"max_duration_s": 5},
        {"transport": "sip"},
    ],
)
async def test_fields_out_of_bounds_are_refused(
    call_control: RunCallControl, overrides: dict[str, Any]
) -> None:
    async with call_control() as cc:
        response = await cc.create(body(**overrides))
        assert response.status_code == 422, response.text


@pytest.mark.parametrize("call_id", ["*", ">", "a%20b", "..", "%C3%BCn%C3%AF", "a.", "x" * 300])
async def test_call_ids_that_cannot_exist_are_not_found(call_control: RunCallControl, call_id: str) -> None:
    async with call_control() as cc:
        for method, path in (
            ("GET", f"/v1/calls/{call_id}"),
            ("POST", f"/v1/calls/{call_id}/hangup"),
            ("POST", f"/v1/calls/{call_id}/transfer"),
        ):
            json_body = {"to": CALLEE} if path.endswith("transfer") else None
            response = await cc.http.request(method, path, json=json_body)
            assert response.status_code == 404, (method, path, response.text)


@pytest.mark.parametrize(
    "query",
    ["cursor=" + "x" * 2000, "cursor=%2A", "cursor=..", "limit=0", "limit=101", "created_after=yesterday"],
)
async def test_bad_list_queries_are_refused(call_control: RunCallControl, query: str) -> None:
    async with call_control() as cc:
        response = await cc.http.get(f"/v1/calls?{query}")
        assert 400 <= response.status_code < 500, response.text


async def test_a_long_idempotency_key_is_refused(call_control: RunCallControl) -> None:
    async with call_control() as cc:
        response = await cc.create(body(), **{"Idempotency-Key": "k" * 10_000})
        assert response.status_code in (400, 422), response.text

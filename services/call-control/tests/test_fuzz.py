"""Property test of the whole HTTP API: schemathesis cases against the real app, real NATS, a valid key.

`make fuzz` runs the same test with more cases (`SWITCHBOARD_FUZZ_CASES`) and prints the counts.
"""

from __future__ import annotations

import asyncio

import pytest

from switchboard.sim.twilio_rest import Callee

from .conftest import API_KEY, AUTH_TOKEN, RunCallControl
from .fuzz import cases_per_operation, fuzz, fuzz_signed_webhooks

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120 + 4 * cases_per_operation(default=25))]


async def test_no_request_gets_a_server_error(call_control: RunCallControl) -> None:
    per_operation = cases_per_operation(default=25)
    async with call_control(
        rate_limit_per_s=100_000.0, rate_limit_burst=100_000, auth_failure_burst=100_000
    ) as harness:
        report = await asyncio.to_thread(fuzz, harness.base_url, API_KEY, cases_per_operation=per_operation)
    print(report.summary())
    assert report.cases > 0
    assert report.server_errors == [] and report.crashes == [], report.summary()


async def test_signed_webhooks_with_arbitrary_values_never_get_a_server_error(
    call_control: RunCallControl,
) -> None:
    cases = cases_per_operation(default=25) * 12
    async with call_control() as cc:
        cc.twilio.next_callee(Callee.not_answering())
        call_id = (await cc.create({"to": "+14155550100", "profile": "receptionist-openai"})).json()[
            "call_id"
        ]
        report = await asyncio.to_thread(
            fuzz_signed_webhooks, cc.base_url, AUTH_TOKEN, cc.twilio.account_sid, call_id, cases=cases
        )
    print(report.summary())
    assert report.cases > 0
    assert report.server_errors == [] and report.crashes == [], report.summary()

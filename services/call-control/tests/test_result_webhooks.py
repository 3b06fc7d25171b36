"""Result webhooks through the real call-control, real NATS and the Twilio emulator, to a receiver of the test's."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from switchboard.call_control.webhook_signing import signature, verify
from switchboard.call_control.webhook_targets import WebhookTargetPolicy, WebhookTargetRefused
from switchboard.common.bus import subjects
from switchboard.sim.twilio_rest import Callee

from .conftest import RunCallControl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SECRET = "whsec-test-0123456789abcdef"
CALLEE = "+14155550123"


def readme_verify(secret: str, body: bytes, header: str, tolerance_s: int = 300) -> bool:
    """The verification the README shows receivers, verbatim."""
    parts = dict(part.split("=", 1) for part in header.split(","))
    timestamp, received = parts["t"], parts["v1"]
    if abs(time.time() - int(timestamp)) > tolerance_s:
        return False  # too old: a replay
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received)


@dataclass
class Receiver:
    """A webhook receiver: answers with the statuses it is told, then 200; keeps what it got."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    arrival_ns: list[int] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.arrival_ns.append(time.time_ns())
        body = await request.read()
        status = self.statuses.pop(0) if self.statuses else 200
        self.requests.append((dict(request.headers), body, status))
        if status == 200:
            self.arrived.set()
        return web.Response(status=status, text="ok" if status == 200 else "not now")

    def delivered(self) -> list[tuple[dict[str, str], bytes]]:
        return [(headers, body) for headers, body, status in self.requests if status == 200]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    stand_in = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", stand_in.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stand_in.url = f"http://127.0.0.1:{port}/hooks"
    yield stand_in
    await runner.cleanup()


def webhook_settings(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "result_webhook_secret": SecretStr(SECRET),
        "result_webhook_allow_http": True,
        "result_webhook_allowed_hosts": "127.0.0.1",
        "result_webhook_retry_delays_s": "0.2,0.2,0.2",
    }
    values.update(overrides)
    return values


async def unanswered_call(cc: Any, url: str) -> str:
    cc.twilio.next_callee(Callee.not_answering())
    response = await cc.create({"to": CALLEE, "profile": "receptionist-openai", "webhook_url": url})
    assert response.status_code == 201, response.text
    return str(response.json()["call_id"])


@pytest.mark.unit
def test_the_signature_verifies_with_the_readme_snippet_and_refuses_tampering() -> None:
    body = b'{"id":"evt_1","type":"call.ended"}'
    header = signature(SECRET, body, int(time.time()))
    assert readme_verify(SECRET, body, header) and verify(SECRET, body, header)
    assert not verify(SECRET, body + b" ", header)
    assert not verify("another-secret-0123456789", body, header)
    old = signature(SECRET, body, int(time.time()) - 3600)
    assert not readme_verify(SECRET, body, old) and not verify(SECRET, body, old)
    assert not verify(SECRET, body, "t=abc,v1=00") and not verify(SECRET, body, "")


@pytest.mark.unit
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/hooks",
        "https://192.168.1.10/hooks",
        "https://[::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://100.64.0.1/hooks",
        "https://localhost/hooks",
        "http://example.com/hooks",
        "https://user:pass@example.com/hooks",
        "ftp://example.com/hooks",
        "https://example.com/ho oks",
    ],
)
async def test_webhook_urls_to_internal_addresses_or_in_plain_http_are_refused(url: str) -> None:
    with pytest.raises(WebhookTargetRefused):
        await WebhookTargetPolicy().check(url)


@pytest.mark.unit
async def test_a_listed_host_and_plain_http_pass_when_the_settings_allow_them() -> None:
    await WebhookTargetPolicy(allow_http=True, allowed_hosts=["127.0.0.1"]).check("http://127.0.0.1:9/x")
    await WebhookTargetPolicy().check("https://93.184.215.14/hooks")


async def test_api_refuses_a_webhook_url_at_loopback_or_the_metadata_service(
    call_control: RunCallControl,
) -> None:
    async with call_control(**webhook_settings(result_webhook_allowed_hosts="")) as cc:
        for url in ("http://127.0.0.1:8080/hooks", "https://169.254.169.254/latest/meta-data/"):
            response = await cc.create({"to": CALLEE, "profile": "receptionist-openai", "webhook_url": url})
            assert response.status_code == 422
            assert response.json()["error"]["code"] == "invalid_webhook_url"
        assert not cc.twilio.requests_to("POST", "/Calls.json")


async def test_an_ended_call_is_posted_signed_once(call_control: RunCallControl, receiver: Receiver) -> None:
    async with call_control(**webhook_settings()) as cc:
        call_id = await unanswered_call(cc, receiver.url)
        await asyncio.wait_for(receiver.arrived.wait(), 20)
        record = await cc.wait_record(
            call_id, lambda r: any(d.state == "delivered" for d in r.deliveries.values())
        )
        [(headers, body)] = receiver.delivered()
        print(
            f"FIGURE webhook call.ended arrived {(receiver.arrival_ns[0] - record.ended_ns) / 1e6:.0f} ms after the end"
        )
        assert readme_verify(SECRET, body, headers["Switchboard-Signature"])
        event = json.loads(body)
        assert event["type"] == "call.ended" and event["id"] == headers["Switchboard-Event-Id"]
        assert event["data"]["call_id"] == call_id and event["data"]["status"] == "no-answer"
        assert event["data"]["to"] == CALLEE and event["data"]["direction"] == "outbound"
        [delivery] = record.deliveries.values()
        assert (delivery.attempts, delivery.last_status) == (1, 0) or delivery.attempts == 1
        detail = (await cc.http.get(f"/v1/calls/{call_id}")).json()
        assert detail["webhook_deliveries"][event["id"]]["state"] == "delivered"
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == 1


async def test_a_receiver_down_for_a_while_gets_the_event_once(
    call_control: RunCallControl, receiver: Receiver
) -> None:
    receiver.statuses = [503, 503]
    async with call_control(**webhook_settings()) as cc:
        call_id = await unanswered_call(cc, receiver.url)
        await asyncio.wait_for(receiver.arrived.wait(), 20)
        record = await cc.wait_record(
            call_id, lambda r: any(d.state == "delivered" for d in r.deliveries.values())
        )
        assert [status for _, _, status in receiver.requests] == [503, 503, 200]
        ids = {headers["Switchboard-Event-Id"] for headers, _, _ in receiver.requests}
        assert len(ids) == 1 and len(receiver.delivered()) == 1
        assert next(iter(record.deliveries.values())).attempts == 3


async def test_a_refusing_receiver_is_not_retried_and_the_event_is_dead_lettered(
    call_control: RunCallControl, receiver: Receiver
) -> None:
    receiver.statuses = [410]
    async with call_control(**webhook_settings()) as cc:
        call_id = await unanswered_call(cc, receiver.url)
        record = await cc.wait_record(
            call_id, lambda r: any(d.state == "refused" for d in r.deliveries.values()), within_s=20
        )
        [delivery] = record.deliveries.values()
        assert delivery.last_status == 410 and "410" in delivery.last_error
        dead = await cc.bus.js.get_last_msg(subjects.WEBHOOKS_STREAM, subjects.webhook_dead_letter(call_id))
        assert json.loads(dead.data)["data"]["call_id"] == call_id
        await asyncio.sleep(0.6)
        assert len(receiver.requests) == 1

        receiver.arrived.clear()
        again = await cc.http.post(f"/v1/calls/{call_id}/webhook/redeliver")
        assert again.status_code == 202 and again.json()["event_ids"] == list(record.deliveries)
        await asyncio.wait_for(receiver.arrived.wait(), 20)
        assert [status for _, _, status in receiver.requests] == [410, 200]


async def test_an_event_outlives_a_restart_of_call_control(
    call_control: RunCallControl, receiver: Receiver
) -> None:
    receiver.statuses = [503] * 2
    settings = webhook_settings(result_webhook_retry_delays_s="1.5,1.5,1.5,1.5")
    async with call_control(**settings) as cc:
        call_id = await unanswered_call(cc, receiver.url)
        await cc.wait_record(call_id, lambda r: any(d.state == "retrying" for d in r.deliveries.values()), 20)
    failed_while_down = len(receiver.requests)
    async with call_control(**settings) as cc:
        await asyncio.wait_for(receiver.arrived.wait(), 30)
        await cc.wait_record(call_id, lambda r: any(d.state == "delivered" for d in r.deliveries.values()))
    assert failed_while_down >= 1 and len(receiver.delivered()) == 1

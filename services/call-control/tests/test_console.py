import asyncio
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NatsClient

from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import TranscriptTurn
from switchboard.common.runtime.metrics import BusMetrics, new_registry

from .conftest import API_KEY, RunCallControl
from .test_recordings_api import recorded_call

pytestmark = pytest.mark.integration


def browser(base_url: str, **options: Any) -> httpx.AsyncClient:
    """A client that sends `Origin` as a browser does on a form post or fetch from a console page."""
    return httpx.AsyncClient(base_url=base_url, headers={"Origin": base_url}, timeout=15, **options)


async def sign_in(http: httpx.AsyncClient, key: str = API_KEY) -> httpx.Response:
    return await http.post("/console/sign-in", data={"api_key": key})


async def test_sign_in_sets_a_strict_http_only_cookie_and_a_wrong_key_is_refused(
    call_control: RunCallControl,
) -> None:
    async with call_control(console_secure_cookie=False) as cc, browser(cc.base_url) as http:
        anonymous = await http.get("/console", headers={"Accept": "text/html"})
        assert anonymous.status_code == 303 and anonymous.headers["location"] == "/console/sign-in"
        refused = await sign_in(http, "not-a-key")
        assert refused.status_code == 401 and "not valid" in refused.text and not http.cookies
        accepted = await sign_in(http)
        cookie = accepted.headers["set-cookie"].lower()
        assert accepted.status_code == 303 and "httponly" in cookie and "samesite=strict" in cookie
        assert API_KEY.lower() not in cookie
        listing = await http.get("/console")
        assert listing.status_code == 200
        assert "default-src 'self'" in listing.headers["content-security-policy"]
        assert (await http.get("/console/profiles")).status_code == 200
        assert (await http.get("/console/assets/console.js")).status_code == 200
        async with browser(cc.base_url, cookies={"sb_console": "abc.99999999999.00"}) as forged:
            assert (await forged.get("/console", headers={"Accept": "text/html"})).status_code == 303
    async with call_control() as cc, browser(cc.base_url) as http:
        secure = await sign_in(http)
        assert "secure" in secure.headers["set-cookie"].lower()


async def test_the_call_page_shows_turns_and_plays_the_recording_and_a_hang_up_must_be_same_origin(
    call_control: RunCallControl, bus: NatsClient
) -> None:
    await recorded_call(bus, "call-console", bytes(32000))
    observer = Bus(bus, BusMetrics(new_registry()))
    await observer.publish_event(
        "call-console", TranscriptTurn(role="agent", text="Hello <there>", interrupted=True)
    )
    async with call_control(console_secure_cookie=False) as cc, browser(cc.base_url) as http:
        await sign_in(http)
        page = await http.get("/console/calls/call-console")
        assert page.status_code == 200
        assert "Hello &lt;there&gt;" in page.text and "barge-in" in page.text
        assert 'src="/console/calls/call-console/recording"' in page.text
        audio = await http.get("/console/calls/call-console/recording", headers={"Range": "bytes=0-43"})
        assert audio.status_code == 206 and audio.content[:4] == b"RIFF"
        listed = await http.get("/console", params={"status": "completed", "profile": "receptionist-openai"})
        assert "call-console" in listed.text
        other = await http.get("/console", params={"direction": "outbound"})
        assert "call-console" not in other.text
        cross = await http.post(
            "/console/calls/call-console/hangup", headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403
        async with http.stream("GET", "/console/events", params={"call_id": "call-console"}) as events:
            lines = events.aiter_lines()
            assert (await anext(lines)).startswith(": connected")
            await observer.publish_event("call-console", TranscriptTurn(role="caller", text="hi"))
            async with asyncio.timeout(10):
                async for line in lines:
                    if line.startswith("data:"):
                        assert '"transcript"' in line and '"call-console"' in line
                        break

"""Request bodies are limited before they are read, and wrong keys are limited per client address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import API_KEY, RunCallControl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def raw_request(base_url: str, head: str) -> tuple[int, bytes]:
    """Send only a request head (no body at all) and read the answer."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(head.encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    rest = await asyncio.wait_for(reader.read(4096), 10)
    writer.close()
    return int(status_line.split()[1]), rest


@pytest.mark.parametrize("path", ["/v1/calls", "/v1/calls/call_x/hangup", "/twilio/status", "/twilio/voice"])
async def test_a_declared_body_over_the_limit_is_refused_without_reading_it(
    call_control: RunCallControl, path: str
) -> None:
    async with call_control() as cc:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
        )
        status, rest = await raw_request(cc.base_url, head)  # the 100 MB never come: answered anyway
        assert status == 413 and b"body_too_large" in rest


async def test_a_chunked_body_over_the_limit_is_cut_off(call_control: RunCallControl) -> None:
    async def endless() -> AsyncIterator[bytes]:
        for _ in range(10_000):
            yield b'{"metadata": {"a": "' + b"x" * 1000
            await asyncio.sleep(0)

    async with call_control() as cc:
        for path in ("/v1/calls", "/twilio/status"):
            try:
                response = await cc.http.post(path, content=endless())
            except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
                continue  # the server answered and closed while the client was still sending
            assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"


async def test_a_body_within_the_limit_is_served(call_control: RunCallControl) -> None:
    async with call_control(max_body_bytes=2048) as cc:
        small = await cc.create({"to": "+14155550100", "profile": "receptionist-openai"})
        assert small.status_code == 201
        big = await cc.create(
            {"to": "+14155550100", "profile": "receptionist-openai", "metadata": {"k": "v" * 3000}}
        )
        assert big.status_code == 413


async def test_wrong_keys_are_limited_per_address_and_a_right_key_still_works(
    call_control: RunCallControl,
) -> None:
    async with call_control(auth_failure_burst=5, auth_failures_per_s=0.01) as cc:
        wrong = {"Authorization": "Bearer wrong-key-0123456789"}
        answers = [(await cc.http.get("/v1/calls", headers=wrong)).status_code for _ in range(8)]
        assert answers == [401] * 5 + [429] * 3
        limited = await cc.http.get("/v1/calls", headers={"Authorization": "Basic eDp5"})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"]["code"] == "too_many_failed_authentications"
        assert (await cc.http.get("/v1/calls")).status_code == 200  # the valid key is not held back
        assert cc.control.metrics.auth_failures_limited._value.get() == 4


async def test_wrong_keys_at_the_console_sign_in_count_against_the_same_budget(
    call_control: RunCallControl,
) -> None:
    async with call_control(auth_failure_burst=3, auth_failures_per_s=0.01) as cc:
        answers = [
            (await cc.http.post("/console/sign-in", data={"api_key": "not-a-key"})).status_code
            for _ in range(5)
        ]
        assert answers == [401] * 3 + [429] * 2
        wrong = {"Authorization": "Bearer wrong-key-0123456789"}
        assert (await cc.http.get("/v1/calls", headers=wrong)).status_code == 429

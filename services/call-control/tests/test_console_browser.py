"""The console in a real browser: headless Chromium (Debian's package, installed here when missing) via Playwright.

Against a running call-control on real NATS; the calls are emulated on the bus (records and the events the edge
and the agent publish) and the recording is stored as the edge stores it. Screenshots of each page go to a
temporary folder, or to docs/ (the README's) with SWITCHBOARD_UPDATE_SCREENSHOTS=1.
"""

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from nats.aio.client import Client as NatsClient

from switchboard.common.audio.g711 import ulaw_encode
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import BargeIn, MediaStarted, StatusChanged, ToolCalled, TranscriptTurn
from switchboard.common.calls.record import CallRecord, CallStatus
from switchboard.common.calls.store import CallStore
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.debian_tools import CHROMIUM, ToolUnavailable, ensure

from .conftest import API_KEY, RunCallControl
from .test_recordings_api import recorded_call

pytestmark = pytest.mark.integration

README_SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
SECONDS = 6.0


@pytest.fixture(scope="module")
def chromium() -> str:
    try:
        return ensure(CHROMIUM)
    except ToolUnavailable as exc:
        pytest.skip(f"NO BROWSER TESTS: Chromium cannot be installed here: {exc}")


def tones(seconds: float) -> bytes:
    """Stereo μ-law: the caller at 300 Hz in the first half, the agent at 500 Hz in the second."""
    t = np.arange(int(8000 * seconds)) / 8000
    left = np.where(t < seconds / 2, 8000 * np.sin(2 * np.pi * 300 * t), 0).astype(np.int16)
    right = np.where(t >= seconds / 2, 8000 * np.sin(2 * np.pi * 500 * t), 0).astype(np.int16)
    stereo = np.empty(2 * t.size, dtype=np.uint8)
    stereo[0::2] = np.frombuffer(ulaw_encode(left), dtype=np.uint8)
    stereo[1::2] = np.frombuffer(ulaw_encode(right), dtype=np.uint8)
    return stereo.tobytes()


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.mark.timeout(120)
async def test_the_console_in_a_browser(
    call_control: RunCallControl, bus: NatsClient, browser: object, tmp_path: Path
) -> None:
    from playwright.async_api import Browser, expect

    shots = README_SCREENSHOTS if os.environ.get("SWITCHBOARD_UPDATE_SCREENSHOTS") == "1" else tmp_path

    assert isinstance(browser, Browser)
    client = Bus(bus, BusMetrics(new_registry()))
    now = time.time_ns()
    await recorded_call(bus, "call-past", tones(SECONDS))
    for offset_s, event in [
        (0.0, MediaStarted(instance="edge-1")),
        (
            0.5,
            TranscriptTurn(
                role="agent", text="Hello, this call is recorded. How can I help?", interrupted=True
            ),
        ),
        (1.0, BargeIn(generation=1, played_ms=900)),
        (3.0, TranscriptTurn(role="caller", text="I would like to book a table.")),
        (3.5, ToolCalled(name="end_call", arguments={"reason": "done"}, result={"ok": True})),
        (4.5, TranscriptTurn(role="agent", text="Booked. Goodbye!")),
    ]:
        event.ts_ns = now - 60_000_000_000 + int(offset_s * 1e9)
        await client.publish_event("call-past", event)
    calls = CallStore(await bus.jetstream().key_value(subjects.CALLS_BUCKET))
    await calls.create(
        CallRecord(
            call_id="call-live",
            direction="outbound",
            to_number="+15550111",
            from_number="+12025550100",
            profile="receptionist-openai",
            status=CallStatus.IN_PROGRESS,
            created_ns=now,
        )
    )
    await client.publish_event("call-live", StatusChanged(status="in-progress"))
    async with call_control() as cc:
        base = cc.base_url.replace("127.0.0.1", "localhost")  # a secure context: the Secure cookie is kept
        context = await browser.new_context(viewport={"width": 1200, "height": 800})
        page = await context.new_page()

        await page.goto(f"{base}/console")
        await page.fill("input[name=api_key]", "not-the-key")
        await page.click("button[type=submit]")
        await expect(page.locator(".error")).to_contain_text("not valid")
        await page.fill("input[name=api_key]", API_KEY)
        await page.click("button[type=submit]")
        await expect(page.locator("#calls")).to_contain_text("call-live")
        await expect(page.locator("#calls")).to_contain_text("call-past")
        cookies = await context.cookies()
        assert [c["httpOnly"] and c["secure"] and c["sameSite"] == "Strict" for c in cookies] == [True]

        await page.select_option("select[name=direction]", "inbound")
        await page.click(".filters button")
        await expect(page.locator("#calls")).to_contain_text("call-past")
        await expect(page.locator("#calls")).not_to_contain_text("call-live")
        await page.goto(f"{base}/console")
        await page.screenshot(path=str(shots / "console-calls.png"), full_page=True)

        await page.goto(f"{base}/console/calls/call-live")
        turns = page.locator("#timeline li.turn")
        await expect(page.locator("form.hangup button")).to_be_visible()
        await asyncio.sleep(0.5)  # the page's event source is connected
        await client.publish_event("call-live", TranscriptTurn(role="agent", text="Good evening!"))
        await expect(turns).to_have_count(1)
        await client.publish_event("call-live", TranscriptTurn(role="caller", text="Hi, a table for two."))
        await expect(turns).to_have_count(2)
        await page.screenshot(path=str(shots / "console-live-call.png"), full_page=True)

        await page.goto(f"{base}/console/calls/call-past")
        player = page.locator("#player")
        await expect(page.locator(".barge")).to_have_count(1)
        await page.wait_for_function("document.getElementById('player').readyState >= 1")
        duration = await player.evaluate("p => p.duration")
        assert abs(duration - SECONDS) < 0.01, duration
        await page.wait_for_function("document.getElementById('waveform').dataset.drawn > 0")
        turn = page.locator("#timeline li.turn", has_text="book a table")
        await turn.click()
        await page.wait_for_function("Math.abs(document.getElementById('player').currentTime - 3.0) < 0.3")
        await page.screenshot(path=str(shots / "console-call.png"), full_page=True)

        await page.goto(f"{base}/console/profiles")
        await expect(page.locator("table")).to_contain_text("receptionist-openai")
        await page.screenshot(path=str(shots / "console-profiles.png"), full_page=True)
        await context.close()

"""The load generator's LiveKit calls against the real platform: two calls, one short window, what it reports."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import pytest

from switchboard.devkit.dev_config import DEV_LIVEKIT_TRUNK, DevPlatform, Ports, Secrets
from switchboard.devkit.nats_server import EmbeddedNats
from switchboard.devkit.platform import ProcessGroup
from switchboard.sim.loadgen import Endpoints, LoadGenerator, LoadOptions, WindowReport

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def _measure_two_livekit_calls(nats: EmbeddedNats, state: Path) -> tuple[WindowReport, int]:
    keys = Secrets()
    ports = Ports.free()
    dev = DevPlatform(nats.url, state, ports=ports, keys=keys, extra_env={"LOG_LEVEL": "WARNING"})
    endpoints = Endpoints(
        api_url=f"http://127.0.0.1:{ports.call_control}",
        api_key=keys.api_key,
        nats_url=nats.url,
        edge_url=f"ws://127.0.0.1:{ports.edge}",
        twilio_account_sid=dev.twilio_account_sid,
        twilio_auth_token=dev.twilio_auth_token,
        twilio_port=ports.twilio_emulator,
        openai_api_key=keys.openai_key,
        openai_port=ports.openai_emulator,
        livekit_port=ports.livekit_emulator,
        livekit_api_key=keys.livekit_api_key,
        livekit_api_secret=keys.livekit_api_secret,
        livekit_trunk=DEV_LIVEKIT_TRUNK,
        livekit_number=dev.from_number,
        livekit_webhook_url=f"http://127.0.0.1:{ports.call_control}/livekit/webhook",
    )
    # Every answer is spoken over, soon, so a short window holds barge-ins.
    options = LoadOptions(
        transport="livekit",
        pause_s=(0.2, 0.5),
        barge_in_share=1.0,
        barge_in_after_s=(0.3, 0.6),
        tap_calls=2,
        log_dir=str(state),
    )
    group = ProcessGroup(colour=False)
    async with LoadGenerator(endpoints, options) as load:
        try:
            for spec in dev.services():
                if spec.name not in ("agent-gemini", "transcoder"):  # no Gemini call; the edge converts
                    await group.start(spec)
            deadline = time.monotonic() + 90
            for port in (ports.edge_ops, ports.agent_openai_ops, ports.call_control_ops):
                while not await asyncio.to_thread(_ready, port):
                    assert not group.exited.is_set(), "a service exited during start-up"
                    assert time.monotonic() < deadline, f"ops port {port} never ready"
                    await asyncio.sleep(0.2)
            assert await load.set_calls(2) == 2
            await asyncio.sleep(4)  # past the greetings
            await load.start_window()
            await asyncio.sleep(12)
            report = await load.end_window()
            hung_up = await load.set_calls(0)
        finally:
            await group.stop()
    return report, hung_up


async def test_two_livekit_calls_report_latency_both_ways_and_flushes(tmp_path: Path) -> None:
    with EmbeddedNats() as nats:
        report, left = await _measure_two_livekit_calls(nats, tmp_path)

    assert (report.calls, report.calls_at_end, left) == (2, 2, 0), report.summary()
    # Caller audio flows through the room and the edge for the whole window; agent audio when it answers.
    assert len(report.caller_ms) > 2 * 50 * 6, report.summary()
    assert len(report.agent_ms) > 50, report.summary()
    assert 0 < report.worst_p99_ms < 5000  # plausible times (ms, one clock), whatever the load
    # The callees spoke over answers; the agent's clears were matched to the edge's flushes (a SIP phone is told
    # nothing, so there is no phone-side part).
    assert report.barge_ins_spoken >= 1, report.summary()
    assert report.barge_in_agent_ms, report.summary()
    assert 1 <= len(report.barge_in_ms) <= len(report.barge_in_agent_ms), report.summary()
    assert not report.barge_in_phone_ms and report.clears_without_twilio_clear == 0
    assert report.unmatched_sessions == 0
    for latency in (*report.barge_in_agent_ms, *report.barge_in_ms):
        assert 0 < latency < 2000
    assert report.phone_frames > 2 * 50 * 6

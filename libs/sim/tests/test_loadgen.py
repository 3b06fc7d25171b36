"""The load generator against the real platform: three calls, one short window, and what it reports."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import pytest

from switchboard.devkit.dev_config import EDGE_PUBLIC_URL, DevPlatform, Ports, Secrets
from switchboard.devkit.nats_server import EmbeddedNats, free_port
from switchboard.devkit.platform import ProcessGroup
from switchboard.sim.loadgen import Endpoints, LoadGenerator, LoadOptions, WindowReport

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def _measure_three_calls(nats: EmbeddedNats, state: Path) -> WindowReport:
    keys = Secrets()
    ports = Ports(**{name: free_port() for name in Ports.__dataclass_fields__})
    dev = DevPlatform(nats.url, state, ports=ports, keys=keys, extra_env={"LOG_LEVEL": "WARNING"})
    endpoints = Endpoints(
        api_url=f"http://127.0.0.1:{ports.call_control}",
        api_key=keys.api_key,
        nats_url=nats.url,
        edge_url=f"ws://127.0.0.1:{ports.edge}",
        public_edge_url=EDGE_PUBLIC_URL.rsplit("/twilio", 1)[0],
        twilio_account_sid=dev.twilio_account_sid,
        twilio_auth_token=dev.twilio_auth_token,
        twilio_port=ports.twilio_emulator,
        openai_api_key=keys.openai_key,
        openai_port=ports.openai_emulator,
    )
    # Every answer is spoken over, soon, so a short window holds barge-ins.
    options = LoadOptions(
        pause_s=(0.2, 0.5), barge_in_share=1.0, barge_in_after_s=(0.3, 0.6), tap_calls=3, log_dir=str(state)
    )
    group = ProcessGroup(colour=False)
    async with LoadGenerator(endpoints, options) as load:
        try:
            for spec in dev.services():
                if spec.name != "agent-gemini":  # no Gemini call here
                    await group.start(spec)
            deadline = time.monotonic() + 90
            for port in (
                ports.transcoder_ops,
                ports.edge_ops,
                ports.agent_openai_ops,
                ports.call_control_ops,
            ):
                while not await asyncio.to_thread(_ready, port):
                    assert not group.exited.is_set(), "a service exited during start-up"
                    assert time.monotonic() < deadline, f"ops port {port} never ready"
                    await asyncio.sleep(0.2)
            assert await load.set_calls(3) == 3
            await asyncio.sleep(4)  # past the greetings
            await load.start_window()
            await asyncio.sleep(12)
            report = await load.end_window()
            assert await load.set_calls(0) == 0
        finally:
            await group.stop()
    return report


async def test_three_calls_report_latency_both_ways_and_barge_ins(tmp_path: Path) -> None:
    with EmbeddedNats() as nats:
        report = await _measure_three_calls(nats, tmp_path)

    assert (report.calls, report.calls_at_end) == (3, 3), report.summary()
    assert report.seconds >= 11.5  # the window covers the 12 s slept (a loaded machine only makes it longer)
    # Caller audio flows for the whole window (50 frames a second per call); agent audio when it answers.
    assert len(report.caller_ms) > 3 * 50 * 8, report.summary()
    assert len(report.agent_ms) > 50, report.summary()
    for latency in (*report.caller_ms, *report.agent_ms):
        assert 0 <= latency < 1000
    assert 0 < report.worst_p99_ms < 1000
    # The callees spoke over answers, and the model's speech events were matched to the calls' clears.
    assert report.barge_ins_spoken >= 1, report.summary()
    assert report.barge_in_agent_ms, report.summary()
    with_clear = len(report.barge_in_phone_ms)
    assert with_clear + report.clears_without_twilio_clear == len(report.barge_in_agent_ms)
    assert len(report.barge_in_ms) == with_clear >= 1, report.summary()
    assert report.unmatched_sessions == 0
    for latency in (*report.barge_in_agent_ms, *report.barge_in_ms, *report.barge_in_phone_ms):
        assert 0 < latency < 1000
    assert report.phone_frames > 3 * 50 * 8
    assert "3 calls" in report.summary()

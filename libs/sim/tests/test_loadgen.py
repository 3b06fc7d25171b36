"""The load generator against the real platform (as the benchmarks run it): a few calls on each transport, one
short window, and what it reports."""

from __future__ import annotations

from typing import Literal

import pytest

from switchboard.devkit.platform_load import LoadSettings, loaded_platform
from switchboard.sim.loadgen import WindowReport

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SECONDS = 12.0


async def _measure(transport: Literal["twilio", "livekit"], calls: int) -> tuple[WindowReport, int]:
    """`calls` calls whose callees speak over every answer, soon, so a short window holds barge-ins."""
    settings = LoadSettings(
        transport=transport,
        capacity=10,
        tap_calls=calls,
        settle_s=4.0,  # past the greetings
        seconds=SECONDS,
        pause_s=(0.2, 0.5),
        barge_in_share=1.0,
        barge_in_after_s=(0.3, 0.6),
    )
    async with loaded_platform(settings, progress=lambda _line: None) as platform:
        await platform.warm_up(0)
        level = await platform.measure(calls)
        hung_up = await platform.load.set_calls(0)
    return level.report, hung_up


async def test_three_twilio_calls_report_latency_both_ways_and_barge_ins() -> None:
    report, left = await _measure("twilio", 3)

    assert (report.calls, report.calls_at_end, left) == (3, 3, 0), report.summary()
    assert report.seconds >= SECONDS - 0.5  # the window covers the time slept (a loaded machine only adds)
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


async def test_two_livekit_calls_report_latency_both_ways_and_flushes() -> None:
    report, left = await _measure("livekit", 2)

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

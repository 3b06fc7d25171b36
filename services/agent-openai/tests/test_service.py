import asyncio
import contextlib

import pytest

from switchboard.common.bus.messages import Hangup, TranscriptTurn
from switchboard.devkit.eventually import eventually
from switchboard.sim.openai_realtime import OpenAIRealtimeEmulator

from .conftest import Line, OpenLine, RunningAgent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CALLS = 50


async def test_50_concurrent_calls_on_one_agent_each_get_their_greeting(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator
) -> None:
    async with agent() as running, contextlib.AsyncExitStack() as stack:
        calls: list[Line] = [await stack.enter_async_context(line(f"oa-load-{i}")) for i in range(CALLS)]
        await asyncio.gather(*(call.attach() for call in calls))
        assert len(running.service.agents) == CALLS
        await eventually(
            lambda: all(call.finished(1) for call in calls), 30, what="every greeting played out"
        )
        await eventually(
            lambda: all(any(t.role == "agent" for t in call.of(TranscriptTurn)) for call in calls), 10
        )
        assert running.metric("switchboard_agent_active_calls") == CALLS
        await asyncio.gather(*(call.hang_up() for call in calls))
        await eventually(lambda: not running.service.agents, 10, what="every call let go")

    assert len(emulator.sessions) == CALLS
    for call in calls:
        assert {frame.generation for _, frame in call.frames} == {1}
        assert call.generations[1].received_ms == pytest.approx(1500, abs=20)  # the whole greeting arrived
        assert [t.text for t in call.of(TranscriptTurn)] == [emulator.script.greeting]
        assert not call.of(Hangup)
    assert running.metric("switchboard_agent_calls_ended_total", reason="call_over") == CALLS

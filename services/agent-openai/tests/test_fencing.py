"""An agent serves only calls live on the edge asking, at the call's epoch, and leaves when replaced or orphaned."""

import pytest

from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachRequest, request_attach
from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import TranscriptTurn
from switchboard.common.errors import AttachError
from switchboard.devkit.eventually import eventually
from switchboard.sim.openai_realtime import OpenAIRealtimeEmulator

from .conftest import FMT, PROFILE, OpenLine, RunningAgent

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def _attach(bus: Bus, request: AttachRequest) -> None:
    await request_attach(bus, subjects.agent_attach("openai"), request, attempts=1)


async def test_forged_attaches_are_refused_and_hold_no_model_session(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator
) -> None:
    async with agent() as running, line("oa-fence-live") as call:
        await call.attach()  # live on the stand-in edge, epoch 1
        forged = [
            AttachRequest(call_id="oa-fence-nonexistent", profile=PROFILE.name),  # no such call
            AttachRequest(call_id="oa-fence-live", profile=PROFILE.name, requester="evil", epoch=1),
            AttachRequest(
                call_id="oa-fence-live", profile=PROFILE.name, requester=call.edge.instance, epoch=5
            ),
        ]
        for request in forged:
            with pytest.raises(AttachError):
                await _attach(call.bus, request)
        assert list(running.service.agents) == ["oa-fence-live"]
        assert len(emulator.live_sessions) == 1
        assert running.metric("switchboard_agent_attach_refused_total", reason="no_call") == 1
        assert running.metric("switchboard_agent_attach_refused_total", reason="not_live_on_edge") == 1
        await call.hang_up()
        await eventually(lambda: not running.service.agents, 10, what="the call let go")


async def test_an_agent_replaced_by_a_newer_epoch_leaves_without_a_word(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator
) -> None:
    async with agent() as running, line("oa-fence-old") as call:
        await call.attach()
        await eventually(lambda: call.finished(1), 10, what="the greeting played out")
        turns_before = len(call.of(TranscriptTurn))
        await call.edge.hand_over(
            AttachRequest(
                call_id=call.call_id, profile=PROFILE.name, agent_in_format=FMT, agent_out_format=FMT
            ),
            first_generation=2,
        )  # the next edge heartbeat names epoch 2: this agent has been replaced
        await eventually(lambda: not running.service.agents, 5, what="the replaced agent to leave")
        await eventually(lambda: not emulator.live_sessions, 5, what="its model session to close")
        assert running.metric("switchboard_agent_calls_ended_total", reason="fenced") == 1
        assert len(call.of(TranscriptTurn)) == turns_before  # nothing published on the way out


async def test_an_agent_leaves_a_call_whose_edge_went_silent(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator
) -> None:
    async with agent(edge_timeout_s=1.0) as running, line("oa-fence-orphan") as call:
        await call.attach()
        await eventually(lambda: call.finished(1), 10, what="the greeting played out")
        assert running.service.agents
        await call.edge.stop()  # the edge died: no more heartbeats, no media_stopped
        await eventually(lambda: not running.service.agents, 5, what="the orphaned call to be left")
        assert not emulator.live_sessions
        assert running.metric("switchboard_agent_calls_ended_total", reason="edge_silent") == 1


async def test_asked_again_for_a_call_it_serves_an_agent_carries_on_at_the_new_epoch(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator
) -> None:
    async with agent() as running, line("oa-fence-again") as call:
        await call.attach()
        await eventually(lambda: call.finished(1), 10, what="the greeting played out")
        request = AttachRequest(
            call_id=call.call_id,
            profile=PROFILE.name,
            agent_in_format=FMT,
            agent_out_format=FMT,
            requester=call.edge.instance,
        )
        await _attach(call.bus, await call.edge.hand_over(request, first_generation=5))
        (served,) = running.service.agents.values()
        assert served.epoch == 2
        assert len(emulator.live_sessions) == 1  # the same model session goes on
        await call.hang_up()
        await eventually(lambda: not running.service.agents, 10, what="the call let go")

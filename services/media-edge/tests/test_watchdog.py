"""A transcoder or agent that goes silent mid-call is replaced; one that keeps heartbeating never is."""

import asyncio
from typing import Any

import msgspec
import pytest
from nats.aio.msg import Msg

from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachRequest
from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import ErrorOccurred, Event, MediaStopped
from switchboard.media_edge.call_setup import Attachment, Component
from switchboard.media_edge.watchdog import Liveness
from switchboard.sim.stand_in_agent import StandInAgent
from switchboard.transcoder.service import TranscoderService

from .conftest import AgentFactory, RunningEdgeFactory, TranscoderFactory, seed_call, wait_for

# Lost after 1 s without a heartbeat (the replicas of the fixtures beat every 0.2 s); attach quickly.
WATCHED: dict[str, Any] = {
    "component_timeout_s": 1.0,
    "heartbeat_interval_s": 0.2,
    "attach_timeout_s": 0.5,
    "attach_attempts": 3,
}
LOST = "switchboard_edge_components_lost_total"
REATTACHES = "switchboard_edge_reattaches_total"
ATTACHED = "switchboard_edge_attach_seconds_count"


# --- the timing, on an injected clock ---------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def attachment(kind: str, instance: str) -> Attachment:
    if kind == "agent":
        return Attachment(Component("agent", "agent-openai", subjects.agent_attach("openai")), instance)
    return Attachment(Component("transcoder", "transcoder", subjects.transcoder_attach()), instance)


@pytest.mark.unit
def test_a_replica_is_lost_once_silent_for_the_timeout_counting_from_its_attach() -> None:
    clock = FakeClock()
    liveness = Liveness(4.0, clock)
    agent = attachment("agent", "agent-1")
    liveness.watch(agent)
    clock.now += 3.99
    assert liveness.lost() == []
    clock.now += 0.01
    assert liveness.lost() == [agent]
    assert liveness.silent_for(agent) == pytest.approx(4.0)


@pytest.mark.unit
def test_each_heartbeat_of_the_attached_replica_starts_its_timeout_again() -> None:
    clock = FakeClock()
    liveness = Liveness(4.0, clock)
    agent = attachment("agent", "agent-1")
    liveness.watch(agent)
    for _ in range(10):
        clock.now += 3.0
        liveness.heard("agent-openai", "agent-1")
        assert liveness.lost() == []
    clock.now += 4.0
    assert liveness.lost() == [agent]


@pytest.mark.unit
def test_heartbeats_of_other_replicas_and_components_do_not_count() -> None:
    clock = FakeClock()
    liveness = Liveness(4.0, clock)
    transcoder, agent = attachment("transcoder", "transcoder-1"), attachment("agent", "agent-1")
    liveness.watch(transcoder)
    liveness.watch(agent)
    clock.now += 1.0
    liveness.heard("transcoder", "transcoder-1")
    liveness.heard("agent-openai", "agent-0")  # a replica the call is not attached to
    liveness.heard("agent-gemini", "agent-1")
    liveness.heard("media-edge", "edge-1")
    clock.now += 3.0
    assert liveness.lost() == [agent]
    clock.now += 1.0
    assert liveness.lost() == [transcoder, agent]


@pytest.mark.unit
def test_a_replacement_is_watched_from_its_attach_and_its_predecessor_no_longer_counts() -> None:
    clock = FakeClock()
    liveness = Liveness(4.0, clock)
    transcoder, agent = attachment("transcoder", "transcoder-1"), attachment("agent", "agent-1")
    liveness.watch(transcoder)
    liveness.watch(agent)
    clock.now += 4.0
    assert liveness.lost() == [transcoder, agent]
    replacement = attachment("agent", "agent-2")
    liveness.watch(replacement)
    clock.now += 1.0
    liveness.heard("agent-openai", "agent-1")  # the old replica was only slow: it serves the call no more
    clock.now += 2.9
    assert liveness.lost() == [transcoder]
    clock.now += 0.1
    assert liveness.lost() == [transcoder, replacement]  # still in attach order


# --- the edge, with real NATS, transcoders and stand-in agents -----------------------------------------------


async def tap_attach_requests(client: Bus, subject: str) -> list[AttachRequest]:
    """Every attach request sent on `subject` (a plain subscriber gets a copy; it never answers)."""
    requests: list[AttachRequest] = []

    async def on_msg(msg: Msg) -> None:
        requests.append(msgspec.msgpack.decode(msg.data, type=AttachRequest))

    await client.nc.subscribe(subject, cb=on_msg)
    await client.nc.flush()
    return requests


def errors_in(history: list[Event]) -> list[tuple[str, str, bool]]:
    return [(e.component, e.code, e.retryable) for e in history if isinstance(e, ErrorOccurred)]


def end_reasons(history: list[Event]) -> list[str]:
    return [e.reason for e in history if isinstance(e, MediaStopped)]


@pytest.mark.integration
@pytest.mark.timeout(60)
async def test_an_agent_that_stops_heartbeating_is_replaced_and_the_caller_hears_the_new_one(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService, agents: AgentFactory
) -> None:
    call_id = "agent-lost-1"
    await seed_call(client, call_id)
    agent_requests = await tap_attach_requests(client, subjects.agent_attach("openai"))
    transcoder_requests = await tap_attach_requests(client, subjects.transcoder_attach())
    dying = await agents("replica-a")
    async with media_edge(**WATCHED) as running:
        async with running.phone(call_id) as call:
            first = await dying.wait_for_call(call_id)
            await first.speak(0.2)
            played = await first.speak(0.4)
            await first.wait_playout(played, timeout_s=10)
            survivor = await agents("replica-b")
            await dying.stop()  # the pod is gone: no more heartbeats, no more attach replies
            assert first.caller_seqs is not None
            last_heard_by_the_dead = first.caller_seqs[1]

            second = await survivor.wait_for_call(call_id, timeout_s=15)
            await wait_for(lambda: second.caller_seqs is not None, what="caller audio at the new agent")
            assert second.caller_seqs is not None
            assert second.caller_seqs[0] <= last_heard_by_the_dead + 1, "caller audio of the hand-over lost"
            assert second.request.resume and second.request.first_generation > played
            assert [request.resume for request in agent_requests] == [False, True]
            frames_at_attach = second.caller_frames
            generation = await second.speak(0.5)
            assert generation == second.request.first_generation
            report = await second.wait_playout(generation, timeout_s=10)
            assert report.played_ms == pytest.approx(500, abs=5), "the new agent's answer was not played"
            heard = [m for m in call.buffer.marks if m.name.startswith(f"{generation}:") and m.echoed_s]
            assert heard, "the phone played none of the new agent's answer"
            await wait_for(
                lambda: second.caller_frames > frames_at_attach + 10, what="caller audio at the new agent"
            )
            assert not call.closed
        await wait_for(lambda: not running.edge.sessions, what="the stream to end")
        assert running.metric(LOST, component="agent") == 1
        assert running.metric(REATTACHES, component="agent", outcome="attached") == 1
        assert running.metric(LOST, component="transcoder") == 0
    assert len(transcoder_requests) == 1, "the transcoder kept heartbeating, yet it was attached again"
    history = await client.call_history(call_id)
    assert errors_in(history) == [("agent-openai", "component_lost", True)]
    assert end_reasons(history) == ["stop"]


@pytest.mark.integration
@pytest.mark.timeout(60)
async def test_components_that_keep_heartbeating_are_never_attached_again(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService, agents: AgentFactory
) -> None:
    call_id = "alive-1"
    await seed_call(client, call_id)
    agent_requests = await tap_attach_requests(client, subjects.agent_attach("openai"))
    transcoder_requests = await tap_attach_requests(client, subjects.transcoder_attach())
    replica = await agents("replica-alive", heartbeat_interval_s=0.1)
    async with media_edge(**WATCHED) as running:
        async with running.phone(call_id) as call:
            answer = await replica.wait_for_call(call_id)
            generation = await answer.speak(3.0)  # plays for three times the timeout
            report = await answer.wait_playout(generation, timeout_s=20)
            assert report.played_ms == pytest.approx(3000, abs=5)
            assert not call.closed
        await wait_for(lambda: not running.edge.sessions, what="the stream to end")
        assert running.metric(LOST, component="agent") == running.metric(LOST, component="transcoder") == 0
    assert (len(agent_requests), len(transcoder_requests)) == (1, 1)
    history = await client.call_history(call_id)
    assert errors_in(history) == []
    assert end_reasons(history) == ["stop"]


@pytest.mark.integration
@pytest.mark.timeout(60)
async def test_a_lost_transcoder_is_replaced_with_the_formats_it_had_and_audio_flows_again(
    client: Bus, media_edge: RunningEdgeFactory, transcoders: TranscoderFactory, agent: StandInAgent
) -> None:
    call_id = "transcoder-lost-1"
    await seed_call(client, call_id)
    requests = await tap_attach_requests(client, subjects.transcoder_attach())
    dying = await transcoders("transcoder-a")
    async with media_edge(**WATCHED) as running:
        async with running.phone(call_id):
            answer = await agent.wait_for_call(call_id)
            survivor = await transcoders("transcoder-b")
            await dying.kill()
            await wait_for(lambda: call_id in survivor.service.calls, what="the call at the other transcoder")
            assert len(requests) == 2 and requests[1] == requests[0]
            frames = answer.caller_frames
            await wait_for(lambda: answer.caller_frames > frames + 10, what="caller audio converted again")
            generation = await answer.speak(0.5)
            report = await answer.wait_playout(generation, timeout_s=10)
            assert report.played_ms == pytest.approx(500, abs=5)
        await wait_for(lambda: not running.edge.sessions, what="the stream to end")
        assert running.metric(LOST, component="transcoder") == 1
        assert running.metric(REATTACHES, component="transcoder", outcome="attached") == 1
        assert running.metric(LOST, component="agent") == 0
    history = await client.call_history(call_id)
    assert errors_in(history) == [("transcoder", "component_lost", True)]


@pytest.mark.integration
@pytest.mark.timeout(60)
async def test_when_no_replica_takes_the_call_back_the_stream_ends_as_a_failed_attach(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService, agents: AgentFactory
) -> None:
    call_id = "orphaned-1"
    await seed_call(client, call_id)
    last = await agents("replica-last")
    async with media_edge(**WATCHED) as running:
        call = running.phone(call_id)
        await call.open()
        await wait_for(lambda: running.metric(ATTACHED, component="agent") == 1, what="the agent attached")
        await last.stop()
        await asyncio.wait_for(call.wait_closed(), 15)
        await call.hang_up()
        assert call.counters.close_code == 1011
        await wait_for(lambda: not running.edge.sessions, what="the stream to end")
        assert running.metric(LOST, component="agent") == 1
        assert running.metric(REATTACHES, component="agent", outcome="failed") == 1
    history = await client.call_history(call_id)
    assert errors_in(history) == [
        ("agent-openai", "component_lost", True),
        ("media-edge", "attach_failed", True),
    ]
    assert end_reasons(history) == ["attach_failed"]
    await wait_for(lambda: call_id not in transcoder.calls, what="the transcoder to let the call go")


@pytest.mark.integration
@pytest.mark.timeout(60)
async def test_a_call_is_attached_again_at_most_max_reattaches_times(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService, agents: AgentFactory
) -> None:
    call_id = "never-heard-1"
    await seed_call(client, call_id)
    requests = await tap_attach_requests(client, subjects.agent_attach("openai"))
    await agents("replica-mute", heartbeat_interval_s=None)  # takes the call, never heartbeats
    async with media_edge(**WATCHED, max_reattaches=2) as running:
        call = running.phone(call_id)
        await call.open()
        await asyncio.wait_for(call.wait_closed(), 20)
        await call.hang_up()
        assert call.counters.close_code == 1011
        await wait_for(lambda: not running.edge.sessions, what="the stream to end")
        assert running.metric(LOST, component="agent") == 3
        assert running.metric(REATTACHES, component="agent", outcome="attached") == 2
        assert running.metric(REATTACHES, component="agent", outcome="limit") == 1
        assert running.metric(LOST, component="transcoder") == 0
    assert [request.resume for request in requests] == [False, True, True]
    history = await client.call_history(call_id)
    assert errors_in(history) == [
        *[("agent-openai", "component_lost", True)] * 3,
        ("media-edge", "reattach_limit", False),
    ]
    assert end_reasons(history) == ["attach_failed"]


@pytest.mark.unit
def test_nobody_is_lost_while_the_edges_own_bus_is_down_nor_until_the_timeout_after_it_is_back() -> None:
    clock = FakeClock()
    up_since: list[float | None] = [clock.now]
    liveness = Liveness(4.0, clock, lambda: up_since[0])
    agent = attachment("agent", "agent-1")
    liveness.watch(agent)
    clock.now += 1.0
    up_since[0] = None  # NATS went away: nothing can be heard
    clock.now += 6.0
    assert liveness.lost() == []
    up_since[0] = clock.now  # back: the agent gets a whole timeout to be heard again
    clock.now += 3.99
    assert liveness.lost() == []
    liveness.heard("agent-openai", "agent-1")
    clock.now += 3.99
    assert liveness.lost() == []
    clock.now += 0.01
    assert liveness.lost() == [agent]

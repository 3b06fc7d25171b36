import asyncio
from collections.abc import Callable

import pytest

from switchboard.common.bus.messages import ErrorOccurred, Hangup
from switchboard.devkit.eventually import eventually
from switchboard.sim.gemini_live import GeminiLiveEmulator, GeminiScript
from switchboard.sim.speech import silence

from .conftest import Caller, RunningAgentFactory, caller_speech

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

GREETING = GeminiScript.english_receptionist().greeting


def session_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("gemini-session-")]


async def greeted(call: Caller) -> None:
    await call.attach("gemini-receptionist")
    await call.wait_generation_done(1)
    await call.play_out(1)


async def test_a_dropped_model_socket_is_resumed_and_the_call_goes_on(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    async with agent_gemini() as agent:
        call = caller("gm-drop")
        await greeted(call)
        session = gemini.latest_session
        gemini.drop_connections()  # no close frame: the SDK reports 1006
        await eventually(lambda: session.resumptions == 1, 5, what="the session resumed")
        assert len(gemini.sessions) == 1, "the same session, not a new one"
        assert gemini.connection_log[0].outcome == "aborted" and gemini.connection_log[1].resumed
        resumed_setup = session.client_messages("setup")[-1].body["setup"]
        assert resumed_setup["sessionResumption"]["handle"] in session.handles
        await eventually(lambda: agent.metric("switchboard_agent_model_reconnects_total") == 1, 2)

        await call.say(caller_speech("I would like to book a cleaning"), speed=4)
        await call.wait_generation_done(2)
        assert [t.role for t in call.transcripts()] == ["agent", "caller", "agent"]
        assert not call.of_type(Hangup) and not call.of_type(ErrorOccurred)
        await call.hang_up()
        await eventually(
            lambda: not agent.service.agents and not session_tasks(), what="nothing left running"
        )


async def test_go_away_moves_to_a_new_connection_between_turns_without_losing_caller_audio(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    async with agent_gemini() as agent:
        call = caller("gm-goaway")
        await greeted(call)
        session = gemini.latest_session
        quiet_line = silence(2.0, 16_000).astype("<i2").tobytes()
        talking = asyncio.create_task(call.say(quiet_line))  # the caller's line keeps streaming, in real time
        await asyncio.sleep(0.5)
        await gemini.go_away(5.0)
        await eventually(lambda: session.resumptions == 1, 3, what="the session resumed")
        await talking

        old = gemini.connection_log[0]
        assert (old.close_code, gemini.connection_log[1].resumed) == (1000, True), "the agent closed it first"
        go_away = session.server_messages("goAway")[0]
        resumed = next(m for m in session.server_messages("setupComplete") if m.connection == 1)
        gap_s = resumed.at - go_away.at
        assert 0 <= gap_s < 5.0, f"resumed {gap_s:.1f} s after goAway, past its 5 s notice"
        await eventually(lambda: session.audio_received_ms == pytest.approx(call.sent_ms, abs=1), 2)
        assert agent.metric("switchboard_agent_model_reconnects_total") == 1

        await call.say(caller_speech("I would like to book a cleaning"), speed=4)
        await call.wait_generation_done(2)
        assert [t.role for t in call.transcripts()] == ["agent", "caller", "agent"]
        assert not call.of_type(ErrorOccurred)
        await call.hang_up()


async def test_go_away_while_the_model_speaks_waits_for_the_end_of_its_turn(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    gemini.config.realtime_factor = 1.0
    async with agent_gemini() as _:
        call = caller("gm-goaway-busy")
        await call.attach("gemini-receptionist")
        await eventually(lambda: call.sent_ms_of(1) >= 500, 5, what="the greeting is under way")
        session = gemini.latest_session
        await gemini.go_away(30.0)
        await call.wait_generation_done(1)
        await eventually(lambda: session.resumptions == 1, 3, what="the session resumed")
        greeting = next(t for t in call.transcripts() if t.generation == 1)
        assert greeting.text == GREETING and not greeting.interrupted, "the greeting was not cut"
        turn_complete = next(
            m for m in session.server_messages("serverContent") if m.body["serverContent"].get("turnComplete")
        )
        resumed = next(m for m in session.server_messages("setupComplete") if m.connection == 1)
        assert turn_complete.connection == 0 and resumed.at > turn_complete.at
        await call.hang_up()


async def test_the_go_away_deadline_replaces_the_connection_even_mid_turn(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    gemini.config.realtime_factor = 1.0
    gemini.config.min_reply_s = 10.0
    async with agent_gemini(go_away_margin_s=0.5) as agent:
        call = caller("gm-goaway-deadline")
        await call.attach("gemini-receptionist")
        await eventually(lambda: call.sent_ms_of(1) >= 500, 5, what="the greeting is under way")
        session = gemini.latest_session
        await gemini.go_away(1.0)
        await eventually(lambda: session.resumptions == 1, 3, what="the session resumed")
        assert gemini.connection_log[0].close_code == 1000, (
            "closed by the agent before the service's deadline"
        )
        gemini.config.realtime_factor, gemini.config.min_reply_s = 3.0, 0.0
        await call.wait_generation_done(1)
        await call.play_out(1)
        await call.say(caller_speech("I would like to book a cleaning"), speed=4)
        await call.wait_generation_done(2, within_s=20)
        assert agent.metric("switchboard_agent_model_reconnects_total") == 1
        await call.hang_up()


async def test_a_bad_api_key_ends_the_call_with_a_clear_reason(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    async with agent_gemini(api_key="not-the-key") as agent:
        call = caller("gm-badkey")
        await call.attach("gemini-receptionist")
        await eventually(
            lambda: call.of_type(Hangup) and call.of_type(ErrorOccurred), 5, what="hangup + error"
        )
        error = call.of_type(ErrorOccurred)[0]
        assert (error.component, error.code, error.retryable) == ("agent-gemini", "unauthorized", False)
        assert "API key" in error.message
        assert call.of_type(Hangup)[0].reason == "model_error:unauthorized"
        assert not call.frames
        assert len(gemini.connection_log) == 1, "a refused key is not retried"
        await eventually(
            lambda: not agent.service.agents and not session_tasks(), what="nothing left running"
        )
        assert agent.metric("switchboard_agent_calls_ended_total", reason="model_error") == 1


@pytest.mark.parametrize(
    ("fault", "code"),
    [("http_403", "unauthorized"), ("unknown_model", "model_refused")],
)
async def test_a_refusal_that_retrying_cannot_help_ends_the_call(
    gemini: GeminiLiveEmulator,
    agent_gemini: RunningAgentFactory,
    caller: Callable[[str], Caller],
    fault: str,
    code: str,
) -> None:
    if fault == "http_403":
        gemini.reject_connections(1, status=403)
    else:
        gemini.config.models = frozenset({"models/some-other-model"})
    async with agent_gemini():
        call = caller(f"gm-{fault.replace('_', '-')}")
        await call.attach("gemini-receptionist")
        await eventually(lambda: call.of_type(Hangup), 5, what="hangup")
        assert call.of_type(Hangup)[0].reason == f"model_error:{code}"
        assert len(gemini.connection_log) == 1


async def test_a_briefly_unavailable_service_is_retried_before_the_greeting(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    gemini.reject_connections(2, status=503)
    async with agent_gemini():
        call = caller("gm-503")
        await call.attach("gemini-receptionist")
        await call.wait_generation_done(1)
        assert [r.status for r in gemini.connection_log] == [503, 503, 101]
        assert not call.of_type(ErrorOccurred)
        await call.hang_up()


async def test_reconnecting_gives_up_after_the_configured_attempts(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    async with agent_gemini(reconnect_attempts=2):
        call = caller("gm-giveup")
        await greeted(call)
        gemini.reject_connections(10, status=503)
        await gemini.close_connections(1011, "Internal error encountered.")
        await eventually(lambda: call.of_type(Hangup), 5, what="hangup")
        assert call.of_type(Hangup)[0].reason == "model_error:reconnect_failed"
        error = next(e for e in call.of_type(ErrorOccurred) if not e.retryable)
        assert "gave up after 2 reconnection attempts" in error.message
        assert [r.status for r in gemini.connection_log] == [101, 503, 503]


async def test_when_the_model_socket_drops_mid_answer_the_agent_carries_on_without_being_asked(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    gemini.config.realtime_factor = 1.0  # the answer is sent as it is spoken: the drop cuts it
    async with agent_gemini() as agent:
        call = caller("gm-cut")
        await greeted(call)
        await call.say(caller_speech("I would like to book a cleaning"), speed=4)
        await eventually(lambda: call.sent_ms_of(2) >= 500, 10, what="the answer under way")
        gemini.drop_connections()
        await eventually(lambda: call.sent_ms_of(3) > 0, 10, what="the rest of the answer, unasked")
        cut_at = max(at for at, frame in call.frames if frame.generation == 2)
        again_at = min(at for at, frame in call.frames if frame.generation == 3)
        print(
            f"FIGURE gemini connection dropped mid-answer: agent audio again after {again_at - cut_at:.2f} s"
        )
        assert agent.metric("switchboard_agent_answers_resumed_total") == 1
        assert not call.of_type(Hangup)
        await call.hang_up()
        await eventually(lambda: not agent.service.agents, what="the call let go")

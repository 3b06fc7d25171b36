import asyncio
import dataclasses
import time

import pytest

from switchboard.common.agent.prompts import opening_prompt
from switchboard.common.bus.messages import (
    BargeIn,
    Clear,
    ComponentAttached,
    ErrorOccurred,
    Hangup,
    ToolCalled,
    TranscriptTurn,
)
from switchboard.devkit.eventually import eventually
from switchboard.sim.openai_realtime import FunctionCallSpec, OpenAIRealtimeEmulator, Script, Turn

from .conftest import PROFILE, OpenLine, RunningAgent, speech

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def transcripts(call: object, role: str) -> list[str]:
    return [t.text for t in call.of(TranscriptTurn) if t.role == role]  # type: ignore[attr-defined]


async def test_the_greeting_reaches_the_caller_first(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator
) -> None:
    async with agent(), line("oa-greet") as call:
        await call.attach()
        await eventually(lambda: call.finished(1), 10, what="the greeting played out")
        await eventually(lambda: transcripts(call, "agent"), what="the greeting's transcript")
        session = await emulator.wait_for_session(0)

    assert {f.generation for _, f in call.frames} == {1}
    assert [f.media_ms for _, f in call.frames[:3]] == [0, 100, 200]  # one frame per 100 ms model delta
    assert call.generations[1].final_ms == pytest.approx(1500, abs=20)
    assert transcripts(call, "agent") == [emulator.script.greeting]
    assert session.responses[0].text == emulator.script.greeting
    assert session.config["audio"]["output"]["voice"] == "marin"
    assert session.config["instructions"].startswith("You are Ava")
    greet = next(e for e in session.client_events if e.type == "response.create")
    assert greet.payload["response"]["instructions"].endswith("Speak first: " + PROFILE.greeting)
    assert "handed over" not in session.config["instructions"]
    assert [tool["name"] for tool in session.config["tools"]] == ["end_call"]
    assert call.of(ComponentAttached)[0].component == "agent-openai"


async def test_a_resumed_call_carries_on_from_the_transcript_instead_of_greeting(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator
) -> None:
    async with agent() as running, line("oa-resume") as call:
        for turn in (
            TranscriptTurn(role="agent", text="Bright Smile Dental, how can I help?", generation=1),
            TranscriptTurn(role="caller", text="I would like to book a cleaning."),
            TranscriptTurn(role="agent", text="Which day works", generation=2, interrupted=True),
        ):
            await call.bus.publish_event("oa-resume", turn)
        await call.attach(resume=True, first_generation=5)
        await eventually(lambda: call.finished(5), 10, what="the first resumed response played out")
        session = await emulator.wait_for_session(0)
        assert running.metric("switchboard_agent_calls_resumed_total") == 1
        assert running.metric("switchboard_agent_time_to_first_audio_seconds_count") == 0  # no greeting

    assert {f.generation for _, f in call.frames} == {5}  # above what the edge saw of the old replica
    instructions = session.config["instructions"]
    assert instructions.startswith(PROFILE.instructions)
    assert "handed over to you after a technical problem" in instructions
    assert "Caller: I would like to book a cleaning." in instructions
    assert "Agent (cut off by the caller; this is all they heard): Which day works" in instructions
    first = next(e for e in session.client_events if e.type == "response.create")
    asked = first.payload["response"]["instructions"]
    assert asked.endswith(opening_prompt(PROFILE, resumed=True))
    assert PROFILE.greeting not in asked
    attached = call.of(ComponentAttached)[0]
    assert attached.component == "agent-openai" and attached.detail["resumed"] is True


@pytest.mark.parametrize("input_batching", [True, False], ids=["plugin-100ms-appends", "20ms-appends"])
async def test_a_caller_utterance_gets_a_reply_and_both_transcripts_are_recorded(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator, input_batching: bool
) -> None:
    turn = emulator.script.turns[0]
    async with agent(input_batching=input_batching), line(f"oa-reply-{input_batching}") as call:
        await call.attach()
        await eventually(lambda: call.finished(1), 10, what="the greeting played out")
        await call.say(speech(turn.caller_says))
        await eventually(lambda: call.finished(2), 10, what="the reply played out")
        await eventually(lambda: len(transcripts(call, "agent")) == 2, what="the reply's transcript")

    assert transcripts(call, "caller") == [turn.caller_says]
    assert transcripts(call, "agent") == [emulator.script.greeting, turn.reply]
    assert [t.generation for t in call.of(TranscriptTurn) if t.role == "agent"] == [1, 2]
    assert not call.of(Clear)  # the caller waited for the greeting to end: no barge-in
    session = emulator.sessions[0]
    appended = [e.audio_bytes for e in session.client_events if e.type == "input_audio_buffer.append"]
    assert set(appended[1:-1]) == {4800 if input_batching else 960}  # 100 ms or 20 ms of PCM16 at 24 kHz


async def test_barge_in_clears_at_once_drops_the_rest_and_truncates_to_what_was_played(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator
) -> None:
    emulator.behaviour.reply_audio_ms = 6000
    emulator.behaviour.send_speed = 1.0  # the model is still sending when the caller speaks
    async with agent(), line("oa-barge") as call:
        await call.attach()
        await eventually(
            lambda: 1 in call.generations and call.generations[1].played_ms(time.monotonic()) > 1500, 10
        )
        await call.say(speech(emulator.script.turns[0].caller_says))
        await eventually(lambda: call.of(BargeIn), 5, what="the barge-in reported")
        emulator.behaviour.reply_audio_ms, emulator.behaviour.send_speed = 1500, 4.0  # a short answer now
        session = await emulator.wait_for_session(0)
        await eventually(lambda: session.truncations, 5, what="the truncation")
        await eventually(lambda: call.finished(2), 15, what="the answer after the barge-in")

    started = next(e for e in session.server_events if e.type == "input_audio_buffer.speech_started")
    clear_at = call.when(Clear)
    assert clear_at - started.at < 0.2  # the target, 5 ms, is the benchmark's
    [clear] = call.of(Clear)
    assert clear.generation == 1
    frames_at_clear = next(n for _, n, c in call.controls if isinstance(c, Clear))
    assert [f.generation for _, f in call.frames[frames_at_clear:]] == [2] * (
        len(call.frames) - frames_at_clear
    )
    played = call.generations[1].final_ms
    assert played is not None and 1500 < played < 6000
    [truncation] = session.truncations
    assert truncation.item_id == session.responses[0].item_id
    assert truncation.audio_end_ms == pytest.approx(played, abs=40)
    assert call.of(BargeIn)[0].played_ms == truncation.audio_end_ms
    assert (session.responses[0].status, session.responses[0].reason) == ("cancelled", "turn_detected")
    greeting = next(t for t in call.of(TranscriptTurn) if t.role == "agent" and t.generation == 1)
    assert greeting.interrupted and emulator.script.greeting.startswith(greeting.text)


async def test_end_call_hangs_up_after_the_goodbye_has_played(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator
) -> None:
    goodbye = "Thank you for calling. Goodbye!"
    emulator.script = Script(
        greeting="Bright Smile Dental, how can I help?",
        turns=(
            Turn(
                "That is all, thank you.",
                goodbye,
                FunctionCallSpec("end_call", {"reason": "caller_done"}, reply_after=goodbye),
            ),
        ),
    )
    async with agent() as running, line("oa-end") as call:
        await call.attach()
        await eventually(lambda: call.finished(1), 10, what="the greeting played out")
        await call.say(speech("That is all, thank you."))
        await eventually(lambda: call.of(Hangup), 15, what="the hang-up")
        await eventually(lambda: not running.service.agents, 5, what="the agent let the call go")
        session = await emulator.wait_for_session(0)

    [hangup] = call.of(Hangup)
    assert hangup.reason == "caller_done"
    [tool] = call.of(ToolCalled)
    assert (tool.name, tool.arguments, tool.result["ok"]) == ("end_call", {"reason": "caller_done"}, True)
    assert list(session.function_outputs.values()) == [
        '{"ok": true, "status": "the call ends after your goodbye"}'
    ]
    # generation 2 is the response that only called the tool; the goodbye is generation 3, heard in full
    assert transcripts(call, "agent")[-1] == goodbye
    goodbye_playout = call.generations[3]
    assert goodbye_playout.final_ms == pytest.approx(1500, abs=20)
    assert goodbye_playout.start_at is not None
    assert call.when(Hangup) >= goodbye_playout.start_at + 1.5


@pytest.mark.parametrize("cause", ["dropped", "rotated"])
async def test_a_replaced_model_connection_does_not_end_the_call(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator, cause: str
) -> None:
    turn = emulator.script.turns[0]
    overrides = {"max_session_duration_s": 4.0} if cause == "rotated" else {}
    async with agent(**overrides) as running, line(f"oa-{cause}") as call:
        await call.attach()
        await eventually(lambda: call.finished(1), 10, what="the greeting played out")
        if cause == "dropped":
            await emulator.close_sessions(1011, "upstream crash")
        replacement = await asyncio.wait_for(emulator.wait_for_session(1), 5)
        await call.say(speech(turn.caller_says))
        await eventually(lambda: call.finished(2), 10, what="a reply after the reconnection")
        await eventually(lambda: running.metric("switchboard_agent_model_reconnects_total") >= 1, 5)
        assert f"oa-{cause}" in running.service.agents

    assert emulator.sessions[0].close_code == (1011 if cause == "dropped" else None)
    assert replacement.messages("assistant")[0].text() == emulator.script.greeting  # replayed as text
    assert replacement.responses[0].text == turn.reply
    assert transcripts(call, "agent") == [emulator.script.greeting, turn.reply]
    assert not call.of(Hangup)
    errors = call.of(ErrorOccurred)
    assert all(error.retryable for error in errors) and (cause == "dropped") == bool(errors)


async def test_refused_connections_are_retried_and_the_caller_is_still_greeted(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator
) -> None:
    emulator.fail_next_connections(2, status=503)
    async with agent(reconnect_interval_s=0.2), line("oa-refused") as call:
        await call.attach()
        await eventually(lambda: call.finished(1), 10, what="the greeting played out")

    assert len(emulator.sessions) == 1
    assert transcripts(call, "agent") == [emulator.script.greeting]
    assert [(e.code, e.retryable) for e in call.of(ErrorOccurred)] == [("connection", True)] * 2
    assert not call.of(Hangup)


async def test_a_wrong_api_key_ends_the_call_with_a_clear_reason(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator
) -> None:
    async with agent(api_key="sk-wrong") as running, line("oa-key") as call:
        await call.attach()
        await eventually(lambda: call.of(Hangup), 10, what="the hang-up")
        await eventually(lambda: call.of(ErrorOccurred), 5, what="the error event")
        await eventually(lambda: not running.service.agents, 5, what="the agent let the call go")

    [error] = call.of(ErrorOccurred)
    assert (error.component, error.code, error.retryable) == ("agent-openai", "invalid_api_key", False)
    assert "Incorrect API key" in error.message
    assert call.of(Hangup)[0].reason == "model_error:invalid_api_key"
    assert not call.frames
    assert emulator.rejected_connections == 1


async def test_when_the_model_connection_drops_mid_answer_the_agent_carries_on_without_being_asked(
    agent: RunningAgent, line: OpenLine, emulator: OpenAIRealtimeEmulator
) -> None:
    emulator.behaviour = dataclasses.replace(emulator.behaviour, send_speed=1.0, reply_audio_ms=4000)
    turn = emulator.script.turns[0]
    async with agent() as running, line("oa-cut") as call:
        await call.attach()
        await eventually(lambda: call.finished(1), 15, what="the greeting played out")
        await call.say(speech(turn.caller_says))
        await eventually(
            lambda: 2 in call.generations and call.generations[2].received_ms >= 1000, 10, what="the answer"
        )
        await emulator.close_sessions(1011, "upstream crash")  # in the middle of the answer
        await eventually(lambda: 3 in call.generations, 10, what="the rest of the answer, unasked")
        silence_s = call.generations[3].first_at - call.generations[2].last_at
        print(f"FIGURE openai connection dropped mid-answer: agent audio again after {silence_s:.2f} s")
        assert running.metric("switchboard_agent_answers_resumed_total") == 1
        assert not call.of(Hangup)

import asyncio
import time
from collections.abc import Callable

import pytest

from switchboard.common.agent.prompts import opening_prompt
from switchboard.common.bus.messages import (
    BargeIn,
    Clear,
    ComponentAttached,
    Hangup,
    ToolCalled,
    TranscriptTurn,
)
from switchboard.devkit.eventually import eventually
from switchboard.sim.gemini_live import GeminiLiveEmulator, GeminiScript, ScriptedToolCall

from .conftest import Caller, RunningAgentFactory, caller_speech, profile

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

GREETING = GeminiScript.english_receptionist().greeting
FIRST_REPLY = GeminiScript.english_receptionist().replies[0]  # type: ignore[index]


async def test_the_greeting_reaches_the_caller_first_as_generation_1(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    async with agent_gemini() as agent:
        call = caller("gm-greet")
        reply = await call.attach("gemini-receptionist")
        assert reply.accepted and reply.detail == {"input": "pcm16k", "output": "pcm24k"}
        await eventually(lambda: len(call.frames) >= 10, 10, what="greeting audio")
        assert {frame.generation for _, frame in call.frames} == {1}
        assert call.sent_ms == 0  # the caller said nothing: the agent spoke first
        await call.wait_generation_done(1)
        greeting = call.generation_frames(1)
        assert [f.seq for f in greeting] == list(range(len(greeting)))
        # as the model sends it (40 ms pieces here), in whole 20 ms steps at 24 kHz
        assert all(len(f.payload) % 960 == 0 for f in greeting[:-1])
        assert [t.text for t in call.transcripts() if t.role == "agent"] == [GREETING]
        assert any(isinstance(e, ComponentAttached) and e.component == "agent-gemini" for e in call.events)

        session = gemini.latest_session
        assert session.model == "models/gemini-2.5-flash-native-audio-preview-12-2025"
        assert session.system_instruction.startswith("You are Ava")
        assert (session.voice_name, session.language_code) == ("Kore", "en-US")
        assert session.function_names == ["end_call"]
        assert session.activity_handling == "START_OF_ACTIVITY_INTERRUPTS"
        assert session.automatic_activity_detection == {
            "disabled": False,
            "prefixPaddingMs": 300,
            "silenceDurationMs": 500,
        }
        assert session.input_transcription and session.output_transcription and session.resumption_requested
        assert "contextWindowCompression" in session.setup
        handshake = {name.lower(): value for name, value in gemini.connection_log[0].headers.items()}
        assert handshake["x-goog-api-key"] == "test-gemini-key"
        assert "sec-websocket-extensions" not in handshake, "no permessage-deflate on audio"
        assert session.client_texts[0] == f"[{opening_prompt(profile())}]"
        assert "Greet the caller and offer help." in session.client_texts[0]
        assert "handed over" not in session.system_instruction
        assert agent.metric("switchboard_agent_time_to_first_audio_seconds_count") == 1
        await call.hang_up()
        await eventually(lambda: not agent.service.agents, what="the agent let the call go")


async def test_a_resumed_call_carries_on_from_the_transcript_instead_of_greeting(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    async with agent_gemini() as agent:
        call = caller("gm-resume")
        for turn in (
            TranscriptTurn(role="agent", text="Northwind Dental, this is Ava.", generation=1),
            TranscriptTurn(role="caller", text="I need to move my appointment."),
            TranscriptTurn(role="agent", text="Of course, which", generation=2, interrupted=True),
        ):
            await call.bus.publish_event("gm-resume", turn)
        reply = await call.attach("gemini-receptionist", resume=True, first_generation=3)
        assert reply.accepted
        await call.wait_generation_done(3)
        assert {frame.generation for _, frame in call.frames} == {3}  # above what the edge saw before
        assert agent.metric("switchboard_agent_calls_resumed_total") == 1
        assert agent.metric("switchboard_agent_time_to_first_audio_seconds_count") == 0  # no greeting
        attached = next(e for e in call.events if isinstance(e, ComponentAttached))
        assert attached.detail["resumed"] is True

        session = gemini.latest_session
        assert session.system_instruction.startswith(profile().instructions)
        assert "handed over to you after a technical problem" in session.system_instruction
        assert "Caller: I need to move my appointment." in session.system_instruction
        assert "Agent (cut off by the caller; this is all they heard): Of course, which" in (
            session.system_instruction
        )
        assert session.client_texts[0] == f"[{opening_prompt(profile(), resumed=True)}]"
        assert "Greet the caller" not in session.client_texts[0]
        await call.hang_up()
        await eventually(lambda: not agent.service.agents, what="the agent let the call go")


async def test_a_caller_utterance_gets_a_reply_and_both_sides_are_transcribed(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    async with agent_gemini() as agent:
        call = caller("gm-reply")
        await call.attach("gemini-receptionist")
        await call.wait_generation_done(1)
        await call.play_out(1)
        await call.say(caller_speech("I would like to book a cleaning"), speed=4)
        await call.wait_generation_done(2)
        assert call.generation_frames(2), "the reply was spoken"
        assert [(t.role, t.text, t.generation) for t in call.transcripts()] == [
            ("agent", GREETING, 1),
            ("caller", "Hi, I'd like to book a cleaning appointment.", 0),
            ("agent", FIRST_REPLY, 2),
        ]
        assert not call.of_type(Clear), "nothing was playing when the caller spoke"
        session = gemini.latest_session
        assert session.audio_received_ms == pytest.approx(call.sent_ms, abs=1)
        assert agent.metric("switchboard_agent_turn_latency_seconds_count") == 1
        await call.hang_up()


async def test_barge_in_clears_at_once_and_gemini_is_told_what_the_caller_heard(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    async with agent_gemini() as agent:
        call = caller("gm-barge")
        await call.attach("gemini-receptionist")
        await call.wait_generation_done(1)
        await call.play_out(1)
        gemini.config.realtime_factor = 1.0  # the model still speaks when the caller talks over it
        gemini.config.min_reply_s = 8.0
        await call.say(caller_speech("I would like to book a cleaning"), speed=4)
        await eventually(lambda: call.sent_ms_of(2) >= 1500, 10, what="the reply is under way")
        await call.play_out(2, 1000, final=False)  # the edge has played a second of it so far
        await call.say(caller_speech("Sorry, one moment please", trailing_silence_s=0.1), speed=1)
        await eventually(lambda: call.of_type(Clear), 5, what="ctl.clear")

        clear = next(r for r in call.controls if isinstance(r.message, Clear))
        assert clear.message == Clear(generation=2, epoch=1, ts_ns=clear.message.ts_ns)
        session = gemini.latest_session
        interrupted = next(
            m for m in session.server_messages("serverContent") if m.body["serverContent"].get("interrupted")
        )
        # The clear follows the model's interrupted (how soon is bench_agent_gemini.py's figure), and no audio of
        # the cleared answer follows the clear (below).
        assert clear.at >= interrupted.at
        await asyncio.sleep(0.3)
        late = [f for _, f in call.frames[clear.frames_before :] if f.generation == 2]
        assert not late, "no audio of the cleared generation after the clear"

        played_ms = 1200
        await call.play_out(2, played_ms, final=True)  # what the edge really played before it cleared
        await eventually(lambda: session.heard_notes, 5, what="the heard-text note")
        note = session.heard_notes[0]
        interrupted_turn = next(t for t in call.transcripts() if t.generation == 2)
        assert interrupted_turn.interrupted
        heard = interrupted_turn.text
        assert heard and FIRST_REPLY.startswith(heard) and len(heard) < len(FIRST_REPLY)
        assert f"«{heard}»" in note
        # what the model had said when it stopped, cut in proportion to the audio played, at a word boundary
        spoken = next(t for t in session.history if t.role == "model" and t.interrupted).text
        assert spoken.startswith(heard)
        assert len(heard) / len(spoken) == pytest.approx(played_ms / call.sent_ms_of(2), abs=0.15)
        barge_in = call.of_type(BargeIn)
        assert barge_in and barge_in[0].played_ms == played_ms
        assert session.client_messages("clientContent")[-1].body["clientContent"].get("turnComplete") in (
            None,
            False,
        )
        assert agent.metric("switchboard_agent_barge_ins_total") == 1
        assert agent.metric("switchboard_agent_clear_latency_seconds_count") == 1
        await call.hang_up()


async def test_speaking_over_an_answer_the_model_has_finished_sending_clears_it_too(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    # The model sends faster than real time: the greeting is all sent long before the caller has heard it, and
    # Gemini interrupts only a turn it is still generating. The caller's first recognised words clear it.
    async with agent_gemini():
        call = caller("gm-barge-late")
        await call.attach("gemini-receptionist")
        await call.wait_generation_done(1)
        await call.play_out(1, 1500, final=False)  # the edge is still playing the greeting
        await call.say(caller_speech("I would like to book a cleaning"), speed=4)
        await eventually(lambda: call.of_type(Clear), 5, what="ctl.clear")
        session = gemini.latest_session
        assert session.interruptions == 0, "Gemini itself saw nothing to interrupt"
        assert call.of_type(Clear)[0].generation == 1
        await call.play_out(1, 1600, final=True)
        await eventually(lambda: session.heard_notes, 5, what="the heard-text note")
        heard = session.heard_notes[0].split("«")[1].split("»")[0]
        assert heard and GREETING.startswith(heard) and heard != GREETING
        assert call.of_type(BargeIn)[0].played_ms == 1600
        await call.wait_generation_done(2)
        await call.hang_up()


async def test_end_call_hangs_up_after_the_goodbye_has_played(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    gemini.script = GeminiScript(
        greeting="Hello, Northwind Dental.",
        caller_transcripts=("That's all, thanks. Bye!",),
        replies=("You're welcome. Goodbye!",),
        tool_calls={0: [ScriptedToolCall("end_call", {"reason": "caller said goodbye"})]},
    )
    async with agent_gemini() as agent:
        call = caller("gm-end")
        await call.attach("gemini-receptionist")
        await call.wait_generation_done(1)
        await call.play_out(1)
        await call.say(caller_speech("That is all thanks bye"), speed=4)
        await call.wait_generation_done(2)
        await asyncio.sleep(0.5)
        assert not call.of_type(Hangup), "the goodbye has not been played yet"
        played = time.monotonic()
        await call.play_out(2)
        await eventually(lambda: call.of_type(Hangup), 5, what="ctl.hangup")
        hangup = next(r for r in call.controls if isinstance(r.message, Hangup))
        assert hangup.message.reason == "caller said goodbye"
        assert hangup.at >= played and hangup.frames_before == len(call.frames)
        tool = call.of_type(ToolCalled)
        assert tool and tool[0].name == "end_call" and tool[0].result["ok"] is True
        session = gemini.latest_session
        assert session.tool_responses[0]["id"] == session.tool_calls[0]["id"]
        assert session.tool_responses[0]["name"] == "end_call"
        await eventually(lambda: not agent.service.agents, what="the agent let the call go")
        assert agent.metric("switchboard_agent_calls_ended_total", reason="hangup") == 1


async def test_fifty_concurrent_calls_each_get_their_greeting(
    gemini: GeminiLiveEmulator, agent_gemini: RunningAgentFactory, caller: Callable[[str], Caller]
) -> None:
    gemini.config.record_audio = False
    gemini.config.realtime_factor = 10.0
    async with agent_gemini() as agent:
        calls = [caller(f"gm-load-{index}") for index in range(50)]
        replies = await asyncio.gather(*(call.attach("gemini-receptionist") for call in calls))
        assert all(reply.accepted for reply in replies)
        assert len(agent.service.agents) == 50
        for call in calls:
            await call.wait_generation_done(1, within_s=30)
        assert len(gemini.sessions) == 50
        for call in calls:
            frames = call.generation_frames(1)
            assert frames and [f.seq for f in frames] == list(range(len(frames)))
            assert {f.call_id for f in frames} == {call.call_id}
            assert [t.text for t in call.transcripts()] == [GREETING]
        for call in calls:
            await call.hang_up()
        await eventually(lambda: not agent.service.agents, 10, what="every call let go")

"""The emulator driven by the real google-genai SDK, unmodified."""

from __future__ import annotations

import asyncio

import pytest
from google.genai import errors, types
from websockets.exceptions import InvalidStatus

from switchboard.sim.gemini_live import GeminiLiveEmulator, GeminiScript, ReplyRequest, ScriptedToolCall

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

GREET = types.Content(role="user", parts=[types.Part(text="Greet the caller.")])


async def test_greeting_arrives_as_24khz_audio_with_its_transcript(gemini, client, live, script) -> None:
    async with client.aio.live.connect(model=live.model, config=live.live_config()) as session:
        await session.send_client_content(turns=GREET, turn_complete=True)
        messages = await live.receive_turn(session)

    audio = live.audio_of(messages)
    assert audio
    assert {blob.mime_type for blob in audio} == {"audio/pcm;rate=24000"}
    assert sum(len(blob.data) for blob in audio) > 24_000 * 2  # more than a second of speech
    assert live.spoken_text(messages) == script.greeting
    assert any(m.server_content and m.server_content.generation_complete for m in messages)
    last = messages[-1]
    assert last.server_content.turn_complete
    assert last.usage_metadata.total_token_count == (
        last.usage_metadata.prompt_token_count + last.usage_metadata.response_token_count
    )

    recorded = gemini.latest_session
    assert recorded.model == f"models/{live.model}"
    assert recorded.voice_name == "Kore"
    assert recorded.language_code == "en-US"
    assert recorded.system_instruction == "You are Ava, the receptionist of Northwind Dental."
    assert recorded.client_texts == ["Greet the caller."]
    assert [m.kind for m in recorded.client_messages()] == ["setup", "clientContent"]
    assert recorded.history[-1].text == script.greeting


async def test_caller_speech_is_transcribed_then_answered(gemini, client, live, script) -> None:
    speech = live.caller_speech("Hi, I would like to book a cleaning appointment.")
    async with client.aio.live.connect(model=live.model, config=live.live_config()) as session:
        await session.send_client_content(turns=GREET, turn_complete=True)
        await live.receive_turn(session)
        await live.send_audio(session, speech)
        messages = await live.receive_turn(session)

    assert live.heard_text(messages) == script.caller_transcripts[0]
    assert live.spoken_text(messages) == script.replies[0]
    assert live.audio_of(messages)
    recorded = gemini.latest_session
    assert recorded.caller_turns == 1
    assert recorded.audio_received_ms == pytest.approx(len(speech) / 2 / live.rate * 1000)
    assert [turn.role for turn in recorded.history] == ["user", "model", "user", "model"]


async def test_speaking_over_the_reply_interrupts_it(gemini, client, live, script) -> None:
    gemini.config.realtime_factor = 1.0
    gemini.config.min_reply_s = 4.0
    async with client.aio.live.connect(model=live.model, config=live.live_config()) as session:
        await session.send_client_content(turns=GREET, turn_complete=True)
        messages = []
        async for message in session.receive():
            messages.append(message)
            if (
                message.server_content
                and message.server_content.model_turn
                and len(live.audio_of(messages)) == 3
            ):
                await live.send_audio(session, live.caller_speech("Sorry, could you repeat that?"))
        await session.send_client_content(
            turns=types.Content(
                role="user", parts=[types.Part(text="The caller heard: Thank you for calling")]
            ),
            turn_complete=False,
        )
        answer = await live.receive_turn(session)

    flags = [m.server_content for m in messages if m.server_content]
    assert flags[-2].interrupted and flags[-1].turn_complete
    assert not any(content.generation_complete for content in flags)
    recorded = gemini.latest_session
    assert recorded.interruptions == 1
    greeting_turn = next(turn for turn in recorded.history if turn.role == "model")
    assert greeting_turn.interrupted
    assert 0 < greeting_turn.audio_ms < 4000
    assert script.greeting.startswith(greeting_turn.text)
    # The interrupting utterance is a caller turn of its own, answered in the next pass of receive().
    assert live.heard_text(answer) == script.caller_transcripts[0]
    assert live.spoken_text(answer).startswith(script.replies[0])
    assert recorded.heard_notes == ["The caller heard: Thank you for calling"]


def _booking_reply(request: ReplyRequest) -> str:
    if request.tool_responses:
        slots = request.tool_responses[0]["response"]["slots"]
        return f"I have {slots[0]} on Tuesday. Shall I book it?"
    return "How can I help?"


@pytest.fixture
def tool_script() -> GeminiScript:
    script = GeminiScript.english_receptionist()
    script.replies = _booking_reply
    script.tool_calls = {0: (ScriptedToolCall("check_availability", {"day": "tuesday"}),)}
    return script


async def test_tool_call_round_trip(tool_script, config, live) -> None:
    async with GeminiLiveEmulator(tool_script, config) as gemini:
        sdk = live.make_client(gemini.base_url, gemini.api_key, gemini.client_ssl_context())
        async with sdk.aio.live.connect(model=live.model, config=live.live_config(tools=True)) as session:
            await session.send_client_content(turns=GREET, turn_complete=True)
            await live.receive_turn(session)
            await live.send_audio(session, live.caller_speech("Do you have anything on Tuesday?"))
            messages = []
            async for message in session.receive():
                messages.append(message)
                if message.tool_call:
                    call = message.tool_call.function_calls[0]
                    assert (call.name, call.args) == ("check_availability", {"day": "tuesday"})
                    await session.send_tool_response(
                        function_responses=[
                            types.FunctionResponse(
                                id=call.id, name=call.name, response={"slots": ["9:00", "11:30"]}
                            )
                        ]
                    )
        await sdk.aio.aclose()
        sdk.close()
        recorded = gemini.latest_session

    assert recorded.function_names == ["check_availability"]
    assert live.spoken_text(messages) == "I have 9:00 on Tuesday. Shall I book it?"
    assert recorded.tool_responses == [
        {
            "id": recorded.tool_calls[0]["id"],
            "name": "check_availability",
            "response": {"slots": ["9:00", "11:30"]},
        }
    ]


async def test_barge_in_cancels_a_pending_tool_call(tool_script, config, live) -> None:
    async with GeminiLiveEmulator(tool_script, config) as gemini:
        sdk = live.make_client(gemini.base_url, gemini.api_key, gemini.client_ssl_context())
        async with sdk.aio.live.connect(model=live.model, config=live.live_config(tools=True)) as session:
            await session.send_client_content(turns=GREET, turn_complete=True)
            await live.receive_turn(session)
            await live.send_audio(session, live.caller_speech("Do you have anything on Tuesday?"))
            messages = []
            async for message in session.receive():
                messages.append(message)
                if message.tool_call:
                    await live.send_audio(session, live.caller_speech("Actually, never mind."))
        await sdk.aio.aclose()
        sdk.close()
        recorded = gemini.latest_session

    call_id = recorded.tool_calls[0]["id"]
    cancellations = [m.tool_call_cancellation for m in messages if m.tool_call_cancellation]
    assert [c.ids for c in cancellations] == [[call_id]]
    assert recorded.cancelled_tool_call_ids == [call_id]
    assert messages[-2].server_content.interrupted
    assert messages[-1].server_content.turn_complete


async def test_go_away_then_resumption_keeps_the_session(gemini, client, live, script) -> None:
    async with client.aio.live.connect(model=live.model, config=live.live_config()) as session:
        await session.send_client_content(turns=GREET, turn_complete=True)
        await live.receive_turn(session)
        await gemini.go_away(time_left_s=2.0)
        handle = None
        async for message in session.receive():
            if message.session_resumption_update and message.session_resumption_update.resumable:
                handle = message.session_resumption_update.new_handle
            if message.go_away:
                assert message.go_away.time_left == "2s"
                break
    assert handle is not None

    async with client.aio.live.connect(model=live.model, config=live.live_config(handle=handle)) as session:
        await live.send_audio(session, live.caller_speech("Hello, I want a cleaning."))
        messages = await live.receive_turn(session)

    assert live.heard_text(messages) == script.caller_transcripts[0]
    assert live.spoken_text(messages) == script.replies[0]
    assert len(gemini.sessions) == 1
    recorded = gemini.latest_session
    assert (recorded.connections, recorded.resumptions) == (2, 1)
    assert [turn.role for turn in recorded.history] == ["user", "model", "user", "model"]
    assert {m.connection for m in recorded.client_messages("setup")} == {0, 1}


async def test_connection_closes_when_go_away_time_is_up(gemini, client, live) -> None:
    async with client.aio.live.connect(model=live.model, config=live.live_config()) as session:
        await gemini.go_away(time_left_s=0.2)
        with pytest.raises(errors.APIError) as raised:
            async with asyncio.timeout(5):
                while True:
                    await live.receive_turn(session)
    assert raised.value.code == 1011
    assert gemini.connection_log[-1].close_code == 1011


async def test_unknown_resumption_handle_is_refused(gemini, client, live) -> None:
    with pytest.raises(errors.APIError) as raised:
        async with client.aio.live.connect(model=live.model, config=live.live_config(handle="not-a-handle")):
            pass
    assert raised.value.code == 1007
    assert gemini.sessions == []


async def test_wrong_api_key_is_refused(gemini, live) -> None:
    sdk = live.make_client(gemini.base_url, "wrong-key", gemini.client_ssl_context())
    with pytest.raises(errors.APIError) as raised:
        async with sdk.aio.live.connect(model=live.model, config=live.live_config()):
            pass
    await sdk.aio.aclose()
    sdk.close()
    assert raised.value.code == 1007
    assert "API key not valid" in str(raised.value)
    assert gemini.sessions == []


async def test_spanish_script_follows_the_setup(config, live) -> None:
    script = GeminiScript.spanish_receptionist()
    async with GeminiLiveEmulator(script, config) as gemini:
        sdk = live.make_client(gemini.base_url, gemini.api_key, gemini.client_ssl_context())
        async with sdk.aio.live.connect(
            model=live.model, config=live.live_config(language="es-ES")
        ) as session:
            await session.send_client_content(turns=GREET, turn_complete=True)
            messages = await live.receive_turn(session)
        await sdk.aio.aclose()
        sdk.close()
        assert gemini.latest_session.language_code == "es-ES"
    assert live.spoken_text(messages) == script.greeting


async def test_text_modality_answers_in_text(gemini, client, live, script) -> None:
    config = live.live_config()
    config.response_modalities = [types.Modality.TEXT]
    config.output_audio_transcription = None
    async with client.aio.live.connect(model=live.model, config=config) as session:
        await session.send_client_content(turns=GREET, turn_complete=True)
        messages = await live.receive_turn(session)
    assert "".join(m.text for m in messages if m.text) == script.greeting
    assert not live.audio_of(messages)


async def test_refused_handshakes_then_recovery(gemini, client, live) -> None:
    gemini.reject_connections(1, status=503)
    with pytest.raises(InvalidStatus) as refused:
        async with client.aio.live.connect(model=live.model, config=live.live_config()):
            pass
    assert refused.value.response.status_code == 503
    async with client.aio.live.connect(model=live.model, config=live.live_config()) as session:
        assert session is not None
    assert [record.status for record in gemini.connection_log] == [503, 101]


async def test_dropped_connection_surfaces_as_abnormal_closure(gemini, client, live) -> None:
    async with client.aio.live.connect(model=live.model, config=live.live_config()) as session:
        gemini.drop_connections()
        with pytest.raises(errors.APIError) as raised:
            await live.receive_turn(session)
    assert raised.value.code == 1006
    assert gemini.connection_log[-1].outcome == "aborted"


async def test_injected_turn_failure_closes_with_internal_error(gemini, client, live) -> None:
    gemini.fail_next_turn()
    async with client.aio.live.connect(model=live.model, config=live.live_config()) as session:
        await session.send_client_content(turns=GREET, turn_complete=True)
        with pytest.raises(errors.APIError) as raised:
            await live.receive_turn(session)
    assert raised.value.code == 1011
    assert "Internal error encountered." in str(raised.value)


async def test_connection_lifetime_announces_go_away(gemini, client, live) -> None:
    gemini.config.connection_lifetime_s = 0.4
    gemini.config.go_away_notice_s = 0.3
    seen = []
    async with client.aio.live.connect(model=live.model, config=live.live_config()) as session:
        with pytest.raises(errors.APIError) as raised:
            while True:
                async for message in session.receive():
                    seen.append(message)
    assert [m.go_away.time_left for m in seen if m.go_away] == ["0.3s"]
    assert raised.value.code == 1011


async def test_ca_file_lets_another_process_trust_the_emulator(gemini, live, tmp_path, monkeypatch) -> None:
    ca_file = gemini.write_ca_pem(tmp_path / "gemini-ca.pem")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # read by the SDK when it builds its own SSL context
    sdk = live.make_client(gemini.base_url, gemini.api_key)
    async with sdk.aio.live.connect(model=live.model, config=live.live_config()) as session:
        await session.send_client_content(turns=GREET, turn_complete=True)
        messages = await live.receive_turn(session)
    await sdk.aio.aclose()
    sdk.close()
    assert live.audio_of(messages)
    assert ca_file.read_bytes() == gemini.ca_pem

"""The GA protocol as a bare WebSocket client sees it."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import numpy as np
import pytest

from switchboard.sim.openai_realtime import (
    INVALID_KEY_CLOSE_CODE,
    FunctionCallSpec,
    OpenAIRealtimeEmulator,
    Script,
    Turn,
    spanish_receptionist,
)
from switchboard.sim.openai_realtime._audio import mulaw_encode

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

TRANSCRIBED_SERVER_VAD: dict[str, Any] = {
    "type": "session.update",
    "session": {
        "type": "realtime",
        "audio": {
            "input": {
                "transcription": {"model": "gpt-4o-mini-transcribe"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
            }
        },
    },
}


def types_between(events: list[dict[str, Any]], first: str, last: str) -> list[str]:
    names = [event["type"] for event in events]
    start = names.index(first)
    return names[start : names.index(last, start) + 1]


async def test_session_created_comes_first_and_update_echoes_the_merged_session(connect) -> None:
    async with connect(model="gpt-realtime-2025-08-28") as client:
        created = await client.recv()
        assert created["type"] == "session.created"
        assert created["session"]["model"] == "gpt-realtime-2025-08-28"
        assert created["session"]["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}

        await client.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "instructions": "You are a receptionist.",
                    "audio": {
                        "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}},
                        "output": {"voice": "marin"},
                    },
                    "tools": [{"type": "function", "name": "book", "parameters": {"type": "object"}}],
                },
            }
        )
        session = (await client.until("session.updated"))["session"]

    assert session["instructions"] == "You are a receptionist."
    assert session["audio"]["output"] == {
        "format": {"type": "audio/pcm", "rate": 24000},
        "voice": "marin",
        "speed": 1.0,
    }
    assert session["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": True,
    }
    assert session["tools"][0]["name"] == "book"
    assert session["id"] == created["session"]["id"]


async def test_malformed_json_gets_an_error_and_the_session_stays_open(connect) -> None:
    async with connect() as client:
        await client.until("session.created")
        await client.ws.send_str("{not json")
        error = await client.until("error")
        await client.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Hi"}})
        updated = await client.until("session.updated")

    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["code"] == "invalid_json"
    assert updated["session"]["instructions"] == "Hi"


async def test_unknown_or_invalid_events_name_the_event_that_caused_them(connect) -> None:
    async with connect() as client:
        await client.until("session.created")
        await client.send({"type": "response.audio.delta", "event_id": "evt_beta"})
        unknown = (await client.until("error"))["error"]
        await client.send({"type": "conversation.item.truncate", "event_id": "evt_bad", "item_id": 5})
        invalid = (await client.until("error"))["error"]

    assert (unknown["code"], unknown["param"], unknown["event_id"]) == ("invalid_value", "type", "evt_beta")
    assert (invalid["code"], invalid["event_id"]) == ("invalid_value", "evt_bad")


async def test_a_session_update_the_api_rejects_leaves_the_session_as_it_was(connect, emulator) -> None:
    async with connect() as client:
        await client.until("session.created")
        await client.send({"type": "session.update", "event_id": "evt_1", "session": {"instructions": "x"}})
        missing_type = (await client.until("error"))["error"]
        await client.send(
            {
                "type": "session.update",
                "event_id": "evt_2",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
                },
            }
        )
        bad_rate = (await client.until("error"))["error"]

    assert (missing_type["code"], missing_type["param"]) == ("missing_required_parameter", "session.type")
    assert (bad_rate["param"], bad_rate["event_id"]) == ("session.audio.input.format.rate", "evt_2")
    assert emulator.sessions[0].config["audio"]["input"]["format"]["rate"] == 24000


async def test_server_vad_turns_caller_speech_into_a_transcribed_turn_and_a_reply(
    connect, emulator, speech
) -> None:
    async with connect() as client:
        await client.send(TRANSCRIBED_SERVER_VAD)
        await client.until("session.updated")
        await client.append(speech("Hi, I would like to book a cleaning next week."))
        done = await client.until("response.done")

    events = client.received
    turn = types_between(events, "input_audio_buffer.speech_started", "response.created")
    words = len(emulator.script.turns[0].caller_says.split())
    assert turn == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        *["conversation.item.input_audio_transcription.delta"] * words,
        "conversation.item.input_audio_transcription.completed",
        "response.created",
    ]
    deltas = [e["delta"] for e in events if e["type"] == "conversation.item.input_audio_transcription.delta"]
    assert "".join(deltas) == emulator.script.turns[0].caller_says
    by_type: dict[str, dict[str, Any]] = {}
    for event in events:
        by_type.setdefault(event["type"], event)
    started, stopped = (
        by_type["input_audio_buffer.speech_started"],
        by_type["input_audio_buffer.speech_stopped"],
    )
    assert started["item_id"] == stopped["item_id"] == by_type["input_audio_buffer.committed"]["item_id"]
    assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"]
    user_item = by_type["conversation.item.added"]["item"]
    assert user_item["role"] == "user" and user_item["content"] == [
        {"type": "input_audio", "audio": None, "transcript": None}
    ]
    transcription = by_type["conversation.item.input_audio_transcription.completed"]
    assert transcription["transcript"] == "Hi, I would like to book a cleaning next week."

    reply = emulator.script.turns[0].reply
    transcript = "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")
    assert transcript == reply == by_type["response.output_audio_transcript.done"]["transcript"]
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )
    assert len(audio) > 24000 * 2  # over a second of PCM16 at 24 kHz
    response = done["response"]
    assert response["status"] == "completed"
    assert response["output"][0]["content"] == [{"type": "output_audio", "audio": None, "transcript": reply}]
    assert (
        response["usage"]["total_tokens"]
        == response["usage"]["input_tokens"] + response["usage"]["output_tokens"]
    )
    session = emulator.sessions[0]
    assert session.audio_received_ms == pytest.approx(
        len(speech("Hi, I would like to book a cleaning next week.")) / 24
    )


async def test_without_turn_detection_the_client_commits_and_asks_for_the_response(connect, speech) -> None:
    async with connect() as client:
        await client.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
            }
        )
        await client.until("session.updated")
        await client.append(speech("Hi, I would like to book a cleaning next week."))
        await client.send({"type": "input_audio_buffer.commit"})
        committed = await client.until("input_audio_buffer.committed")
        await client.send({"type": "response.create", "response": {"metadata": {"client_event_id": "r1"}}})
        created = await client.until("response.created")
        await client.until("response.done")

    received = [event["type"] for event in client.received]
    assert "input_audio_buffer.speech_started" not in received
    assert "conversation.item.input_audio_transcription.completed" not in received  # transcription is off
    assert committed["previous_item_id"] is None
    assert created["response"]["metadata"] == {"client_event_id": "r1"}


async def test_committing_an_empty_buffer_is_an_error(connect) -> None:
    async with connect() as client:
        await client.send({"type": "input_audio_buffer.commit", "event_id": "evt_c"})
        error = (await client.until("error"))["error"]

    assert (error["code"], error["event_id"]) == ("input_audio_buffer_commit_empty", "evt_c")


async def test_cancelling_when_nothing_is_generating_fails_like_openai(connect) -> None:
    async with connect() as client:
        await client.send({"type": "response.cancel"})
        error = (await client.until("error"))["error"]

    assert error["code"] == "response_cancel_not_active"
    assert error["message"].startswith("Cancellation failed")


async def test_caller_speech_cancels_the_reply_in_progress(connect, emulator, speech) -> None:
    emulator.behaviour.send_speed = 1.0
    emulator.behaviour.reply_audio_ms = 5000
    async with connect() as client:
        await client.send(TRANSCRIBED_SERVER_VAD)
        await client.send({"type": "response.create"})
        await client.until("response.output_audio.delta")
        await client.append(speech("Sorry, one question."))
        await client.until("input_audio_buffer.speech_started")
        done = await client.until("response.done")

    response = done["response"]
    assert response["status"] == "cancelled"
    assert response["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert response["output"][0]["status"] == "incomplete"
    record = emulator.sessions[0].responses[0]
    assert (record.status, record.reason) == ("cancelled", "turn_detected")
    assert 0 < record.audio_sent_ms < 5000
    closing = types_between(client.received, "input_audio_buffer.speech_started", "response.done")
    assert "response.output_audio.delta" not in closing
    assert closing[-6:] == [
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]


async def test_response_cancel_stops_the_reply(connect, emulator) -> None:
    emulator.behaviour.send_speed = 1.0
    async with connect() as client:
        await client.send({"type": "response.create"})
        created = await client.until("response.created")
        await client.send({"type": "response.create", "event_id": "evt_second"})
        busy = (await client.until("error"))["error"]
        await client.send({"type": "response.cancel", "response_id": created["response"]["id"]})
        done = await client.until("response.done")

    assert (busy["code"], busy["event_id"]) == ("conversation_already_has_active_response", "evt_second")
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}


async def test_truncate_keeps_what_was_heard_and_rejects_the_impossible(connect, emulator, speech) -> None:
    async with connect() as client:
        await client.send(TRANSCRIBED_SERVER_VAD)
        await client.send({"type": "response.create"})
        done = await client.until("response.done")
        item_id = done["response"]["output"][0]["id"]
        session = emulator.sessions[0]
        sent_ms = session.assistant_audio_ms[item_id]

        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": int(sent_ms) + 500,
                "event_id": "evt_long",
            }
        )
        too_long = (await client.until("error"))["error"]
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": "item_nope",
                "content_index": 0,
                "audio_end_ms": 10,
            }
        )
        unknown = (await client.until("error"))["error"]
        await client.append(speech("Hi, I would like to book a cleaning next week."))
        user_item_id = (await client.until("input_audio_buffer.committed"))["item_id"]
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": user_item_id,
                "content_index": 0,
                "audio_end_ms": 10,
            }
        )
        not_assistant = (await client.until("error"))["error"]
        await client.until("response.done")

        half = int(sent_ms // 2)
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": half,
            }
        )
        truncated = await client.until("conversation.item.truncated")

    assert (too_long["type"], too_long["code"], too_long["param"], too_long["event_id"]) == (
        "invalid_request_error",
        "invalid_value",
        "audio_end_ms",
        "evt_long",
    )
    assert (
        too_long["message"]
        == f"Audio content of {int(sent_ms)}ms is already shorter than {int(sent_ms) + 500}ms"
    )
    assert unknown["code"] == "item_not_found"
    assert (not_assistant["code"], not_assistant["param"]) == ("invalid_value", "item_id")
    assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, half)
    [truncation] = session.truncations
    greeting_words = emulator.script.greeting.split()
    assert truncation.full_transcript == emulator.script.greeting
    assert truncation.transcript == " ".join(greeting_words[: round(len(greeting_words) * half / sent_ms)])
    assert session.item(item_id).content[0].transcript == truncation.transcript  # type: ignore[union-attr]


async def test_items_are_created_deleted_and_retrieved_with_acknowledgements(connect, emulator) -> None:
    async with connect() as client:
        first = {
            "id": "item_a",
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Hello"}],
        }
        await client.send({"type": "conversation.item.create", "item": first})
        added = await client.until("conversation.item.added")
        done = await client.until("conversation.item.done")
        await client.send({"type": "conversation.item.create", "event_id": "evt_dup", "item": first})
        duplicate = (await client.until("error"))["error"]
        second = {
            "id": "item_b",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi!"}],
        }
        await client.send({"type": "conversation.item.create", "previous_item_id": "root", "item": second})
        at_root = await client.until("conversation.item.added")
        await client.send({"type": "conversation.item.retrieve", "item_id": "item_a"})
        retrieved = await client.until("conversation.item.retrieved")
        await client.send({"type": "conversation.item.delete", "item_id": "item_a"})
        deleted = await client.until("conversation.item.deleted")
        await client.send({"type": "conversation.item.delete", "item_id": "item_a", "event_id": "evt_gone"})
        gone = (await client.until("error"))["error"]

    assert added["item"]["id"] == done["item"]["id"] == "item_a" and added["previous_item_id"] is None
    assert (duplicate["code"], duplicate["event_id"]) == ("item_create_duplicate_item_id", "evt_dup")
    assert at_root["previous_item_id"] is None
    assert retrieved["item"]["content"] == [{"type": "input_text", "text": "Hello"}]
    assert deleted["item_id"] == "item_a"
    assert (gone["code"], gone["event_id"]) == ("item_not_found", "evt_gone")
    assert [item.id for item in emulator.sessions[0].items] == ["item_b"]


async def test_a_scripted_function_call_waits_for_its_output(connect, emulator) -> None:
    emulator.script = Script(
        greeting="Hello.",
        turns=(
            Turn(
                "Book me on Tuesday.",
                "Done.",
                FunctionCallSpec(
                    "book_appointment", {"day": "tuesday"}, reply_after=lambda out: f"Booked for {out}."
                ),
            ),
        ),
    )
    async with connect() as client:
        await client.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Book me on Tuesday."}],
                },
            }
        )
        await client.send({"type": "response.create"})
        call_done = await client.until("response.function_call_arguments.done")
        first = await client.until("response.done")
        await client.send({"type": "response.create"})
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await client.until("response.created")
        output = {"type": "function_call_output", "call_id": call_done["call_id"], "output": "Tuesday 9:30"}
        await client.send({"type": "conversation.item.create", "item": output})
        await client.until("response.created")
        second = await client.until("response.done")

    added = next(e for e in client.received if e["type"] == "response.output_item.added")
    assert added["item"]["type"] == "function_call" and added["item"]["call_id"] == call_done["call_id"]
    deltas = "".join(
        e["delta"] for e in client.received if e["type"] == "response.function_call_arguments.delta"
    )
    assert json.loads(deltas) == json.loads(call_done["arguments"]) == {"day": "tuesday"}
    assert call_done["name"] == "book_appointment"
    assert first["response"]["output"][0]["arguments"] == call_done["arguments"]
    assert second["response"]["output"][0]["content"][0]["transcript"] == "Booked for Tuesday 9:30."
    assert emulator.sessions[0].function_outputs == {call_done["call_id"]: "Tuesday 9:30"}


async def test_mu_law_in_and_out(connect, speech) -> None:
    mulaw = {"type": "audio/pcmu"}
    async with connect() as client:
        await client.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"format": mulaw}, "output": {"format": mulaw}},
                },
            }
        )
        await client.until("session.updated")
        samples = mulaw_encode(speech("Tuesday morning, please.", 8000))
        for start in range(0, samples.size, 800):
            await client.send(
                {
                    "type": "input_audio_buffer.append",
                    "audio": base64.b64encode(samples[start : start + 800].tobytes()).decode(),
                }
            )
        await client.until("input_audio_buffer.speech_started")
        delta = await client.until("response.output_audio.delta")

    assert len(base64.b64decode(delta["delta"])) == 800  # 100 ms of μ-law at 8 kHz


async def test_a_wrong_key_gets_invalid_api_key_then_close_3000(connect, emulator) -> None:
    async with connect(key="sk-wrong") as client:
        error = await client.recv()
        closing = await client.ws.receive()

    assert error["error"]["code"] == "invalid_api_key"
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == INVALID_KEY_CLOSE_CODE
    assert emulator.sessions == [] and emulator.rejected_connections == 1


async def test_a_wrong_key_can_be_refused_with_http_401(connect, emulator) -> None:
    emulator.auth_failure = "http_401"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        async with connect(key="sk-wrong"):
            pass

    assert refused.value.status == 401


async def test_failed_connection_attempts_then_recovery(connect, emulator) -> None:
    emulator.fail_next_connections(2, status=503)
    for _ in range(2):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with connect():
                pass
        assert refused.value.status == 503
    async with connect() as client:
        assert (await client.recv())["type"] == "session.created"


async def test_the_server_can_drop_a_session_or_send_an_error(connect, emulator) -> None:
    async with connect() as client:
        await client.until("session.created")
        session = await emulator.wait_for_session(0)
        await emulator.inject_error("Something broke.", code="server_error")
        injected = await client.until("error")
        await emulator.close_sessions(1011, "crash", session=session)
        closing = await client.ws.receive()

    assert injected["error"] == {
        "type": "server_error",
        "code": "server_error",
        "message": "Something broke.",
        "param": None,
        "event_id": None,
    }
    assert (closing.type, closing.data, closing.extra) == (aiohttp.WSMsgType.CLOSE, 1011, "crash")
    async with asyncio.timeout(5):
        assert await session.wait_closed() == 1011


async def test_sessions_end_at_the_maximum_duration(connect, emulator) -> None:
    emulator.behaviour.max_session_s = 0.2
    async with connect() as client:
        expired = await client.until("error")
        closing = await client.ws.receive()

    assert expired["error"]["code"] == "session_expired"
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 1001)


async def test_a_spanish_script(connect, emulator, speech) -> None:
    emulator.script = spanish_receptionist()
    async with connect() as client:
        await client.send(TRANSCRIBED_SERVER_VAD)
        await client.send({"type": "response.create", "response": {"instructions": "Saluda al cliente."}})
        greeting = await client.until("response.output_audio_transcript.done")
        await client.until("response.done")
        await client.append(speech("Hola, quería pedir cita.", trailing_silence_s=1.0))
        heard = await client.until("conversation.item.input_audio_transcription.completed")
        reply = await client.until("response.output_audio_transcript.done")

    assert greeting["transcript"].startswith("Gracias por llamar")
    assert heard["transcript"] == emulator.script.turns[0].caller_says
    assert reply["transcript"] == "Claro. ¿Qué día le viene mejor?"


async def test_every_event_is_recorded_with_its_time_and_audio_is_blanked(connect, emulator, speech) -> None:
    async with connect() as client:
        await client.send(TRANSCRIBED_SERVER_VAD)
        await client.append(speech("Hi there."))
        await client.until("response.done")

    session = emulator.sessions[0]
    times = [event.at for event in session.events]
    assert times == sorted(times)
    appends = [event for event in session.client_events if event.type == "input_audio_buffer.append"]
    assert appends and all(
        event.payload["audio"] == "" and event.audio_bytes == 4800 for event in appends[:-1]
    )
    assert session.types("server")[:2] == ["session.created", "session.updated"]
    assert session.types("server").count("response.output_audio.delta") == len(
        [e for e in client.received if e["type"] == "response.output_audio.delta"]
    )
    assert np.isclose(session.audio_received_ms, sum(event.audio_bytes for event in appends) / 48)


@pytest.mark.parametrize("path", ["/v1/realtime", "/realtime"])
async def test_both_paths_serve_the_protocol(path: str) -> None:
    async with OpenAIRealtimeEmulator(api_key=None) as emulator, aiohttp.ClientSession() as http:
        url = f"ws://127.0.0.1:{emulator.port}{path}?model=gpt-realtime"
        async with http.ws_connect(url, headers={"Authorization": "Bearer anything"}) as ws:
            first = json.loads((await ws.receive()).data)

    assert first["type"] == "session.created"


async def test_a_slow_transcription_arrives_after_the_response_started(connect, emulator, speech) -> None:
    emulator.behaviour.transcription_delay_s = 0.3
    async with connect() as client:
        await client.send(TRANSCRIBED_SERVER_VAD)
        await client.append(speech("Tuesday morning, please."))
        await client.until("conversation.item.input_audio_transcription.completed")

    names = [event["type"] for event in client.received]
    assert names.index("response.created") < names.index(
        "conversation.item.input_audio_transcription.completed"
    )


async def test_audio_can_be_kept_in_the_record(connect, emulator) -> None:
    emulator.behaviour.record_audio = True
    async with connect() as client:
        await client.append(np.ones(2400, dtype=np.int16))
        await client.send({"type": "response.create"})
        await client.until("response.done")

    session = emulator.sessions[0]
    append = next(event for event in session.client_events if event.type == "input_audio_buffer.append")
    delta = next(event for event in session.server_events if event.type == "response.output_audio.delta")
    assert base64.b64decode(append.payload["audio"]) == np.ones(2400, dtype="<i2").tobytes()
    assert len(base64.b64decode(delta.payload["delta"])) == delta.audio_bytes == 4800

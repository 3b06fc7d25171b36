"""The wire protocol as a hand-written client sees it: key spellings, setup rules, errors, resumption rules."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError

from switchboard.sim.gemini_live import GeminiLiveEmulator
from switchboard.sim.speech import silence, synthesize

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

CAMEL_SETUP = {
    "setup": {
        "model": "models/gemini-2.5-flash-native-audio-preview-12-2025",
        "generationConfig": {"responseModalities": ["AUDIO"]},
        "inputAudioTranscription": {},
        "outputAudioTranscription": {},
        "sessionResumption": {},
    }
}
SNAKE_SETUP = {
    "setup": {
        "model": "models/gemini-2.5-flash-native-audio-preview-12-2025",
        "generation_config": {"response_modalities": ["AUDIO"]},
        "input_audio_transcription": {},
        "output_audio_transcription": {},
        "session_resumption": {},
    }
}


@asynccontextmanager
async def raw(gemini: GeminiLiveEmulator, *, key: str | None = None) -> AsyncIterator[ClientConnection]:
    headers = {"x-goog-api-key": key or gemini.api_key}
    async with connect(gemini.ws_url, ssl=gemini.client_ssl_context(), additional_headers=headers) as ws:
        yield ws


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await ws.recv())
    return message


async def until_turn_complete(ws: ClientConnection) -> list[dict[str, Any]]:
    messages = []
    while True:
        message = await receive(ws)
        messages.append(message)
        if message.get("serverContent", {}).get("turnComplete"):
            return messages


def transcript(messages: list[dict[str, Any]], field: str) -> str:
    return "".join(m["serverContent"][field]["text"] for m in messages if field in m.get("serverContent", {}))


def speech_b64(rate: int) -> list[str]:
    samples = np.concatenate(
        [synthesize("Hi, I would like an appointment.", rate, voice="synthetic"), silence(0.8, rate)]
    )
    pcm = samples.astype("<i2").tobytes()
    step = rate * 2 // 50
    return [base64.b64encode(pcm[i : i + step]).decode() for i in range(0, len(pcm), step)]


@pytest.mark.parametrize(
    ("setup", "content_key", "turn_complete_key", "input_key", "mime_key"),
    [
        pytest.param(
            CAMEL_SETUP, "clientContent", "turnComplete", "realtimeInput", "mimeType", id="camelCase"
        ),
        pytest.param(
            SNAKE_SETUP, "client_content", "turn_complete", "realtime_input", "mime_type", id="snake_case"
        ),
    ],
)
async def test_both_key_spellings_drive_a_conversation(
    gemini, script, setup, content_key, turn_complete_key, input_key, mime_key
) -> None:
    async with raw(gemini) as ws:
        await ws.send(json.dumps(setup))
        assert await receive(ws) == {"setupComplete": {}}
        assert "sessionResumptionUpdate" in await receive(ws)
        greet = {
            "turns": [{"role": "user", "parts": [{"text": "Greet the caller."}]}],
            turn_complete_key: True,
        }
        await ws.send(json.dumps({content_key: greet}))
        greeting = await until_turn_complete(ws)
        for chunk in speech_b64(8000):  # the declared rate is honoured
            await ws.send(
                json.dumps({input_key: {"audio": {"data": chunk, mime_key: "audio/pcm;rate=8000"}}})
            )
        answer = await until_turn_complete(ws)

    assert transcript(greeting, "outputTranscription") == script.greeting
    assert transcript(answer, "inputTranscription") == script.caller_transcripts[0]
    assert transcript(answer, "outputTranscription") == script.replies[0]
    recorded = gemini.latest_session
    assert [m.kind for m in recorded.client_messages()][:2] == ["setup", "clientContent"]
    assert recorded.client_messages("realtimeInput")[0].body["realtimeInput"]["audio"]["mimeType"] == (
        "audio/pcm;rate=8000"
    )
    assert recorded.resumption_requested and recorded.output_transcription
    speech_ms = len(synthesize("Hi, I would like an appointment.", 8000, voice="synthetic")) / 8
    assert recorded.audio_received_ms == pytest.approx(speech_ms + 800, abs=20)


async def test_function_arguments_keep_their_own_key_spelling(gemini) -> None:
    async with raw(gemini) as ws:
        await ws.send(json.dumps(CAMEL_SETUP))
        await receive(ws)
        response = {"id": "call-1", "name": "lookup", "response": {"patient_name": "Alex", "slot_list": []}}
        await ws.send(json.dumps({"tool_response": {"function_responses": [response]}}))
        await gemini.latest_session.wait_for(lambda s: bool(s.tool_responses))
    assert gemini.latest_session.tool_responses == [response]


async def test_a_message_before_setup_closes_with_invalid_argument(gemini) -> None:
    async with raw(gemini) as ws:
        await ws.send(json.dumps({"clientContent": {"turns": [], "turnComplete": True}}))
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1007
    assert gemini.sessions == []


async def test_an_unknown_message_closes_with_invalid_argument(gemini) -> None:
    async with raw(gemini) as ws:
        await ws.send(json.dumps(CAMEL_SETUP))
        await receive(ws)
        await ws.send(json.dumps({"bogusInput": {}}))
        with pytest.raises(ConnectionClosedError) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1007,
        'Invalid JSON payload received. Unknown name "bogusInput": Cannot find field.',
    )


async def test_wrong_key_closes_after_setup(gemini) -> None:
    async with raw(gemini, key="nope") as ws:
        await ws.send(json.dumps(CAMEL_SETUP))
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1007


async def test_resuming_while_the_old_connection_is_open_is_refused(gemini) -> None:
    async with raw(gemini) as first:
        await first.send(json.dumps(CAMEL_SETUP))
        await receive(first)
        handle = (await receive(first))["sessionResumptionUpdate"]["newHandle"]
        resume = {"setup": {**CAMEL_SETUP["setup"], "sessionResumption": {"handle": handle}}}
        async with raw(gemini) as second:
            await second.send(json.dumps(resume))
            with pytest.raises(ConnectionClosedError) as closed:
                await second.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1011
    async with raw(gemini) as third:
        await third.send(json.dumps(resume))
        assert await receive(third) == {"setupComplete": {}}
    assert gemini.latest_session.resumptions == 1


async def test_manual_activity_signals_replace_detection(gemini, script) -> None:
    setup = {
        "setup": {
            **CAMEL_SETUP["setup"],
            "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
        }
    }
    async with raw(gemini) as ws:
        await ws.send(json.dumps(setup))
        await receive(ws)
        await ws.send(json.dumps({"realtimeInput": {"activityStart": {}}}))
        await ws.send(json.dumps({"realtimeInput": {"activityEnd": {}}}))
        answer = await until_turn_complete(ws)
    assert transcript(answer, "inputTranscription") == script.caller_transcripts[0]


async def test_heard_notes_are_recorded_without_a_reply(gemini) -> None:
    async with raw(gemini) as ws:
        await ws.send(json.dumps(CAMEL_SETUP))
        await receive(ws)
        note = {
            "turns": [{"role": "user", "parts": [{"text": "The caller heard: Thank you"}]}],
            "turnComplete": False,
        }
        await ws.send(json.dumps({"clientContent": note}))
        session = gemini.latest_session
        await session.wait_for(lambda s: bool(s.heard_notes))
        await asyncio.sleep(0.1)
    assert session.heard_notes == ["The caller heard: Thank you"]
    assert session.model_turns == 0


async def test_an_unknown_model_is_refused_when_models_are_listed(gemini) -> None:
    gemini.config.models = frozenset({"models/gemini-live-2.5-flash-native-audio"})
    async with raw(gemini) as ws:
        await ws.send(json.dumps(CAMEL_SETUP))
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


async def test_audio_payloads_can_be_left_out_of_records(gemini) -> None:
    gemini.config.record_audio = False
    async with raw(gemini) as ws:
        await ws.send(json.dumps(CAMEL_SETUP))
        await receive(ws)
        chunk = speech_b64(16000)[0]
        await ws.send(
            json.dumps({"realtimeInput": {"audio": {"data": chunk, "mimeType": "audio/pcm;rate=16000"}}})
        )
        session = gemini.latest_session
        await session.wait_for(lambda s: bool(s.client_messages("realtimeInput")))
    audio = session.client_messages("realtimeInput")[0].body["realtimeInput"]["audio"]
    assert audio == {"mimeType": "audio/pcm;rate=16000", "dataLength": len(chunk)}
    assert session.audio_received_ms == pytest.approx(20.0)

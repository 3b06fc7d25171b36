"""The emulator through the official `openai` SDK's realtime client: what a GA client sees, refusals included."""

from __future__ import annotations

import base64
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import pytest
from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from openai.types.realtime import (
    RealtimeAudioConfigInputParam,
    RealtimeAudioConfigOutputParam,
    RealtimeResponseCreateParamsParam,
    RealtimeServerEvent,
    RealtimeSessionCreateRequestParam,
)
from openai.types.realtime.realtime_audio_input_turn_detection_param import SemanticVad, ServerVad

from switchboard.sim.openai_realtime import OpenAIRealtimeEmulator
from switchboard.sim.openai_realtime._audio import alaw_encode
from switchboard.sim.openai_realtime.parameters import RESPONSE_PARAMETERS, SESSION_PARAMETERS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


class SdkClient:
    """The SDK's connection, and every event it parsed."""

    def __init__(self, connection: AsyncRealtimeConnection) -> None:
        self.connection = connection
        self.received: list[RealtimeServerEvent] = []

    async def until(self, event_type: str) -> Any:
        while True:
            event = await self.connection.recv()
            self.received.append(event)
            if event.type == event_type:
                return event

    def of(self, event_type: str) -> list[Any]:
        return [event for event in self.received if event.type == event_type]


@asynccontextmanager
async def sdk(emulator: OpenAIRealtimeEmulator) -> AsyncIterator[SdkClient]:
    client = AsyncOpenAI(api_key="test", base_url=emulator.base_url)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        sdk_client = SdkClient(connection)
        await sdk_client.until("session.created")
        yield sdk_client
    await client.close()


def keys(typed_dict: Any) -> set[str]:
    return set(typing.get_type_hints(typed_dict))


def test_the_known_parameters_are_the_sdks() -> None:
    assert set(SESSION_PARAMETERS) == keys(RealtimeSessionCreateRequestParam)
    assert set(RESPONSE_PARAMETERS) == keys(RealtimeResponseCreateParamsParam)
    audio = SESSION_PARAMETERS["audio"]
    assert audio is not None
    audio_in, audio_out = audio["input"], audio["output"]
    assert audio_in is not None and audio_out is not None
    assert set(audio_in) == keys(RealtimeAudioConfigInputParam)
    assert set(audio_out) == keys(RealtimeAudioConfigOutputParam)
    assert set(audio_in["turn_detection"] or {}) == keys(ServerVad) | keys(SemanticVad)


@pytest.mark.parametrize(
    ("session", "param"),
    [
        pytest.param({"input_audio_format": "g711_ulaw"}, "session.input_audio_format", id="beta-format"),
        pytest.param({"modalities": ["text"]}, "session.modalities", id="beta-modalities"),
        pytest.param({"voice": "alloy"}, "session.voice", id="beta-voice"),
        pytest.param(
            {"audio": {"input": {"turn_detection": {"type": "server_vad", "silence_ms": 300}}}},
            "session.audio.input.turn_detection.silence_ms",
            id="nested",
        ),
    ],
)
async def test_beta_era_session_fields_are_refused_and_nothing_is_applied(
    emulator: OpenAIRealtimeEmulator, session: dict[str, Any], param: str
) -> None:
    async with sdk(emulator) as client:
        update = {"type": "realtime", "instructions": "Refused with the rest.", **session}
        await client.connection.session.update(session=update)  # type: ignore[arg-type]  # the beta shape
        error = await client.until("error")
    assert (error.error.type, error.error.code, error.error.param) == (
        "invalid_request_error",
        "unknown_parameter",
        param,
    )
    assert error.error.message == f"Unknown parameter: '{param}'."
    config = emulator.sessions[0].config
    assert config["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert config["instructions"] != "Refused with the rest."


async def test_beta_era_response_fields_are_refused(emulator: OpenAIRealtimeEmulator) -> None:
    async with sdk(emulator) as client:
        await client.connection.response.create(response={"modalities": ["text"]})  # type: ignore[typeddict-unknown-key]
        error = await client.until("error")
    assert (error.error.code, error.error.param) == ("unknown_parameter", "response.modalities")
    assert emulator.sessions[0].responses == []


async def test_text_only_session_answers_in_text_without_audio(emulator: OpenAIRealtimeEmulator) -> None:
    async with sdk(emulator) as client:
        await client.connection.session.update(session={"type": "realtime", "output_modalities": ["text"]})
        await client.until("session.updated")
        await client.connection.response.create()
        done = await client.until("response.done")
    reply = emulator.script.greeting
    assert "".join(e.delta for e in client.of("response.output_text.delta")) == reply
    assert [e.text for e in client.of("response.output_text.done")] == [reply]
    assert not client.of("response.output_audio.delta") and not client.of(
        "response.output_audio_transcript.delta"
    )
    assert done.response.output_modalities == ["text"]
    [item] = done.response.output
    assert [(part.type, part.text) for part in item.content] == [("output_text", reply)]
    assert [e.part.type for e in client.of("response.content_part.added")] == ["text"]


async def test_output_modalities_per_response(emulator: OpenAIRealtimeEmulator) -> None:
    async with sdk(emulator) as client:
        await client.connection.response.create(response={"output_modalities": ["text"]})
        text_reply = await client.until("response.done")
        audio_from = len(client.received)
        await client.connection.response.create()
        audio_reply = await client.until("response.done")
        await client.connection.response.create(response={"output_modalities": ["text", "audio"]})
        refused = await client.until("error")
    assert text_reply.response.output_modalities == ["text"]
    assert not any(e.type == "response.output_audio.delta" for e in client.received[:audio_from])
    assert audio_reply.response.output_modalities == ["audio"]
    assert any(e.type == "response.output_audio.delta" for e in client.received[audio_from:])
    assert (refused.error.code, refused.error.param) == ("invalid_value", "response.output_modalities")


async def test_the_voice_is_fixed_once_the_model_has_spoken(emulator: OpenAIRealtimeEmulator) -> None:
    async with sdk(emulator) as client:
        await client.connection.session.update(
            session={"type": "realtime", "audio": {"output": {"voice": "marin"}}}
        )
        before = await client.until("session.updated")
        await client.connection.response.create()
        await client.until("response.done")
        await client.connection.session.update(
            session={"type": "realtime", "instructions": "New.", "audio": {"output": {"voice": "cedar"}}}
        )
        refused = await client.until("error")
        await client.connection.session.update(session={"type": "realtime", "instructions": "New."})
        after = await client.until("session.updated")
    assert before.session.audio.output.voice == "marin"
    assert refused.error.code == "cannot_update_voice"
    assert refused.error.message == "Cannot update a conversation's voice if assistant audio is present."
    assert after.session.audio.output.voice == "marin" and after.session.instructions == "New."


async def test_input_transcription_streams_deltas_before_completing(
    emulator: OpenAIRealtimeEmulator, speech: Any
) -> None:
    async with sdk(emulator) as client:
        await client.connection.session.update(
            session={
                "type": "realtime",
                "audio": {
                    "input": {
                        "transcription": {"model": "gpt-4o-transcribe"},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                    }
                },
            }
        )
        await client.until("session.updated")
        samples = speech("Hi, I would like to book a cleaning next week.")
        for start in range(0, samples.size, 2400):
            chunk = samples[start : start + 2400].astype("<i2").tobytes()
            await client.connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
        completed = await client.until("conversation.item.input_audio_transcription.completed")
    deltas = client.of("conversation.item.input_audio_transcription.delta")
    assert len(deltas) > 1 and {d.item_id for d in deltas} == {completed.item_id}
    assert "".join(d.delta for d in deltas) == completed.transcript == emulator.script.turns[0].caller_says


async def test_without_transcription_there_are_no_transcription_events(
    emulator: OpenAIRealtimeEmulator, speech: Any
) -> None:
    async with sdk(emulator) as client:
        samples = speech("Hello there.")
        await client.connection.input_audio_buffer.append(
            audio=base64.b64encode(samples.astype("<i2").tobytes()).decode()
        )
        await client.until("response.done")
    assert not [
        e for e in client.received if e.type.startswith("conversation.item.input_audio_transcription")
    ]


async def test_a_law_in_and_out(emulator: OpenAIRealtimeEmulator, speech: Any) -> None:
    pcma = {"type": "audio/pcma"}
    async with sdk(emulator) as client:
        await client.connection.session.update(
            session={"type": "realtime", "audio": {"input": {"format": pcma}, "output": {"format": pcma}}}
        )
        updated = await client.until("session.updated")
        caller = speech("Hi, I would like to book a cleaning next week.", rate=8000)
        await client.connection.input_audio_buffer.append(
            audio=base64.b64encode(alaw_encode(caller).tobytes()).decode()
        )
        stopped = await client.until("input_audio_buffer.speech_stopped")
        done = await client.until("response.done")
    assert updated.session.audio.input.format.type == "audio/pcma"
    assert stopped.audio_end_ms > 500
    audio = b"".join(base64.b64decode(e.delta) for e in client.of("response.output_audio.delta"))
    sent_ms = emulator.sessions[0].responses[0].audio_sent_ms
    assert len(audio) == pytest.approx(sent_ms * 8, abs=8)  # one byte a sample at 8 kHz
    assert done.response.audio.output.format.type == "audio/pcma"
    assert np.frombuffer(audio, dtype=np.uint8).std() > 0  # speech, not a constant code

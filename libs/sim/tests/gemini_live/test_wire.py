from __future__ import annotations

import base64

import pytest

from switchboard.sim.gemini_live import _wire as wire

pytestmark = pytest.mark.unit


def test_normalise_camelises_field_names_at_every_depth() -> None:
    message = {
        "realtime_input": {"audio": {"data": "AAA=", "mime_type": "audio/pcm;rate=8000"}},
        "setup": {"generation_config": {"speech_config": {"voice_config": {"prebuilt_voice_config": {}}}}},
    }
    assert wire.normalise(message) == {
        "realtimeInput": {"audio": {"data": "AAA=", "mimeType": "audio/pcm;rate=8000"}},
        "setup": {"generationConfig": {"speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {}}}}},
    }


def test_normalise_leaves_caller_data_alone() -> None:
    message = {
        "function_responses": [{"id": "1", "response": {"slot_list": [{"start_time": "9:00"}]}}],
        "function_declarations": [{"parameters_json_schema": {"properties": {"patient_name": {}}}}],
        "function_calls": [{"args": {"day_of_week": "tuesday"}}],
    }
    assert wire.normalise(message) == {
        "functionResponses": [{"id": "1", "response": {"slot_list": [{"start_time": "9:00"}]}}],
        "functionDeclarations": [{"parametersJsonSchema": {"properties": {"patient_name": {}}}}],
        "functionCalls": [{"args": {"day_of_week": "tuesday"}}],
    }


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_decode_bytes_accepts_standard_and_url_safe_base64(encode) -> None:
    payload = bytes(range(256))
    text = encode(payload).decode()
    assert wire.decode_bytes(text) == payload
    assert wire.decode_bytes(text.rstrip("=")) == payload


@pytest.mark.parametrize(
    ("mime_type", "rate"),
    [("audio/pcm;rate=8000", 8000), ("audio/pcm; rate=24000", 24000), ("audio/pcm", 16000), (None, 16000)],
)
def test_pcm_rate(mime_type, rate) -> None:
    assert wire.pcm_rate(mime_type) == rate


@pytest.mark.parametrize(("seconds", "text"), [(50, "50s"), (1.5, "1.5s"), (0.25, "0.25s"), (0, "0s")])
def test_duration_is_protobuf_json(seconds, text) -> None:
    assert wire.duration(seconds) == text


def test_turn_complete_carries_usage() -> None:
    usage = wire.usage_metadata(
        prompt_text=10, prompt_audio=32, response_tokens=64, response_modality="AUDIO"
    )
    message = wire.turn_complete(usage)
    assert message["serverContent"] == {"turnComplete": True}
    assert message["usageMetadata"]["totalTokenCount"] == 106
    assert wire.audio_tokens(1000) == 32

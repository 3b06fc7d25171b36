import ssl

import pytest
from google.genai import errors as genai_errors
from google.genai import types
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from switchboard.agent_gemini import mapping
from switchboard.agent_gemini.mapping import (
    CallerText,
    GoAway,
    Interrupted,
    ModelAudio,
    ModelText,
    ResumptionUpdate,
    ToolCalls,
    ToolCallsCancelled,
    TurnComplete,
    Usage,
)
from switchboard.common.agent.builtin_tools import built_in_tools
from switchboard.common.agent.model_session import HeardReport, ToolCall
from switchboard.common.agent.prompts import opening_prompt
from switchboard.common.agent.tools import ToolRegistry
from switchboard.common.errors import ErrorCategory
from switchboard.common.profiles import TurnDetection

from .conftest import profile

pytestmark = pytest.mark.unit


def message(**fields: object) -> types.LiveServerMessage:
    return types.LiveServerMessage.model_validate(fields)


def test_the_setup_carries_the_profile_tools_transcription_resumption_and_compression() -> None:
    p = profile(language="es-MX", voice="Puck", tools=("end_call", "send_dtmf"), temperature=0.6)
    config = mapping.live_config(p, ToolRegistry(built_in_tools()).specs_for(p), handle="h-1")
    assert config.response_modalities == [types.Modality.AUDIO]
    assert config.system_instruction == p.instructions
    assert config.speech_config is not None and config.speech_config.language_code == "es-MX"
    voice = config.speech_config.voice_config
    assert voice is not None and voice.prebuilt_voice_config is not None
    assert voice.prebuilt_voice_config.voice_name == "Puck"
    assert config.temperature == 0.6
    assert config.tools is not None
    declarations = config.tools[0].function_declarations or []
    assert [d.name for d in declarations] == ["end_call", "send_dtmf"]
    assert declarations[1].parameters_json_schema["required"] == ["digits"]
    assert config.input_audio_transcription is not None and config.output_audio_transcription is not None
    assert config.session_resumption == types.SessionResumptionConfig(handle="h-1")
    assert config.context_window_compression is not None
    assert config.context_window_compression.sliding_window is not None
    realtime = config.realtime_input_config
    assert realtime is not None
    assert realtime.activity_handling == types.ActivityHandling.START_OF_ACTIVITY_INTERRUPTS


def test_a_profile_without_tools_declares_none() -> None:
    assert mapping.live_config(profile(tools=()), []).tools is None


@pytest.mark.parametrize(
    ("turn", "start", "end"),
    [
        (TurnDetection(), None, None),
        (TurnDetection(threshold=0.2, eagerness="high"), "START_SENSITIVITY_HIGH", "END_SENSITIVITY_HIGH"),
        (TurnDetection(threshold=0.8, eagerness="low"), "START_SENSITIVITY_LOW", "END_SENSITIVITY_LOW"),
    ],
)
def test_turn_detection_maps_onto_gemini_activity_detection(
    turn: TurnDetection, start: str | None, end: str | None
) -> None:
    config = mapping.realtime_input_config(turn.model_copy(update={"prefix_padding_ms": 200}))
    detection = config.automatic_activity_detection
    assert detection is not None and detection.disabled is False
    assert detection.start_of_speech_sensitivity == (start and types.StartSensitivity(start))
    assert detection.end_of_speech_sensitivity == (end and types.EndSensitivity(end))
    assert (detection.prefix_padding_ms, detection.silence_duration_ms) == (200, turn.silence_duration_ms)


def text_of(content: types.Content) -> str:
    return "".join(part.text or "" for part in content.parts or [])


def test_the_heard_note_quotes_what_was_heard() -> None:
    report = HeardReport("turn-2", played_ms=800, sent_ms=2000, heard_text="Tenemos huecos", full_text="x")
    note = mapping.heard_note(report)
    assert note.role == "user"
    assert "«Tenemos huecos»" in text_of(note)
    assert "before hearing any" in text_of(mapping.heard_note(HeardReport("turn-2", 0, 2000, "", "x")))


def test_the_opening_turn_passes_the_prompt_as_a_bracketed_note() -> None:
    prompt = opening_prompt(profile(greeting="Saluda y ofrece ayuda."))
    turn = mapping.opening_turn(prompt)
    assert turn.role == "user" and text_of(turn) == f"[{prompt}]"
    assert "Saluda y ofrece ayuda." in text_of(turn)


def test_a_tool_result_answers_the_call_by_id() -> None:
    response = mapping.function_response(ToolCall("fc-9", "end_call", {}), {"ok": True})
    assert (response.id, response.name, response.response) == ("fc-9", "end_call", {"ok": True})


def test_server_messages_become_events_with_the_barge_in_first() -> None:
    audio = message(
        server_content={
            "model_turn": {
                "parts": [{"inline_data": {"mime_type": "audio/pcm;rate=24000", "data": b"\x01\x02"}}]
            },
            "output_transcription": {"text": "Hello"},
        }
    )
    assert mapping.events_of(audio) == [ModelAudio(b"\x01\x02"), ModelText("Hello")]
    barge = message(server_content={"input_transcription": {"text": "wait"}, "interrupted": True})
    assert mapping.events_of(barge) == [Interrupted(), CallerText("wait")]
    done = message(
        server_content={"turn_complete": True},
        usage_metadata={"prompt_token_count": 10, "response_token_count": 5, "total_token_count": 15},
    )
    assert mapping.events_of(done) == [TurnComplete(), Usage(10, 5, 15)]
    tool = message(
        tool_call={"function_calls": [{"id": "fc-1", "name": "end_call", "args": {"reason": "bye"}}]}
    )
    assert mapping.events_of(tool) == [ToolCalls((ToolCall("fc-1", "end_call", {"reason": "bye"}),))]
    assert mapping.events_of(message(tool_call_cancellation={"ids": ["fc-1"]})) == [
        ToolCallsCancelled(("fc-1",))
    ]
    assert mapping.events_of(message(go_away={"time_left": "2.5s"})) == [GoAway(2.5)]
    update = message(session_resumption_update={"new_handle": "h-2", "resumable": True})
    assert mapping.events_of(update) == [ResumptionUpdate("h-2")]
    not_now = message(session_resumption_update={"resumable": False})
    assert mapping.events_of(not_now) == [ResumptionUpdate(None)]
    thinking = message(server_content={"model_turn": {"parts": [{"text": "thinking", "thought": True}]}})
    assert mapping.events_of(thinking) == []


@pytest.mark.parametrize(("value", "seconds"), [("2s", 2.0), ("0.5s", 0.5), (None, 0.0), ("soon", 0.0)])
def test_durations(value: str | None, seconds: float) -> None:
    assert mapping.duration_s(value) == seconds


@pytest.mark.parametrize(
    ("code", "reason", "expected", "retryable"),
    [
        (1007, "API key not valid. Please pass a valid API key.", "unauthorized", False),
        (1007, "Session resumption handle is invalid or has expired.", "resumption_expired", False),
        (1007, "Request contains an invalid argument.", "invalid_request", False),
        (1008, "models/x is not found or is not supported for bidiGenerateContent.", "model_refused", False),
        (1011, "Internal error encountered.", "closed_1011", True),
        (1006, "abnormal closure [internal]", "closed_1006", True),
        (1000, "", "closed_1000", True),
        (4000, "", "closed_4000", False),
    ],
)
def test_close_codes_say_whether_reconnecting_can_help(
    code: int, reason: str, expected: str, retryable: bool
) -> None:
    error = mapping.error_from(genai_errors.APIError(code, reason))
    assert (error.code, error.retryable) == (expected, retryable)
    assert reason in error.message


@pytest.mark.parametrize(
    ("status", "expected", "retryable"),
    [(401, "unauthorized", False), (403, "unauthorized", False), (404, "endpoint_not_found", False),
     (429, "rate_limited", True), (503, "http_503", True), (400, "http_400", False)],
)  # fmt: skip
def test_refused_handshakes_say_whether_reconnecting_can_help(
    status: int, expected: str, retryable: bool
) -> None:
    error = mapping.error_from(InvalidStatus(Response(status, "refused", Headers())))
    assert (error.code, error.retryable) == (expected, retryable)


def test_network_failures_are_retryable_and_an_untrusted_certificate_is_not() -> None:
    assert mapping.error_from(ConnectionRefusedError("refused")).retryable
    assert mapping.error_from(TimeoutError()).category is ErrorCategory.TIMEOUT
    untrusted = mapping.error_from(ssl.SSLCertVerificationError("self-signed certificate"))
    assert (untrusted.code, untrusted.retryable) == ("tls_untrusted", False)

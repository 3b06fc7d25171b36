import json

import pytest
from livekit import rtc
from livekit.agents import APIConnectionError, APIError, llm
from openai.types.realtime import RealtimeError
from openai.types.realtime.realtime_audio_input_turn_detection import SemanticVad, ServerVad

from switchboard.agent_openai import mapping
from switchboard.agent_openai.mapping import SpokenItem
from switchboard.agent_openai.settings import AgentOpenAISettings
from switchboard.common.agent.builtin_tools import built_in_tools
from switchboard.common.agent.model_session import ToolCall
from switchboard.common.agent.tools import ToolRegistry
from switchboard.common.errors import ErrorCategory
from switchboard.common.profiles import Profile, TurnDetection

pytestmark = pytest.mark.unit

PROFILE = Profile(
    name="p",
    provider="openai",
    model="gpt-realtime-mini",
    instructions="Be brief.",
    greeting="Greet.",
    voice="cedar",
    language="es-MX",
    tools=("end_call", "send_dtmf", "transfer_call"),
    turn_detection=TurnDetection(
        type="server_vad", threshold=0.6, prefix_padding_ms=200, silence_duration_ms=400
    ),
    temperature=0.7,
)


def settings(**values: object) -> AgentOpenAISettings:
    return AgentOpenAISettings(**{"api_key": "sk-test", **values})  # type: ignore[arg-type]


def test_a_profile_becomes_the_model_options() -> None:
    kwargs = mapping.model_kwargs(
        PROFILE, settings(base_url="http://127.0.0.1:8765/v1/", reconnect_attempts=5)
    )
    assert (kwargs["model"], kwargs["voice"], kwargs["modalities"]) == (
        "gpt-realtime-mini",
        "cedar",
        ["audio"],
    )
    assert kwargs["api_key"] == "sk-test"
    assert kwargs["base_url"] == "http://127.0.0.1:8765/v1"
    assert kwargs["max_session_duration"] == 1200
    assert kwargs["conn_options"].max_retry == 5
    assert kwargs["turn_detection"] == ServerVad(
        type="server_vad",
        threshold=0.6,
        prefix_padding_ms=200,
        silence_duration_ms=400,
        create_response=True,
        interrupt_response=True,
    )
    assert kwargs["input_audio_transcription"].model_dump(exclude_none=True) == {
        "model": "gpt-4o-mini-transcribe",
        "language": "es",
    }
    assert "temperature" not in kwargs  # the GA Realtime API has none
    assert "base_url" not in mapping.model_kwargs(PROFILE, settings())


def test_semantic_vad_keeps_its_eagerness() -> None:
    detection = mapping.turn_detection(TurnDetection(type="semantic_vad", eagerness="high"))
    assert detection == SemanticVad(
        type="semantic_vad", eagerness="high", create_response=True, interrupt_response=True
    )


def test_the_model_options_need_a_real_api_key() -> None:
    with pytest.raises(Exception, match="AGENT_OPENAI_API_KEY is missing or a placeholder"):
        mapping.model_kwargs(PROFILE, AgentOpenAISettings(api_key=None))


def test_built_in_tools_are_declared_with_their_json_schema() -> None:
    tools = mapping.tools(
        ToolRegistry(built_in_tools()).specs_for(PROFILE)
    )  # no transfer number in the profile: no transfer tool
    assert all(isinstance(tool, llm.RawFunctionTool) for tool in tools)
    schemas = [tool.info.raw_schema for tool in tools if isinstance(tool, llm.RawFunctionTool)]
    assert [schema["name"] for schema in schemas] == ["end_call", "send_dtmf"]
    assert schemas[1]["parameters"]["required"] == ["digits"]
    assert schemas[0]["description"].startswith("End the phone call")


def test_function_calls_become_tool_calls_and_results_become_outputs() -> None:
    call = llm.FunctionCall(call_id="call_1", name="send_dtmf", arguments='{"digits": "12#"}')
    assert mapping.tool_call(call, "resp_1") == ToolCall("call_1", "send_dtmf", {"digits": "12#"}, "resp_1")
    for broken in ("not json", "[1, 2]", ""):
        bad = llm.FunctionCall(call_id="call_2", name="end_call", arguments=broken)
        assert mapping.tool_call(bad, "resp_2").arguments == {}
    output = mapping.tool_output(ToolCall("call_1", "send_dtmf"), {"ok": False, "error": "nope"})
    assert (output.call_id, output.name, output.is_error) == ("call_1", "send_dtmf", True)
    assert json.loads(output.output) == {"ok": False, "error": "nope"}
    assert not mapping.tool_output(ToolCall("call_1", "end_call"), {"ok": True}).is_error


def test_pcm_and_frames_convert_both_ways() -> None:
    pcm = bytes(range(256)) * 3 + b"\x01"  # 769 bytes: the odd byte is dropped
    frame = mapping.audio_frame(pcm)
    assert (frame.sample_rate, frame.num_channels, frame.samples_per_channel) == (24000, 1, 384)
    assert mapping.pcm(frame) == pcm[:768]
    assert mapping.duration_ms(rtc.AudioFrame(bytes(960), 24000, 1, 480)) == 20.0


@pytest.mark.parametrize(
    ("played", "expected"),
    [
        (800, [("a", 800), ("b", 0)]),
        (0, [("a", 0), ("b", 0)]),
        (1500, [("b", 500)]),  # "a" was heard to its end
        (5000, []),  # everything was heard: nothing to cut
    ],
)
def test_truncation_points_follow_the_messages_in_order(played: int, expected: list[tuple[str, int]]) -> None:
    spoken = [SpokenItem("a", 1000.9), SpokenItem("b", 700.0)]  # "a" may be cut at 1000 ms at most
    assert mapping.truncation_points(spoken, played) == expected


def test_errors_say_whether_the_call_can_go_on() -> None:
    key = APIError(
        "OpenAI Realtime API returned an error",
        body=RealtimeError(
            type="invalid_request_error", code="invalid_api_key", message="Incorrect API key."
        ),
        retryable=False,
    )
    fatal = mapping.session_error(key, recoverable=False)
    assert (fatal.code, fatal.category, fatal.retryable) == (
        "invalid_api_key",
        ErrorCategory.UNAUTHORIZED,
        False,
    )
    assert fatal.message == "OpenAI Realtime: Incorrect API key."

    quota = mapping.session_error(
        APIError("failed", body={"type": "insufficient_quota", "message": "Quota."}), recoverable=False
    )
    assert (quota.code, quota.category, quota.retryable) == (
        "insufficient_quota",
        ErrorCategory.CAPACITY,
        False,
    )

    dropped = mapping.session_error(APIConnectionError("connection closed unexpectedly"), recoverable=True)
    assert (dropped.code, dropped.category, dropped.retryable) == (
        "connection",
        ErrorCategory.UNAVAILABLE,
        True,
    )

    odd = mapping.session_error(RuntimeError("boom"), recoverable=True)
    assert (odd.code, odd.category, odd.message) == (
        "model_error",
        ErrorCategory.PROVIDER,
        "OpenAI Realtime: boom",
    )

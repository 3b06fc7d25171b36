"""Pure conversions between Switchboard and LiveKit's OpenAI Realtime plugin.

Profile → model options, built-in tools → plugin tools, PCM ↔ `rtc.AudioFrame`, function calls → `ToolCall`,
plugin errors → `SwitchboardError`, and what to truncate after a barge-in. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from livekit import rtc
from livekit.agents import APIConnectionError, APIConnectOptions, APIError, llm
from openai.types.realtime import AudioTranscription, InputAudioBufferAppendEvent
from openai.types.realtime.realtime_audio_input_turn_detection import SemanticVad, ServerVad

from switchboard.agent_openai.settings import AgentOpenAISettings
from switchboard.common.agent.model_session import ToolCall
from switchboard.common.agent.tools import ToolSpec
from switchboard.common.errors import ErrorCategory, SwitchboardError
from switchboard.common.profiles import Profile, TurnDetection

SAMPLE_RATE = 24000
"""OpenAI Realtime audio, both ways, as the plugin speaks it: PCM16 mono at 24 kHz."""

TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
"""What transcribes the caller (the plugin's default model, made explicit to add the language)."""

_UNAUTHORIZED_CODES = frozenset({"invalid_api_key", "account_deactivated"})
_QUOTA_CODES = frozenset({"insufficient_quota", "credit_balance_exhausted", "billing_hard_limit_reached"})

# --- profile → model ---------------------------------------------------------------------------------------


def model_kwargs(profile: Profile, settings: AgentOpenAISettings) -> dict[str, Any]:
    """The keyword arguments of `RealtimeModel` for one call of `profile`.

    The profile's `temperature` is not passed: the GA Realtime API has no such setting (the plugin accepts the
    argument and ignores it).
    """
    kwargs: dict[str, Any] = {
        "model": profile.model,
        "voice": profile.voice,
        "modalities": ["audio"],
        "turn_detection": turn_detection(profile.turn_detection),
        "input_audio_transcription": transcription(profile.language),
        "api_key": settings.api_key_value(),
        "max_session_duration": settings.max_session_duration_s,
        "conn_options": APIConnectOptions(
            max_retry=settings.reconnect_attempts,
            retry_interval=settings.reconnect_interval_s,
            timeout=settings.connect_timeout_s,
        ),
    }
    if settings.base_url:
        kwargs["base_url"] = settings.base_url
    return kwargs


def turn_detection(detection: TurnDetection) -> ServerVad | SemanticVad:
    """The profile's turn detection; the server answers each turn and cancels its answer when the caller speaks.

    `interrupt_response` stops the model generating what nobody will hear; the phone's buffer is still cleared by
    the call agent, since only it knows what is playing.
    """
    if detection.type == "server_vad":
        return ServerVad(
            type="server_vad",
            threshold=detection.threshold,
            prefix_padding_ms=detection.prefix_padding_ms,
            silence_duration_ms=detection.silence_duration_ms,
            create_response=True,
            interrupt_response=True,
        )
    return SemanticVad(
        type="semantic_vad", eagerness=detection.eagerness, create_response=True, interrupt_response=True
    )


def transcription(language: str) -> AudioTranscription:
    """Caller transcription, told the language (ISO-639-1, from a profile language such as ``es-MX``)."""
    return AudioTranscription(model=TRANSCRIPTION_MODEL, language=language.split("-", 1)[0])


# --- tools -------------------------------------------------------------------------------------------------


async def _run_in_the_call_agent(**_: Any) -> None:
    """Never called: the plugin only declares the tools; the call agent runs them."""
    raise RuntimeError("Switchboard tools run in the call agent, not in the plugin")


def tool(spec: ToolSpec) -> llm.RawFunctionTool[..., Any]:
    """A built-in tool as the plugin declares it to the model (its JSON schema passed as is)."""
    return llm.function_tool(
        _run_in_the_call_agent,
        raw_schema={"name": spec.name, "description": spec.description, "parameters": spec.parameters},
    )


def tools(specs: Sequence[ToolSpec]) -> list[llm.Tool]:
    """The tools a call offers, as plugin tools."""
    return [tool(spec) for spec in specs]


def tool_call(call: llm.FunctionCall, response_id: str) -> ToolCall:
    """A function call of the model; arguments that are not a JSON object become none."""
    try:
        arguments = json.loads(call.arguments or "{}")
    except ValueError:
        arguments = {}
    return ToolCall(
        call.call_id,
        call.name,
        arguments if isinstance(arguments, dict) else {},
        response_id=response_id,
    )


def tool_output(call: ToolCall, result: Mapping[str, Any]) -> llm.FunctionCallOutput:
    """A tool's result as the chat item the model reads (JSON); an `ok: false` result is an error."""
    return llm.FunctionCallOutput(
        call_id=call.call_id,
        name=call.name,
        output=json.dumps(dict(result), ensure_ascii=False, default=str),
        is_error=result.get("ok") is False,
    )


# --- audio -------------------------------------------------------------------------------------------------


def audio_frame(pcm: bytes) -> rtc.AudioFrame:
    """Caller audio (PCM16 at 24 kHz) as a plugin frame; a trailing odd byte is dropped."""
    usable = len(pcm) - len(pcm) % 2
    return rtc.AudioFrame(pcm[:usable], SAMPLE_RATE, 1, usable // 2)


def audio_append(pcm: bytes) -> InputAudioBufferAppendEvent:
    """Caller audio (PCM16 at 24 kHz) as one `input_audio_buffer.append`, sent as is."""
    usable = len(pcm) - len(pcm) % 2
    return InputAudioBufferAppendEvent(
        type="input_audio_buffer.append", audio=base64.b64encode(pcm[:usable]).decode("ascii")
    )


def pcm(frame: rtc.AudioFrame) -> bytes:
    """A model audio frame as PCM16 bytes."""
    return frame.data.tobytes()


def duration_ms(frame: rtc.AudioFrame) -> float:
    """How much audio a frame holds."""
    return frame.samples_per_channel * 1000.0 / frame.sample_rate


# --- barge-in ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SpokenItem:
    """An assistant message of a response, and how much of its audio the model sent."""

    message_id: str
    received_ms: float = 0.0


def truncation_points(spoken: Sequence[SpokenItem], played_ms: int) -> list[tuple[str, int]]:
    """Where to cut each message of a response so the model keeps only the `played_ms` the caller heard.

    Messages are heard in order; each is cut at what was heard of it, never past the audio the server sent
    (whole ms, rounded down: OpenAI refuses a truncation longer than the audio). A message heard to its end is
    left alone; a message not heard at all is cut at 0 (the plugin deletes it).
    """
    left = max(0, played_ms)
    points: list[tuple[str, int]] = []
    for item in spoken:
        available = int(item.received_ms)
        end = min(left, available)
        if end < available:
            points.append((item.message_id, end))
        left -= end
    return points


# --- errors ------------------------------------------------------------------------------------------------


def session_error(error: Exception, *, recoverable: bool) -> SwitchboardError:
    """A plugin error as a Switchboard error: `recoverable` decides whether the call goes on."""
    body = error.body if isinstance(error, APIError) else None
    code = _field(body, "code") or _field(body, "type")
    detail = _field(body, "message")
    if isinstance(error, APIConnectionError):
        category, code = ErrorCategory.UNAVAILABLE, code or "connection"
    elif code in _UNAUTHORIZED_CODES:
        category = ErrorCategory.UNAUTHORIZED
    elif code in _QUOTA_CODES:
        category = ErrorCategory.CAPACITY
    else:
        category = ErrorCategory.PROVIDER
    message = f"OpenAI Realtime: {detail}" if detail else f"OpenAI Realtime: {error}"
    return SwitchboardError(message, category=category, code=code or "model_error", retryable=recoverable)


def _field(body: object, name: str) -> str:
    value = body.get(name) if isinstance(body, Mapping) else getattr(body, name, None)
    return value if isinstance(value, str) else ""

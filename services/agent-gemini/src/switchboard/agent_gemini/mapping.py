"""Pure conversions between Switchboard and the Gemini Live API: profile → setup, server message → events.

Nothing here does I/O, so every rule of the translation is tested without a socket.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.genai import errors as genai_errors
from google.genai import types
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from switchboard.common.agent.model_session import HeardReport, ToolCall
from switchboard.common.agent.tools import ToolSpec
from switchboard.common.errors import ErrorCategory, SwitchboardError
from switchboard.common.profiles import Profile, TurnDetection

INPUT_MIME_TYPE = "audio/pcm;rate=16000"
"""What the agent sends: the caller's audio as PCM16 LE at 16 kHz (the model answers at 24 kHz)."""

# --- profile → setup -------------------------------------------------------------------------------------


def live_config(
    profile: Profile, tools: Sequence[ToolSpec], *, handle: str | None = None
) -> types.LiveConnectConfig:
    """The `setup` of a session for `profile`; `handle` resumes an earlier session (its history is kept)."""
    return types.LiveConnectConfig(
        response_modalities=[types.Modality.AUDIO],
        system_instruction=profile.instructions,
        speech_config=types.SpeechConfig(
            voice_config=types.VoiceConfig(
                prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name=profile.voice)
            ),
            language_code=profile.language,
        ),
        temperature=profile.temperature,
        tools=[types.Tool(function_declarations=[function_declaration(spec) for spec in tools])]
        if tools
        else None,
        realtime_input_config=realtime_input_config(profile.turn_detection),
        input_audio_transcription=types.AudioTranscriptionConfig(),
        output_audio_transcription=types.AudioTranscriptionConfig(),
        session_resumption=types.SessionResumptionConfig(handle=handle),
        context_window_compression=types.ContextWindowCompressionConfig(sliding_window=types.SlidingWindow()),
    )


def function_declaration(spec: ToolSpec) -> types.FunctionDeclaration:
    """A tool as a function the model may call (its JSON schema passed as is)."""
    return types.FunctionDeclaration(
        name=spec.name, description=spec.description, parameters_json_schema=spec.parameters
    )


def realtime_input_config(turn: TurnDetection) -> types.RealtimeInputConfig:
    """The model's own voice-activity detection, tuned like the profile asks; caller speech interrupts it.

    Gemini has one detector (no semantic mode): the profile's `threshold` picks how readily speech is heard to
    start (below 0.5 more readily, above less), its `eagerness` how readily a pause ends the turn; padding and
    silence carry over as they are.
    """
    return types.RealtimeInputConfig(
        automatic_activity_detection=types.AutomaticActivityDetection(
            disabled=False,
            start_of_speech_sensitivity=start_sensitivity(turn.threshold),
            end_of_speech_sensitivity=end_sensitivity(turn.eagerness),
            prefix_padding_ms=turn.prefix_padding_ms,
            silence_duration_ms=turn.silence_duration_ms,
        ),
        activity_handling=types.ActivityHandling.START_OF_ACTIVITY_INTERRUPTS,
    )


def start_sensitivity(threshold: float) -> types.StartSensitivity | None:
    """A low threshold hears speech start more readily; around 0.5 the service's default is kept."""
    if threshold < 0.4:
        return types.StartSensitivity.START_SENSITIVITY_HIGH
    if threshold > 0.6:
        return types.StartSensitivity.START_SENSITIVITY_LOW
    return None


def end_sensitivity(eagerness: str) -> types.EndSensitivity | None:
    """An eager agent takes a shorter pause as the end of the caller's turn."""
    if eagerness == "high":
        return types.EndSensitivity.END_SENSITIVITY_HIGH
    if eagerness == "low":
        return types.EndSensitivity.END_SENSITIVITY_LOW
    return None


# --- what the agent says to the model ---------------------------------------------------------------------


def opening_turn(prompt: str) -> types.Content:
    """The user turn that makes the model speak first (it never does on its own), bracketed as a system note."""
    return types.Content(role="user", parts=[types.Part(text=f"[{prompt}]")])


def heard_note(report: HeardReport) -> types.Content:
    """A context note telling the model how much of its interrupted answer the caller really heard.

    Gemini keeps in its history everything it sent, heard or not, and cannot cut it; this note, sent without
    ending the turn (so the model does not answer it), makes it repeat what the caller missed rather than assume
    it was heard. It is phrased as a bracketed system note, so it reads the same whatever the call's language.
    """
    if report.heard_text:
        text = (
            "[System note, not spoken by the caller: the caller interrupted your last answer and heard only "
            f"this part of it: «{report.heard_text}». They did not hear the rest.]"
        )
    else:
        text = (
            "[System note, not spoken by the caller: the caller interrupted your last answer before hearing any "
            "of it.]"
        )
    return types.Content(role="user", parts=[types.Part(text=text)])


def function_response(call: ToolCall, result: dict[str, Any]) -> types.FunctionResponse:
    """A tool's result, answering the model's call by its id."""
    return types.FunctionResponse(id=call.call_id, name=call.name, response=result)


# --- server message → events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelAudio:
    """A piece of the model's spoken answer, PCM16 24 kHz."""

    pcm: bytes


@dataclass(frozen=True, slots=True)
class ModelText:
    """A piece of the transcript of the model's speech."""

    text: str


@dataclass(frozen=True, slots=True)
class CallerText:
    """A piece of what the model heard the caller say."""

    text: str


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The caller spoke over the model: it stopped generating."""


@dataclass(frozen=True, slots=True)
class TurnComplete:
    """The model's turn is over."""


@dataclass(frozen=True, slots=True)
class ToolCalls:
    """The model asks for tools."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class ToolCallsCancelled:
    """Tool calls the model no longer waits for (the caller interrupted)."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GoAway:
    """The service will close this connection in `time_left_s`."""

    time_left_s: float


@dataclass(frozen=True, slots=True)
class ResumptionUpdate:
    """A handle a new connection can resume the session with (None when the session cannot be resumed now)."""

    handle: str | None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the service."""

    prompt_tokens: int
    response_tokens: int
    total_tokens: int


ModelEvent = (
    ModelAudio
    | ModelText
    | CallerText
    | Interrupted
    | TurnComplete
    | ToolCalls
    | ToolCallsCancelled
    | GoAway
    | ResumptionUpdate
    | Usage
)


def events_of(message: types.LiveServerMessage) -> list[ModelEvent]:
    """What one server message means, in the order to act on it (a barge-in first)."""
    events: list[ModelEvent] = []
    content = message.server_content
    if content is not None:
        if content.interrupted:
            events.append(Interrupted())
        if content.input_transcription is not None and content.input_transcription.text:
            events.append(CallerText(content.input_transcription.text))
        if content.model_turn is not None:
            for part in content.model_turn.parts or ():
                blob = part.inline_data
                if blob is not None and blob.data and (blob.mime_type or "").startswith("audio/pcm"):
                    events.append(ModelAudio(blob.data))
        if content.output_transcription is not None and content.output_transcription.text:
            events.append(ModelText(content.output_transcription.text))
    if message.tool_call_cancellation is not None and message.tool_call_cancellation.ids:
        events.append(ToolCallsCancelled(tuple(message.tool_call_cancellation.ids)))
    if message.tool_call is not None and message.tool_call.function_calls:
        calls = tuple(
            ToolCall(call_id=call.id or "", name=call.name or "", arguments=dict(call.args or {}))
            for call in message.tool_call.function_calls
        )
        events.append(ToolCalls(calls))
    if content is not None and content.turn_complete:
        events.append(TurnComplete())
    if message.go_away is not None:
        events.append(GoAway(duration_s(message.go_away.time_left)))
    update = message.session_resumption_update
    if update is not None:
        events.append(ResumptionUpdate(update.new_handle if update.resumable and update.new_handle else None))
    usage = message.usage_metadata
    if usage is not None:
        events.append(
            Usage(
                usage.prompt_token_count or 0, usage.response_token_count or 0, usage.total_token_count or 0
            )
        )
    return events


def duration_s(value: str | None) -> float:
    """A protobuf JSON duration (`"2s"`, `"0.5s"`) in seconds; 0 when absent or unreadable."""
    if not value:
        return 0.0
    try:
        return max(0.0, float(value.strip().removesuffix("s")))
    except ValueError:
        return 0.0


# --- failures → errors ---------------------------------------------------------------------------------------

_RETRYABLE_CLOSE = frozenset({1000, 1001, 1006, 1011, 1012, 1013, 1014})
"""Close codes after which a new connection (resuming the session) can help: the service went away or failed."""


def error_from(exc: BaseException) -> SwitchboardError:
    """A model-connection failure as an error that says whether reconnecting can help.

    A bad key (1007 at setup, or an HTTP 401/403), an unknown model (1008) or a setup the service rejects
    (1007) will fail again the same way; a dropped or failing connection (1006, 1011, an HTTP 5xx, a network
    error) may not.
    """
    if isinstance(exc, SwitchboardError):
        return exc
    if isinstance(exc, genai_errors.APIError):
        # A WebSocket close is raised with the close reason as the error's details.
        reason = exc.details if isinstance(exc.details, str) else (exc.message or str(exc))
        return _close_error(int(exc.code or 0), reason)
    if isinstance(exc, InvalidStatus):
        return _http_error(exc.response.status_code)
    if isinstance(exc, ConnectionClosed):
        code = exc.rcvd.code if exc.rcvd is not None else 1006
        reason = exc.rcvd.reason if exc.rcvd is not None else "connection lost"
        return _close_error(code, reason)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SwitchboardError(
            f"the model endpoint's certificate is not trusted: {exc}",
            category=ErrorCategory.INVALID_INPUT,
            code="tls_untrusted",
            retryable=False,
        )
    if isinstance(exc, TimeoutError):
        return SwitchboardError(
            "the model did not answer in time", category=ErrorCategory.TIMEOUT, code="timeout"
        )
    if isinstance(exc, (OSError, InvalidHandshake)):
        return SwitchboardError(
            f"cannot reach the model: {exc}", category=ErrorCategory.UNAVAILABLE, code="unreachable"
        )
    return SwitchboardError(
        f"model session failed: {type(exc).__name__}: {exc}", category=ErrorCategory.PROVIDER, code="provider"
    )


def _close_error(code: int, reason: str) -> SwitchboardError:
    lowered = reason.lower()
    if code == 1007 and "api key" in lowered:
        return SwitchboardError(
            f"the Gemini API key was refused ({code}): {reason}",
            category=ErrorCategory.UNAUTHORIZED,
            code="unauthorized",
            retryable=False,
        )
    if code == 1007 and ("resumption" in lowered or "handle" in lowered):
        return SwitchboardError(
            f"the session can no longer be resumed ({code}): {reason}",
            category=ErrorCategory.NOT_FOUND,
            code="resumption_expired",
            retryable=False,
        )
    if code == 1007:
        return SwitchboardError(
            f"the model rejected the request ({code}): {reason}",
            category=ErrorCategory.INVALID_INPUT,
            code="invalid_request",
            retryable=False,
        )
    if code == 1008:
        return SwitchboardError(
            f"the model refused the session ({code}): {reason}",
            category=ErrorCategory.NOT_FOUND,
            code="model_refused",
            retryable=False,
        )
    if code in _RETRYABLE_CLOSE:
        return SwitchboardError(
            f"the model connection closed ({code}): {reason}",
            category=ErrorCategory.UNAVAILABLE,
            code=f"closed_{code}",
            retryable=True,
        )
    if 400 <= code < 600:
        return _http_error(code)
    return SwitchboardError(
        f"the model connection closed ({code}): {reason}",
        category=ErrorCategory.PROVIDER,
        code=f"closed_{code}",
        retryable=False,
    )


def _http_error(status: int) -> SwitchboardError:
    if status in (401, 403):
        return SwitchboardError(
            f"the model endpoint refused the credentials (HTTP {status})",
            category=ErrorCategory.UNAUTHORIZED,
            code="unauthorized",
            retryable=False,
        )
    if status == 404:
        return SwitchboardError(
            "the model endpoint was not found (HTTP 404): check the base URL and API version",
            category=ErrorCategory.NOT_FOUND,
            code="endpoint_not_found",
            retryable=False,
        )
    if status == 429:
        return SwitchboardError(
            "the model is rate-limiting this key (HTTP 429)",
            category=ErrorCategory.CAPACITY,
            code="rate_limited",
            retryable=True,
        )
    if status >= 500:
        return SwitchboardError(
            f"the model endpoint is unavailable (HTTP {status})",
            category=ErrorCategory.UNAVAILABLE,
            code=f"http_{status}",
            retryable=True,
        )
    return SwitchboardError(
        f"the model endpoint refused the connection (HTTP {status})",
        category=ErrorCategory.INVALID_INPUT,
        code=f"http_{status}",
        retryable=False,
    )

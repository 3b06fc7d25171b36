"""The realtime session configuration: GA defaults, `session.update` merging and validation.

The configuration is kept as the JSON object the server echoes in `session.updated`, so fields the emulator
does not act on (tracing, noise reduction, tool choice…) still round-trip. The parts it acts on are read through
typed views (`TurnDetection`, `AudioFormat`).
"""

from __future__ import annotations

import copy
import time
from typing import Any, Literal

import msgspec

PCM_RATE = 24000

# Objects a `session.update` replaces as a whole instead of merging key by key: switching `server_vad` to
# `semantic_vad` must not keep `threshold`, and a new tool list replaces the old one.
_REPLACED_WHOLE = frozenset(
    {
        "turn_detection",
        "format",
        "transcription",
        "noise_reduction",
        "tools",
        "tracing",
        "truncation",
        "prompt",
    }
)

_SEMANTIC_SILENCE_MS = {"low": 900, "medium": 600, "auto": 600, "high": 350}


class SessionConfigError(ValueError):
    """A `session.update` the real API would reject; `param` names the offending field."""

    def __init__(self, message: str, *, code: str = "invalid_value", param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


class ServerVad(msgspec.Struct, tag="server_vad", tag_field="type", kw_only=True):
    """Energy-based turn detection, with OpenAI's defaults."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    idle_timeout_ms: int | None = None
    create_response: bool = True
    interrupt_response: bool = True


class SemanticVad(msgspec.Struct, tag="semantic_vad", tag_field="type", kw_only=True):
    """Model-based turn detection; emulated by energy VAD with a silence window set by `eagerness`."""

    eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    create_response: bool = True
    interrupt_response: bool = True


TurnDetection = ServerVad | SemanticVad


class AudioFormat(msgspec.Struct, kw_only=True):
    """`audio/pcm` (PCM16 little-endian at 24 kHz), `audio/pcmu` or `audio/pcma` (G.711 μ-law, A-law, 8 kHz)."""

    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
    rate: int | None = None

    @property
    def sample_rate(self) -> int:
        """Samples per second on the wire."""
        return PCM_RATE if self.type == "audio/pcm" else 8000


class VadParams(msgspec.Struct, frozen=True, kw_only=True):
    """What the energy VAD needs from the turn detection settings."""

    threshold_dbfs: float
    prefix_ms: float
    silence_ms: float


def vad_params(turn_detection: TurnDetection) -> VadParams:
    """Map OpenAI's 0–1 `threshold` onto a level: 0.5 is -40 dBFS, 0.9 is -24 dBFS."""
    if isinstance(turn_detection, ServerVad):
        return VadParams(
            threshold_dbfs=-60.0 + 40.0 * turn_detection.threshold,
            prefix_ms=float(turn_detection.prefix_padding_ms),
            silence_ms=float(turn_detection.silence_duration_ms),
        )
    return VadParams(
        threshold_dbfs=-40.0,
        prefix_ms=300.0,
        silence_ms=float(_SEMANTIC_SILENCE_MS[turn_detection.eagerness]),
    )


def default_session(*, session_id: str, model: str, max_session_s: float) -> dict[str, Any]:
    """The configuration `session.created` reports for a fresh GA session."""
    pcm = {"type": "audio/pcm", "rate": PCM_RATE}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI.",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": int(time.time() + max_session_s),
        "include": None,
        "audio": {
            "input": {
                "format": dict(pcm),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": msgspec.to_builtins(ServerVad()),
            },
            "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
        },
    }


Modality = Literal["audio", "text"]

CANNOT_UPDATE_VOICE = "Cannot update a conversation's voice if assistant audio is present."


def merge_session(
    current: dict[str, Any], update: dict[str, Any], *, assistant_audio: bool = False
) -> dict[str, Any]:
    """Apply a `session.update` to the configuration; raises `SessionConfigError` when the API would.

    `assistant_audio` says whether the model already spoke in this session: from then on the API refuses any
    `audio.output.voice` in an update (`cannot_update_voice`), even the current one, and applies nothing of
    the update. The result is normalized the way the server reports it: turn detection carries all its
    defaults.
    """
    session_type = update.get("type")
    if session_type is None:
        raise SessionConfigError(
            "Missing required parameter: 'session.type'.",
            code="missing_required_parameter",
            param="session.type",
        )
    if session_type != "realtime":
        raise SessionConfigError(
            f"Invalid value: '{session_type}'. This endpoint serves realtime sessions only.",
            param="session.type",
        )
    if assistant_audio and "voice" in ((update.get("audio") or {}).get("output") or {}):
        raise SessionConfigError(CANNOT_UPDATE_VOICE, code="cannot_update_voice")
    merged = _deep_merge(copy.deepcopy(current), update)
    # identity fields belong to the server
    for key in ("id", "object", "expires_at"):
        merged[key] = current[key]
    audio = merged.get("audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("input"), dict):
        raise SessionConfigError("Invalid type for 'session.audio'.", param="session.audio")
    if not isinstance(audio.get("output"), dict):
        raise SessionConfigError("Invalid type for 'session.audio.output'.", param="session.audio.output")
    audio_in, audio_out = audio["input"], audio["output"]
    input_format(merged)
    output_format(merged)
    detection = turn_detection(merged)
    audio_in["turn_detection"] = None if detection is None else msgspec.to_builtins(detection)
    _check_voice(audio_out.get("voice", "alloy"), "session.audio.output.voice")
    output_modality(merged.get("output_modalities"), "session.output_modalities")
    return merged


def output_modality(value: object, param: str) -> Modality:
    """What a response produces: `["audio"]` (audio and its transcript) or `["text"]`; never both."""
    if not isinstance(value, list) or len(value) != 1 or value[0] not in ("audio", "text"):
        raise SessionConfigError(
            f"Invalid value for '{param}': {value!r}. Supported values are: ['audio'] and ['text'].",
            param=param,
        )
    modality: Modality = value[0]
    return modality


def _check_voice(value: object, param: str) -> None:
    """A voice is a name (`alloy`, `marin`…) or a custom voice `{"id": "voice_…"}`."""
    if isinstance(value, str) or (isinstance(value, dict) and isinstance(value.get("id"), str)):
        return
    raise SessionConfigError(f"Invalid type for '{param}'.", param=param)


def turn_detection(session: dict[str, Any]) -> TurnDetection | None:
    """The session's turn detection, `None` when the client commits turns itself."""
    raw = ((session.get("audio") or {}).get("input") or {}).get("turn_detection")
    if raw is None:
        return None
    try:
        detection: TurnDetection = msgspec.convert(raw, type=TurnDetection)
        return detection
    except msgspec.ValidationError as e:
        raise SessionConfigError(
            f"Invalid turn detection: {e}", param="session.audio.input.turn_detection"
        ) from e


def input_format(session: dict[str, Any]) -> AudioFormat:
    """The format of `input_audio_buffer.append` audio."""
    return _format(session, "input")


def output_format(session: dict[str, Any]) -> AudioFormat:
    """The format of `response.output_audio.delta` audio."""
    return _format(session, "output")


def voice(session: dict[str, Any]) -> str:
    """The output voice: its name, or the id of a custom voice."""
    value = ((session.get("audio") or {}).get("output") or {}).get("voice", "alloy")
    return str(value["id"]) if isinstance(value, dict) else str(value)


def transcription_enabled(session: dict[str, Any]) -> bool:
    """Whether user audio is transcribed (`audio.input.transcription` set)."""
    return ((session.get("audio") or {}).get("input") or {}).get("transcription") is not None


def _format(session: dict[str, Any], direction: Literal["input", "output"]) -> AudioFormat:
    param = f"session.audio.{direction}.format"
    raw = ((session.get("audio") or {}).get(direction) or {}).get("format") or {"type": "audio/pcm"}
    try:
        fmt = msgspec.convert(raw, type=AudioFormat)
    except msgspec.ValidationError as e:
        raise SessionConfigError(f"Invalid audio format: {e}", param=param) from e
    if fmt.type == "audio/pcm" and fmt.rate not in (None, PCM_RATE):
        raise SessionConfigError(
            f"Invalid 'rate': {fmt.rate}. Supported values are: {PCM_RATE}.", param=f"{param}.rate"
        )
    return fmt


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    for key, value in update.items():
        if key not in _REPLACED_WHOLE and isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base

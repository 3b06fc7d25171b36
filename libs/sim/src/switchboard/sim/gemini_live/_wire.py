"""The BidiGenerateContent wire format: reading client messages and writing server messages.

The real service parses protobuf JSON, which accepts both `lowerCamelCase` and `snake_case` field names, and the
SDK mixes them (top-level `realtime_input`, `mime_type` inside it, `voice_config` inside `speechConfig`).
Client messages are therefore normalised to camelCase, except inside fields that carry caller data (function
arguments and responses, JSON schemas), whose keys belong to the application.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any

Json = dict[str, Any]

CLIENT_MESSAGE_KINDS = frozenset({"setup", "clientContent", "realtimeInput", "toolResponse", "contextUpdate"})
OUTPUT_RATE = 24_000
DEFAULT_INPUT_RATE = 16_000
AUDIO_TOKENS_PER_S = 32
CHARS_PER_TEXT_TOKEN = 4

_OPAQUE_FIELDS = frozenset(
    {"args", "response", "parameters", "parametersJsonSchema", "responseSchema", "responseJsonSchema"}
)
_URL_SAFE = str.maketrans("-_", "+/")
_RATE = re.compile(r"rate\s*=\s*(\d+)")


def camel(key: str) -> str:
    """`snake_case` → `lowerCamelCase`; camelCase keys are returned unchanged."""
    if "_" not in key:
        return key
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def normalise(value: Any) -> Any:
    """A copy of a decoded JSON value with every field name in camelCase (caller data left untouched)."""
    if isinstance(value, dict):
        out: Json = {}
        for key, item in value.items():
            name = camel(key) if isinstance(key, str) else key
            out[name] = item if name in _OPAQUE_FIELDS else normalise(item)
        return out
    if isinstance(value, list):
        return [normalise(item) for item in value]
    return value


def get_path(message: Mapping[str, Any], *path: str) -> Any:
    """`message[path[0]][path[1]]…`, or None where a step is missing or not an object."""
    node: Any = message
    for step in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(step)
    return node


def pcm_rate(mime_type: str | None) -> int:
    """The sample rate declared in `audio/pcm;rate=N` (16 kHz when none is declared, like the service)."""
    match = _RATE.search(mime_type or "")
    return int(match.group(1)) if match else DEFAULT_INPUT_RATE


def decode_bytes(data: str) -> bytes:
    """Protobuf JSON `bytes`: standard or URL-safe base64, padded or not (the SDK sends URL-safe)."""
    text = data.strip().translate(_URL_SAFE)
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def duration(seconds: float) -> str:
    """A protobuf `Duration` in its JSON form, e.g. `"50s"` or `"1.5s"`."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def text_tokens(text: str) -> int:
    """A rough token count for text."""
    return max(1, len(text) // CHARS_PER_TEXT_TOKEN) if text else 0


def audio_tokens(audio_ms: float) -> int:
    """Gemini counts audio at 32 tokens per second."""
    return round(audio_ms * AUDIO_TOKENS_PER_S / 1000)


def without_audio(value: Any) -> Any:
    """A copy of `value` in which audio payloads are replaced by their length, to keep records small."""
    if isinstance(value, dict):
        if "data" in value and str(value.get("mimeType", "")).startswith("audio/"):
            return {"mimeType": value["mimeType"], "dataLength": len(str(value["data"]))}
        return {key: without_audio(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_audio(item) for item in value]
    return value


# Server messages, one builder per message the emulator sends.


def setup_complete() -> Json:
    """The answer to `setup`."""
    return {"setupComplete": {}}


def audio_chunk(pcm: bytes) -> Json:
    """A piece of the model's spoken answer."""
    data = base64.b64encode(pcm).decode("ascii")
    part = {"inlineData": {"mimeType": f"audio/pcm;rate={OUTPUT_RATE}", "data": data}}
    return {"serverContent": {"modelTurn": {"parts": [part]}}}


def text_chunk(text: str) -> Json:
    """A piece of the model's answer when it answers in text."""
    return {"serverContent": {"modelTurn": {"parts": [{"text": text}]}}}


def input_transcription(text: str) -> Json:
    """What the model heard the caller say."""
    return {"serverContent": {"inputTranscription": {"text": text}}}


def output_transcription(text: str) -> Json:
    """A piece of the transcript of the model's own speech."""
    return {"serverContent": {"outputTranscription": {"text": text}}}


def interrupted() -> Json:
    """The caller spoke over the model: the rest of the answer is dropped."""
    return {"serverContent": {"interrupted": True}}


def generation_complete() -> Json:
    """The model has produced its whole answer."""
    return {"serverContent": {"generationComplete": True}}


def turn_complete(usage: Json | None = None) -> Json:
    """The model's turn is over; the client may speak (or has spoken, after an interruption)."""
    message: Json = {"serverContent": {"turnComplete": True}}
    if usage is not None:
        message["usageMetadata"] = usage
    return message


def usage_metadata(
    *, prompt_text: int, prompt_audio: int, response_tokens: int, response_modality: str
) -> Json:
    """`usageMetadata` with the field names of the SDK's `UsageMetadata`."""
    prompt = prompt_text + prompt_audio
    return {
        "promptTokenCount": prompt,
        "responseTokenCount": response_tokens,
        "totalTokenCount": prompt + response_tokens,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": prompt_text},
            {"modality": "AUDIO", "tokenCount": prompt_audio},
        ],
        "responseTokensDetails": [{"modality": response_modality, "tokenCount": response_tokens}],
    }


def tool_call(calls: Iterable[Json]) -> Json:
    """The model asks the client to run functions (`[{id, name, args}]`)."""
    return {"toolCall": {"functionCalls": list(calls)}}


def tool_call_cancellation(ids: Iterable[str]) -> Json:
    """Pending function calls the client should abandon."""
    return {"toolCallCancellation": {"ids": list(ids)}}


def go_away(time_left_s: float) -> Json:
    """The connection will be closed in `time_left_s`."""
    return {"goAway": {"timeLeft": duration(time_left_s)}}


def session_resumption_update(handle: str, *, resumable: bool = True) -> Json:
    """A handle a new connection can pass in `setup.sessionResumption.handle` to carry on this session."""
    return {"sessionResumptionUpdate": {"newHandle": handle, "resumable": resumable}}

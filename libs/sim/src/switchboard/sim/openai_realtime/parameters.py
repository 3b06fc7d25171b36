"""The parameters the GA API knows in `session.update` and `response.create`; anything else is refused.

The GA server answers an unknown field with an `error` event (`invalid_request_error`, code
`unknown_parameter`, `param` naming the field, e.g. `session.modalities`) and applies nothing of the event. A
client written for the beta (flat `input_audio_format: "g711_ulaw"`, `modalities`, `voice` at the top) is
therefore refused, not silently run with PCM16. The trees follow the `openai` SDK's request types
(`RealtimeSessionCreateRequestParam`, `RealtimeResponseCreateParamsParam`); a test checks they still match.
Objects whose inside the emulator does not act on (tools, tracing, prompt…) are not descended into.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A tree of known keys: a key maps to the tree of its object value, or to None when its value is not checked.
KeyTree = Mapping[str, "KeyTree | None"]

_FORMAT: KeyTree = {"type": None, "rate": None}
_TURN_DETECTION: KeyTree = {
    "type": None,
    "threshold": None,
    "prefix_padding_ms": None,
    "silence_duration_ms": None,
    "idle_timeout_ms": None,
    "create_response": None,
    "interrupt_response": None,
    "eagerness": None,
}
_TRANSCRIPTION: KeyTree = {
    "model": None,
    "language": None,
    "languages": None,
    "prompt": None,
    "keywords": None,
    "delay": None,
}
_AUDIO_INPUT: KeyTree = {
    "format": _FORMAT,
    "noise_reduction": {"type": None, "strength": None},
    "transcription": _TRANSCRIPTION,
    "turn_detection": _TURN_DETECTION,
}
_AUDIO_OUTPUT: KeyTree = {"format": _FORMAT, "voice": None, "speed": None}

SESSION_PARAMETERS: KeyTree = {
    "type": None,
    "audio": {"input": _AUDIO_INPUT, "output": _AUDIO_OUTPUT},
    "include": None,
    "instructions": None,
    "max_output_tokens": None,
    "model": None,
    "output_modalities": None,
    "parallel_tool_calls": None,
    "prompt": None,
    "reasoning": None,
    "tool_choice": None,
    "tools": None,
    "tracing": None,
    "truncation": None,
}
"""What `session.update`'s `session` may hold."""

RESPONSE_PARAMETERS: KeyTree = {
    "audio": {"output": {"format": _FORMAT, "voice": None}},
    "conversation": None,
    "input": None,
    "instructions": None,
    "max_output_tokens": None,
    "metadata": None,
    "output_modalities": None,
    "parallel_tool_calls": None,
    "prompt": None,
    "reasoning": None,
    "tool_choice": None,
    "tools": None,
}
"""What `response.create`'s `response` may hold."""


def unknown_parameter(value: Mapping[str, Any], tree: KeyTree, prefix: str) -> str | None:
    """The dotted path of the first key of `value` that `tree` does not know, if any."""
    for key, inner in value.items():
        path = f"{prefix}.{key}"
        if key not in tree:
            return path
        subtree = tree[key]
        if subtree is not None and isinstance(inner, Mapping):
            found = unknown_parameter(inner, subtree, path)
            if found is not None:
                return found
    return None

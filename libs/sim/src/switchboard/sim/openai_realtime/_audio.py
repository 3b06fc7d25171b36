"""Audio on the wire: PCM16 and G.711 (μ-law, A-law) coding, and the reply's voice cut into deltas."""

from __future__ import annotations

import base64
import functools

import numpy as np
import numpy.typing as npt

from switchboard.sim.openai_realtime.session_config import AudioFormat
from switchboard.sim.speech import Voice, synthesize

_MULAW_BIAS = 0x84
_MULAW_CLIP = 32635


def decode(audio_b64: str, fmt: AudioFormat) -> npt.NDArray[np.int16]:
    """Base64 audio in `fmt` to PCM16 samples at `fmt.sample_rate`."""
    raw = base64.b64decode(audio_b64, validate=True)
    if fmt.type == "audio/pcmu":
        return _MULAW_TABLE[np.frombuffer(raw, dtype=np.uint8)]
    if fmt.type == "audio/pcma":
        return _alaw_table()[np.frombuffer(raw, dtype=np.uint8)]
    if len(raw) % 2:
        raw = raw[:-1]
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


def encode(samples: npt.NDArray[np.int16], fmt: AudioFormat) -> bytes:
    """PCM16 samples at `fmt.sample_rate` to wire bytes in `fmt`."""
    if fmt.type == "audio/pcmu":
        return mulaw_encode(samples).tobytes()
    if fmt.type == "audio/pcma":
        return alaw_encode(samples).tobytes()
    return samples.astype("<i2").tobytes()


def mulaw_encode(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.uint8]:
    """G.711 μ-law encoding."""
    pcm = samples.astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), _MULAW_CLIP) + _MULAW_BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    encoded: npt.NDArray[np.uint8] = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return encoded


_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def alaw_encode(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.uint8]:
    """G.711 A-law encoding (the segment search of the ITU reference coder, vectorized)."""
    pcm = samples.astype(np.int32) >> 3
    positive = pcm >= 0
    mask = np.where(positive, 0xD5, 0x55)
    magnitude = np.where(positive, pcm, -pcm - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude, side="left")
    shift = np.where(segment < 2, 1, segment)
    code = (np.minimum(segment, 7) << 4) | ((magnitude >> np.minimum(shift, 7)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    encoded: npt.NDArray[np.uint8] = ((code ^ mask) & 0xFF).astype(np.uint8)
    return encoded


@functools.cache
def _alaw_table() -> npt.NDArray[np.int16]:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (codes & 0x70) >> 4
    value = ((codes & 0x0F) << 4) + np.where(segment == 0, 8, 0x108)
    value = np.where(segment > 1, value << np.maximum(segment - 1, 0), value)
    return np.where(codes & 0x80, value, -value).astype(np.int16)


def _mulaw_table() -> npt.NDArray[np.int16]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


_MULAW_TABLE = _mulaw_table()


def reply_audio(
    text: str, fmt: AudioFormat, *, language: str, engine: Voice, length_ms: int | None
) -> npt.NDArray[np.int16]:
    """The model speaking `text`, at the output format's rate, optionally forced to `length_ms`."""
    return cached_reply_audio(text, fmt.sample_rate, language, engine, length_ms).copy()


@functools.lru_cache(maxsize=64)
def cached_reply_audio(
    text: str, rate: int, language: str, engine: Voice, length_ms: int | None
) -> npt.NDArray[np.int16]:
    """The synthesized line, computed once per (text, rate, language, engine, length): callers copy it."""
    speech = synthesize(text or "mm", rate, language=language, voice=engine)
    if length_ms is None:
        return speech
    target = int(rate * length_ms / 1000)
    if speech.size == 0:
        return np.zeros(target, dtype=np.int16)
    repeats = -(-target // speech.size)
    return np.tile(speech, repeats)[:target]


def duration_ms(samples: int, rate: int) -> float:
    """Milliseconds of `samples` samples at `rate`."""
    return samples * 1000.0 / rate

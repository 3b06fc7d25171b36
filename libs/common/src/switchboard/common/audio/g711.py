"""G.711 μ-law, bit-exact with the reference codec (and with CPython's former `audioop`, width 2).

Both directions are table lookups; the tables are built on first use and shared.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

_BIAS = 0x84
_CLIP = 8159  # largest magnitude μ-law represents, in 14-bit units
_SEGMENT_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
#: Offset that turns a 14-bit sample (`pcm16 >> 2`, -8192 .. 8191) into an index of the encode table.
ENCODE_OFFSET = 8192


@functools.cache
def decode_table() -> npt.NDArray[np.int16]:
    """The PCM16 value of each of the 256 μ-law codes."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((u & 0x0F) << 3) + _BIAS) << ((u & 0x70) >> 4)
    table = np.where(u & 0x80, _BIAS - magnitude, magnitude - _BIAS).astype(np.int16)
    table.flags.writeable = False
    return table


@functools.cache
def decode_table_f32() -> npt.NDArray[np.float32]:
    """`decode_table()` as float32, for the resampling kernels."""
    table = decode_table().astype(np.float32)
    table.flags.writeable = False
    return table


@functools.cache
def encode_table() -> npt.NDArray[np.uint8]:
    """The μ-law code of each 14-bit sample `s`, at index `s + ENCODE_OFFSET`."""
    pcm = np.arange(-ENCODE_OFFSET, ENCODE_OFFSET, dtype=np.int32)
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _CLIP) + (_BIAS >> 2)
    # Segment: the first whose end the magnitude does not exceed; past the last one, the largest code.
    segment = np.searchsorted(np.array(_SEGMENT_ENDS), magnitude)
    code = np.where(segment < 8, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F), 0x7F)
    table = (code ^ mask).astype(np.uint8)
    table.flags.writeable = False
    return table


def ulaw_decode(data: bytes) -> npt.NDArray[np.int16]:
    """μ-law bytes → PCM16 samples (one per byte)."""
    return decode_table()[np.frombuffer(data, dtype=np.uint8)]


def ulaw_encode(samples: npt.NDArray[np.int16]) -> bytes:
    """PCM16 samples → μ-law bytes (one per sample); the input must be int16, so nothing can wrap."""
    samples = np.asarray(samples)
    if samples.dtype != np.int16:
        raise TypeError(f"ulaw_encode takes int16 samples, not {samples.dtype}")
    index = (samples >> 2).astype(np.intp) + ENCODE_OFFSET
    return encode_table()[index].tobytes()

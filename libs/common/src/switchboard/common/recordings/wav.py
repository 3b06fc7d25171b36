"""A recording as a PCM16 stereo WAV file (browsers play PCM WAV everywhere; μ-law WAV not reliably).

The WAV is produced on the fly: a 44-byte header, then each μ-law byte decoded to two bytes of PCM16, so a byte
range of the WAV maps onto a byte range of the stored μ-law.
"""

from __future__ import annotations

import struct

import numpy as np

from switchboard.common.audio.g711 import decode_table
from switchboard.common.recordings.layout import CHANNELS, RATE

HEADER_BYTES = 44
PCM_WIDTH = 2


def wav_size(ulaw_size: int) -> int:
    """The size of the WAV file of `ulaw_size` bytes of stereo μ-law."""
    return HEADER_BYTES + ulaw_size * PCM_WIDTH


def wav_header(ulaw_size: int) -> bytes:
    """The RIFF/WAVE header of a PCM16 stereo 8 kHz file of `ulaw_size` μ-law bytes."""
    data = ulaw_size * PCM_WIDTH
    block = CHANNELS * PCM_WIDTH
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, CHANNELS, RATE, RATE * block, block, 8 * PCM_WIDTH)
        + b"data"
        + struct.pack("<I", data)
    )


def to_pcm16(ulaw: bytes) -> bytes:
    """Stereo μ-law bytes → little-endian PCM16 bytes (interleaving kept)."""
    return decode_table()[np.frombuffer(ulaw, dtype=np.uint8)].astype("<i2").tobytes()

"""How a recording is laid out in the object store; the one contract between the edge that writes it and readers.

A call's recording is a run of objects ``{call_id}/{seq:06d}`` (seq from 0), each holding `CHUNK_BYTES` of
interleaved stereo μ-law at 8 kHz (left: the caller, right: what the caller heard), the last one shorter; then,
once the call ended, ``{call_id}/manifest`` (JSON: chunks, bytes, duration). Each chunk is stored as soon as it
is full, so a recording whose edge died mid-call is readable up to its last stored chunk; a reader finds the
chunks of such a recording by probing names (no listing of the bucket).

Why μ-law at 8 kHz: it is exactly what the phone leg carries (a Twilio call never had more), 1 byte a sample,
16 KB a second for both channels (0.96 MB a minute), decoded by a table lookup.
"""

from __future__ import annotations

import msgspec

RATE = 8000
CHANNELS = 2
FRAME_BYTES = CHANNELS  # one μ-law byte per channel
BYTES_PER_SECOND = RATE * FRAME_BYTES
CHUNK_SECONDS = 4
CHUNK_BYTES = CHUNK_SECONDS * BYTES_PER_SECOND
"""Every chunk but a recording's last holds exactly this much (a reader maps byte offsets to chunks with it)."""
SILENCE = 0xFF
"""μ-law for zero."""


class Manifest(msgspec.Struct, kw_only=True):
    """Written when the recording is complete."""

    chunks: int
    size: int
    """Bytes of stereo μ-law."""
    duration_ms: int
    complete: bool = True
    failed: bool = False
    """Part of it could not be stored (it holds what was stored before the failure)."""


def chunk_name(call_id: str, seq: int) -> str:
    """The object holding chunk `seq` of the call's recording."""
    return f"{call_id}/{seq:06d}"


def manifest_name(call_id: str) -> str:
    """The object describing the finished recording."""
    return f"{call_id}/manifest"


def duration_ms(size: int) -> int:
    """The duration of `size` bytes of stereo μ-law."""
    return size * 1000 // BYTES_PER_SECOND

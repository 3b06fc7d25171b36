"""The audio frame: the one hot-path message, a msgpack array for speed."""

from __future__ import annotations

import msgspec

from switchboard.common.errors import DecodeError

FRAME_SCHEMA_VERSION = 1

MAX_GENERATION_STEP = 64
"""How far above the newest generation seen an agent's next answer may be numbered. Answers that only call
tools have no audio, so numbers can be skipped, but never by this many: a frame or clear further ahead is
forged or broken, and taking it would make every later answer look stale."""


class AudioFrame(msgspec.Struct, array_like=True, gc=False):
    """A chunk of one call's audio in one direction; the format is in the subject.

    `ingest_ns` is the wall-clock time (ns since the epoch) at which the audio entered the platform: set once at
    the edge for caller audio, by the agent for model audio, and carried unchanged through every hop, so any
    stage can observe the latency the platform added. `generation` numbers the agent's responses (0 for caller
    audio): a `Clear` names the generation to drop. `epoch` is the attach epoch of the agent that made the audio
    (0 for caller audio): the edge drops the audio of an agent it has replaced. It comes after `v` so that a
    frame without it still decodes.
    """

    call_id: str
    seq: int
    media_ms: int
    ingest_ns: int
    generation: int
    payload: bytes
    v: int = FRAME_SCHEMA_VERSION
    epoch: int = 0


_VERSION_INDEX = 6


def _newer_version(data: bytes) -> bool:
    """Whether `data` is an array whose `v` names a version after this one."""
    try:
        fields = msgspec.msgpack.decode(data)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return False
    if not isinstance(fields, list) or len(fields) <= _VERSION_INDEX:
        return False
    version = fields[_VERSION_INDEX]
    return isinstance(version, int) and not isinstance(version, bool) and version > FRAME_SCHEMA_VERSION


class FrameCodec:
    """Encodes and decodes audio frames; decoding rejects wrong shapes and unknown versions."""

    __slots__ = ("_decoder", "_encoder")

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(AudioFrame)

    def encode(self, frame: AudioFrame) -> bytes:
        """The msgpack bytes of `frame`."""
        return self._encoder.encode(frame)

    def decode(self, data: bytes) -> AudioFrame:
        """The frame in `data`; raises `DecodeError` (not retryable) on anything else."""
        try:
            frame = self._decoder.decode(data)
        except msgspec.DecodeError as exc:
            if _newer_version(data):  # its fields after `v` may not be ours
                raise DecodeError(
                    "unsupported audio frame version (newer)", code="unsupported_version"
                ) from exc
            raise DecodeError(f"malformed audio frame: {exc}") from exc
        except (RecursionError, UnicodeDecodeError) as exc:  # nested too deep for the stack, or not UTF-8
            raise DecodeError(f"malformed audio frame: {type(exc).__name__}") from exc
        if frame.v != FRAME_SCHEMA_VERSION:
            raise DecodeError(f"unsupported audio frame version {frame.v}", code="unsupported_version")
        return frame

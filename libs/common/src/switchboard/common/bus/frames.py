"""The audio frame: the one hot-path message, a msgpack array for speed."""

from __future__ import annotations

import msgspec

from switchboard.common.errors import DecodeError

FRAME_SCHEMA_VERSION = 1


class AudioFrame(msgspec.Struct, array_like=True, gc=False):
    """A chunk of one call's audio in one direction; the format is in the subject.

    `ingest_ns` is the wall-clock time (ns since the epoch) at which the audio entered the platform: set once at
    the edge for caller audio, by the agent for model audio, and carried unchanged through every hop, so any
    stage can observe the latency the platform added. `generation` numbers the agent's responses (0 for caller
    audio): a `Clear` names the generation to drop.
    """

    call_id: str
    seq: int
    media_ms: int
    ingest_ns: int
    generation: int
    payload: bytes
    v: int = FRAME_SCHEMA_VERSION


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
            raise DecodeError(f"malformed audio frame: {exc}") from exc
        except RecursionError as exc:  # nested deeper than the interpreter's stack
            raise DecodeError("malformed audio frame: nested too deep") from exc
        if frame.v != FRAME_SCHEMA_VERSION:
            raise DecodeError(f"unsupported audio frame version {frame.v}", code="unsupported_version")
        return frame

"""Encoding and decoding of control messages and events."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

from switchboard.common.bus.messages import MESSAGE_SCHEMA_VERSION, Control, Event
from switchboard.common.errors import DecodeError

T = TypeVar("T")


class MessageCodec(Generic[T]):
    """msgpack codec of one message union; decoding rejects wrong shapes and newer major versions."""

    __slots__ = ("_decoder", "_encoder")

    def __init__(self, union: type[T]) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[T] = msgspec.msgpack.Decoder(union)

    def encode(self, message: T) -> bytes:
        """The msgpack bytes of `message`."""
        return self._encoder.encode(message)

    def decode(self, data: bytes) -> T:
        """The message in `data`; raises `DecodeError` (not retryable) on anything else."""
        try:
            message = self._decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise DecodeError(f"malformed message: {exc}") from exc
        except (RecursionError, UnicodeDecodeError) as exc:  # nested too deep for the stack, or not UTF-8
            raise DecodeError(f"malformed message: {type(exc).__name__}") from exc
        version = getattr(message, "v", MESSAGE_SCHEMA_VERSION)
        if version != MESSAGE_SCHEMA_VERSION:
            raise DecodeError(f"unsupported message version {version}", code="unsupported_version")
        return message


def control_codec() -> MessageCodec[Control]:
    """Codec of the control union."""
    return MessageCodec(Control)  # type: ignore[arg-type]  # a union is a valid msgspec type


def event_codec() -> MessageCodec[Event]:
    """Codec of the event union."""
    return MessageCodec(Event)  # type: ignore[arg-type]  # a union is a valid msgspec type

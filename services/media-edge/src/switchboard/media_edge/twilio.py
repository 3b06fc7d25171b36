"""Twilio Media Streams messages: what Twilio sends (decoded strictly) and what the edge sends back.

Twilio sends JSON text frames tagged by `event`; numbers arrive as strings. Decoding goes through one msgspec
decoder of the tagged union, and a message that does not fit is classified (malformed JSON, unknown event,
wrong shape) so it can be counted by reason.
"""

from __future__ import annotations

from typing import Final

import msgspec

DTMF_DIGITS: Final = frozenset("0123456789*#ABCD")


class _Inbound(msgspec.Struct, tag_field="event", rename="camel", kw_only=True):
    sequence_number: str | int = ""
    stream_sid: str = ""


class Connected(_Inbound, tag="connected"):
    """The first message of a stream (no stream SID yet)."""

    protocol: str = ""
    version: str = ""


class MediaFormat(msgspec.Struct, rename="camel"):
    """The caller audio's format (always μ-law at 8 kHz, mono)."""

    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


class StartBody(msgspec.Struct, rename="camel", kw_only=True):
    """The stream's metadata and the TwiML `<Parameter>`s."""

    stream_sid: str
    account_sid: str = ""
    call_sid: str = ""
    tracks: list[str] = msgspec.field(default_factory=list)
    custom_parameters: dict[str, str] = msgspec.field(default_factory=dict)
    media_format: MediaFormat = msgspec.field(default_factory=MediaFormat)


class Start(_Inbound, tag="start"):
    """Sent once, after `connected`."""

    start: StartBody


class MediaBody(msgspec.Struct, rename="camel", kw_only=True):
    """One chunk of caller audio; `chunk` and `timestamp` are decimal strings."""

    payload: str
    chunk: str | int = "0"
    timestamp: str | int = "0"
    track: str = "inbound"


class Media(_Inbound, tag="media"):
    """Caller audio, every 20 ms."""

    media: MediaBody


class DtmfBody(msgspec.Struct, rename="camel", kw_only=True):
    """A key press."""

    digit: str
    track: str = ""


class Dtmf(_Inbound, tag="dtmf"):
    """The caller pressed a key."""

    dtmf: DtmfBody


class MarkBody(msgspec.Struct):
    """The name the edge gave a mark."""

    name: str


class Mark(_Inbound, tag="mark"):
    """The echo of a mark: the audio sent before it has played (or was cleared)."""

    mark: MarkBody


class StopBody(msgspec.Struct, rename="camel", kw_only=True):
    """Whose stream ended."""

    account_sid: str = ""
    call_sid: str = ""


class Stop(_Inbound, tag="stop"):
    """The last message: the stream is over."""

    stop: StopBody = msgspec.field(default_factory=StopBody)


Inbound = Connected | Start | Media | Dtmf | Mark | Stop
KNOWN_EVENTS: Final = frozenset({"connected", "start", "media", "dtmf", "mark", "stop"})


class MalformedMessage(Exception):
    """A text frame that is not a valid Twilio message; `reason` is a short stable label for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class InboundDecoder:
    """Decodes Twilio's text frames; raises `MalformedMessage` naming why one is not valid."""

    __slots__ = ("_decoder", "_generic")

    def __init__(self) -> None:
        self._decoder: msgspec.json.Decoder[Inbound] = msgspec.json.Decoder(Inbound)
        self._generic = msgspec.json.Decoder()

    def decode(self, text: str | bytes) -> Inbound:
        """The message in `text`; raises only `MalformedMessage`, whatever `text` holds."""
        try:
            return self._decoder.decode(text)
        except msgspec.DecodeError as exc:
            raise self._classify(text, exc) from exc
        except (RecursionError, UnicodeDecodeError) as exc:  # nested too deep for the stack, or not UTF-8
            raise MalformedMessage(
                "too_deep" if isinstance(exc, RecursionError) else "malformed_json", type(exc).__name__
            ) from exc

    def _classify(self, text: str | bytes, exc: msgspec.DecodeError) -> MalformedMessage:
        try:
            data = self._generic.decode(text)
        except msgspec.DecodeError:
            return MalformedMessage("malformed_json", str(exc))
        except RecursionError:
            return MalformedMessage("too_deep", "nested too deep")
        except UnicodeDecodeError:
            return MalformedMessage("malformed_json", "not UTF-8")
        if not isinstance(data, dict):
            return MalformedMessage("not_an_object", type(data).__name__)
        event = data.get("event")
        if not isinstance(event, str) or event not in KNOWN_EVENTS:
            return MalformedMessage("unknown_event", repr(event)[:64])
        return MalformedMessage("invalid_message", str(exc)[:200])


def to_int(value: str | int) -> int:
    """A number Twilio sent as a decimal string (or, leniently, as a number); raises ValueError."""
    if isinstance(value, int):
        return value
    if not value.isdigit():
        raise ValueError(f"not a decimal number: {value[:32]!r}")
    return int(value)


# Edge → Twilio.


class _Outbound(msgspec.Struct, tag_field="event", rename="camel"):
    stream_sid: str


class MediaPayload(msgspec.Struct):
    """Base64 μ-law at 8 kHz, no header."""

    payload: str


class OutboundMedia(_Outbound, tag="media"):
    """Audio for Twilio to queue and play in order."""

    media: MediaPayload


class OutboundMark(_Outbound, tag="mark"):
    """Echo `name` once everything queued before this mark has played."""

    mark: MarkBody


class OutboundClear(_Outbound, tag="clear"):
    """Drop the queued audio (and echo every pending mark at once)."""


class OutboundEncoder:
    """Text frames for one stream."""

    __slots__ = ("_encoder", "stream_sid")

    def __init__(self, stream_sid: str) -> None:
        self.stream_sid = stream_sid
        self._encoder = msgspec.json.Encoder()

    def media(self, payload_b64: str) -> str:
        """A `media` message."""
        return self._encoder.encode(OutboundMedia(self.stream_sid, MediaPayload(payload_b64))).decode()

    def mark(self, name: str) -> str:
        """A `mark` message."""
        return self._encoder.encode(OutboundMark(self.stream_sid, MarkBody(name))).decode()

    def clear(self) -> str:
        """A `clear` message."""
        return self._encoder.encode(OutboundClear(self.stream_sid)).decode()

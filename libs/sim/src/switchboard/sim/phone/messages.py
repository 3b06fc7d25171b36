"""The JSON messages of a Twilio Media Stream, from the phone's side.

Twilio → server messages are typed dicts built here and nowhere else; every number in them is a string, as
Twilio sends it. Server → Twilio messages (`media`, `mark`, `clear`) are parsed and checked by
`parse_server_message`, which raises `ProtocolViolation` where Twilio would log an error.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

SAMPLE_RATE = 8000
FRAME_SAMPLES = 160
FRAME_MS = 20
TRACK = "inbound"
DTMF_TRACK = "inbound_track"
DTMF_DIGITS = frozenset("0123456789*#ABCD")


class ConnectedMessage(TypedDict):
    """`connected`: the first message, before the stream has a SID."""

    event: Literal["connected"]
    protocol: Literal["Call"]
    version: Literal["1.0.0"]


class MediaFormat(TypedDict):
    """The audio format announced in `start`."""

    encoding: Literal["audio/x-mulaw"]
    sampleRate: int
    channels: int


class StartBody(TypedDict):
    """The stream's metadata."""

    streamSid: str
    accountSid: str
    callSid: str
    tracks: list[str]
    customParameters: dict[str, str]
    mediaFormat: MediaFormat


class StartMessage(TypedDict):
    """`start`: sent once, right after `connected`."""

    event: Literal["start"]
    sequenceNumber: str
    streamSid: str
    start: StartBody


class MediaBody(TypedDict):
    """One 20 ms chunk of the caller's audio."""

    track: str
    chunk: str
    timestamp: str
    payload: str


class MediaMessage(TypedDict):
    """`media`: caller audio, one every 20 ms."""

    event: Literal["media"]
    sequenceNumber: str
    streamSid: str
    media: MediaBody


class DtmfBody(TypedDict):
    """A key the caller pressed."""

    track: str
    digit: str


class DtmfMessage(TypedDict):
    """`dtmf`: a key press."""

    event: Literal["dtmf"]
    streamSid: str
    sequenceNumber: str
    dtmf: DtmfBody


class MarkBody(TypedDict):
    """The name the server gave the mark."""

    name: str


class MarkMessage(TypedDict):
    """`mark`: the echo of a server mark once the audio before it has played (or was cleared)."""

    event: Literal["mark"]
    streamSid: str
    sequenceNumber: str
    mark: MarkBody


class StopBody(TypedDict):
    """Who the stream belonged to."""

    accountSid: str
    callSid: str


class StopMessage(TypedDict):
    """`stop`: the last message; the socket closes after it."""

    event: Literal["stop"]
    streamSid: str
    sequenceNumber: str
    stop: StopBody


PhoneMessage = ConnectedMessage | StartMessage | MediaMessage | DtmfMessage | MarkMessage | StopMessage


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class StreamIdentity:
    """The SIDs of one simulated call, shaped like Twilio's (two letters and 32 hex digits)."""

    account_sid: str = field(default_factory=lambda: _sid("AC"))
    call_sid: str = field(default_factory=lambda: _sid("CA"))
    stream_sid: str = field(default_factory=lambda: _sid("MZ"))


def connected() -> ConnectedMessage:
    """The `connected` message."""
    return {"event": "connected", "protocol": "Call", "version": "1.0.0"}


def start(sequence: int, ids: StreamIdentity, custom_parameters: dict[str, str]) -> StartMessage:
    """The `start` message."""
    return {
        "event": "start",
        "sequenceNumber": str(sequence),
        "streamSid": ids.stream_sid,
        "start": {
            "streamSid": ids.stream_sid,
            "accountSid": ids.account_sid,
            "callSid": ids.call_sid,
            "tracks": [TRACK],
            "customParameters": dict(custom_parameters),
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": SAMPLE_RATE, "channels": 1},
        },
    }


def media(sequence: int, stream_sid: str, chunk: int, timestamp_ms: int, payload: str) -> MediaMessage:
    """A `media` message; `payload` is already base64 (possibly deliberately broken)."""
    return {
        "event": "media",
        "sequenceNumber": str(sequence),
        "streamSid": stream_sid,
        "media": {"track": TRACK, "chunk": str(chunk), "timestamp": str(timestamp_ms), "payload": payload},
    }


def dtmf(sequence: int, stream_sid: str, digit: str) -> DtmfMessage:
    """A `dtmf` message."""
    return {
        "event": "dtmf",
        "streamSid": stream_sid,
        "sequenceNumber": str(sequence),
        "dtmf": {"track": DTMF_TRACK, "digit": digit},
    }


def mark(sequence: int, stream_sid: str, name: str) -> MarkMessage:
    """A `mark` echo."""
    return {"event": "mark", "streamSid": stream_sid, "sequenceNumber": str(sequence), "mark": {"name": name}}


def stop(sequence: int, ids: StreamIdentity) -> StopMessage:
    """The `stop` message."""
    return {
        "event": "stop",
        "streamSid": ids.stream_sid,
        "sequenceNumber": str(sequence),
        "stop": {"accountSid": ids.account_sid, "callSid": ids.call_sid},
    }


def encode(message: PhoneMessage) -> str:
    """The text frame for a message."""
    return json.dumps(message, separators=(",", ":"))


# Server → Twilio.


class ProtocolViolation(Exception):
    """A server message Twilio would reject; `kind` is a short stable name for counting."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ServerMedia:
    """Audio to append to the playout buffer (μ-law bytes, base64 already decoded)."""

    stream_sid: str
    audio: bytes


@dataclass(frozen=True, slots=True)
class ServerMark:
    """A mark to echo once the audio queued before it has played."""

    stream_sid: str
    name: str


@dataclass(frozen=True, slots=True)
class ServerClear:
    """Drop the buffered audio and echo every pending mark."""

    stream_sid: str


ServerMessage = ServerMedia | ServerMark | ServerClear


def parse_server_message(text: str) -> ServerMessage:
    """Parse one text frame from the server; raises `ProtocolViolation` when it is not a valid message."""
    try:
        data: Any = json.loads(text)
    except ValueError as e:
        raise ProtocolViolation("malformed_json", str(e)) from e
    if not isinstance(data, dict):
        raise ProtocolViolation("not_an_object", type(data).__name__)
    event = data.get("event")
    stream_sid = data.get("streamSid")
    if not isinstance(stream_sid, str):
        raise ProtocolViolation("missing_stream_sid", f"event {event!r}")
    if event == "media":
        payload = _body(data, "media").get("payload")
        if not isinstance(payload, str):
            raise ProtocolViolation("missing_payload", "media without media.payload")
        try:
            audio = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as e:
            raise ProtocolViolation("bad_base64", str(e)) from e
        return ServerMedia(stream_sid, audio)
    if event == "mark":
        name = _body(data, "mark").get("name")
        if not isinstance(name, str):
            raise ProtocolViolation("missing_mark_name", "mark without mark.name")
        return ServerMark(stream_sid, name)
    if event == "clear":
        return ServerClear(stream_sid)
    raise ProtocolViolation("unknown_event", repr(event))


def _body(data: dict[str, Any], key: str) -> dict[str, Any]:
    body = data.get(key)
    if not isinstance(body, dict):
        raise ProtocolViolation(f"missing_{key}", f"{key} message without a {key!r} object")
    return body

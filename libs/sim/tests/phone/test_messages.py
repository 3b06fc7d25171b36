from __future__ import annotations

import json

import pytest

from switchboard.sim.phone import messages
from switchboard.sim.phone.messages import (
    ProtocolViolation,
    ServerClear,
    ServerMark,
    ServerMedia,
    StreamIdentity,
    parse_server_message,
)

pytestmark = pytest.mark.unit


def test_sids_look_like_twilio_sids() -> None:
    ids = StreamIdentity()
    for sid, prefix in ((ids.account_sid, "AC"), (ids.call_sid, "CA"), (ids.stream_sid, "MZ")):
        assert sid.startswith(prefix) and len(sid) == 34
        int(sid[2:], 16)
    assert StreamIdentity() != ids


def test_encoded_messages_are_compact_json() -> None:
    text = messages.encode(messages.mark(7, "MZ1", "m"))
    assert text == '{"event":"mark","streamSid":"MZ1","sequenceNumber":"7","mark":{"name":"m"}}'


def test_server_messages_parse() -> None:
    assert parse_server_message(
        '{"event":"media","streamSid":"MZ1","media":{"payload":"/w=="}}'
    ) == ServerMedia("MZ1", b"\xff")
    assert parse_server_message('{"event":"mark","streamSid":"MZ1","mark":{"name":"x"}}') == ServerMark(
        "MZ1", "x"
    )
    assert parse_server_message('{"event":"clear","streamSid":"MZ1"}') == ServerClear("MZ1")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("{not json", "malformed_json"),
        ("[1]", "not_an_object"),
        ('{"event":"clear"}', "missing_stream_sid"),
        ('{"event":"media","streamSid":"MZ1"}', "missing_media"),
        ('{"event":"media","streamSid":"MZ1","media":{}}', "missing_payload"),
        ('{"event":"media","streamSid":"MZ1","media":{"payload":"@@@"}}', "bad_base64"),
        ('{"event":"mark","streamSid":"MZ1","mark":{"name":3}}', "missing_mark_name"),
        ('{"event":"dance","streamSid":"MZ1"}', "unknown_event"),
    ],
)
def test_invalid_server_messages_are_violations(text: str, kind: str) -> None:
    with pytest.raises(ProtocolViolation) as caught:
        parse_server_message(text)
    assert caught.value.kind == kind


def test_start_message_shape() -> None:
    ids = StreamIdentity(account_sid="AC1", call_sid="CA1", stream_sid="MZ1")
    assert json.loads(messages.encode(messages.start(1, ids, {"k": "v"}))) == {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": "MZ1",
        "start": {
            "streamSid": "MZ1",
            "accountSid": "AC1",
            "callSid": "CA1",
            "tracks": ["inbound"],
            "customParameters": {"k": "v"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }

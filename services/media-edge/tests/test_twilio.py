import json

import pytest

from switchboard.media_edge.twilio import (
    Dtmf,
    InboundDecoder,
    MalformedMessage,
    Mark,
    Media,
    OutboundEncoder,
    Start,
    Stop,
    to_int,
)

pytestmark = pytest.mark.unit

DECODER = InboundDecoder()


def test_twilio_messages_decode_with_numbers_as_strings() -> None:
    start = DECODER.decode(
        json.dumps(
            {
                "event": "start",
                "sequenceNumber": "1",
                "streamSid": "MZ1",
                "start": {
                    "streamSid": "MZ1",
                    "accountSid": "AC1",
                    "callSid": "CA1",
                    "tracks": ["inbound"],
                    "customParameters": {"call_id": "c-1", "token": "t"},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
    )
    assert isinstance(start, Start)
    assert start.start.call_sid == "CA1"
    assert start.start.custom_parameters == {"call_id": "c-1", "token": "t"}
    media = DECODER.decode(
        '{"event":"media","sequenceNumber":"3","streamSid":"MZ1",'
        '"media":{"track":"inbound","chunk":"2","timestamp":"20","payload":"/w=="}}'
    )
    assert isinstance(media, Media)
    assert (to_int(media.media.chunk), to_int(media.media.timestamp)) == (2, 20)
    assert isinstance(DECODER.decode('{"event":"mark","streamSid":"MZ1","mark":{"name":"1:20:1"}}'), Mark)
    assert isinstance(DECODER.decode('{"event":"dtmf","streamSid":"MZ1","dtmf":{"digit":"5"}}'), Dtmf)
    assert isinstance(DECODER.decode('{"event":"stop","streamSid":"MZ1","stop":{"callSid":"CA1"}}'), Stop)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "malformed_json"),
        ("[1, 2]", "not_an_object"),
        ('{"event": "hello"}', "unknown_event"),
        ("{}", "unknown_event"),
        ('{"event": "media", "streamSid": "MZ1"}', "invalid_message"),
        ('{"event": "media", "media": {"payload": 5}}', "invalid_message"),
    ],
)
def test_bad_messages_are_classified(text: str, reason: str) -> None:
    with pytest.raises(MalformedMessage) as caught:
        DECODER.decode(text)
    assert caught.value.reason == reason


def test_numbers_must_be_decimal() -> None:
    assert to_int("0042") == 42
    assert to_int(7) == 7
    for bad in ("-1", "1.5", "", "x"):
        with pytest.raises(ValueError):
            to_int(bad)


def test_outbound_messages_are_exactly_what_twilio_expects() -> None:
    encoder = OutboundEncoder("MZ9")
    assert json.loads(encoder.media("AAAA")) == {
        "event": "media",
        "streamSid": "MZ9",
        "media": {"payload": "AAAA"},
    }
    assert json.loads(encoder.mark("1:20:3")) == {
        "event": "mark",
        "streamSid": "MZ9",
        "mark": {"name": "1:20:3"},
    }
    assert json.loads(encoder.clear()) == {"event": "clear", "streamSid": "MZ9"}

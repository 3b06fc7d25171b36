"""Whatever a text frame holds, the inbound decoder returns a Twilio message or raises `MalformedMessage`."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.media_edge.twilio import KNOWN_EVENTS, Inbound, InboundDecoder, MalformedMessage

pytestmark = pytest.mark.unit

DECODER = InboundDecoder()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)
events = st.sampled_from(sorted(KNOWN_EVENTS)) | json_values
bodies = st.dictionaries(
    st.sampled_from(["media", "start", "mark", "dtmf", "stop", "streamSid", "sequenceNumber", "x"]),
    json_values,
    max_size=4,
)


def _decode(text: str | bytes) -> Inbound | None:
    try:
        return DECODER.decode(text)
    except MalformedMessage as exc:
        assert exc.reason and isinstance(exc.detail, str)
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_text_decodes_or_is_malformed(text: str | bytes) -> None:
    _decode(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, bodies)
def test_any_json_object_with_any_event_decodes_or_is_malformed(
    event: object, body: dict[str, object]
) -> None:
    _decode(json.dumps({"event": event, **body}))


@pytest.mark.parametrize("depth", [100, 1_000, 100_000])
@pytest.mark.parametrize("where", ["top", "event", "media"])
def test_nesting_of_any_depth_is_malformed(depth: int, where: str) -> None:
    nested = "[" * depth + "]" * depth
    text = {
        "top": nested,
        "event": '{"event":' + nested + "}",
        "media": '{"event":"media","streamSid":"MZ1","media":' + nested + "}",
    }[where]
    with pytest.raises(MalformedMessage):
        DECODER.decode(text)


@pytest.mark.parametrize("text", ['{"event":["media"]}', '{"event":{"media":1}}', '{"event":null}'])
def test_an_event_that_is_not_a_string_is_an_unknown_event(text: str) -> None:
    with pytest.raises(MalformedMessage) as raised:
        DECODER.decode(text)
    assert raised.value.reason == "unknown_event"

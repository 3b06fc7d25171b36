import msgspec
import pytest

from switchboard.common.bus.codec import control_codec, event_codec
from switchboard.common.bus.messages import (
    BargeIn,
    CallEnded,
    Clear,
    ComponentAttached,
    Hangup,
    Playout,
    ToolCalled,
    TranscriptTurn,
)
from switchboard.common.errors import DecodeError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "message", [Clear(generation=4), Playout(generation=4, played_ms=1234, final=True), Hangup(reason="done")]
)
def test_control_messages_round_trip(message: object) -> None:
    codec = control_codec()
    assert codec.decode(codec.encode(message)) == message  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "event",
    [
        TranscriptTurn(role="caller", text="hola, soy Juan"),
        ToolCalled(name="end_call", arguments={"reason": "done"}, result={"ok": True}),
        ComponentAttached(component="transcoder", instance="t-1", detail={"routes": ["in:pcmu8k>pcm24k"]}),
        BargeIn(generation=2, played_ms=800),
        CallEnded(reason="caller_hangup", duration_s=31.5),
    ],
)
def test_events_round_trip(event: object) -> None:
    codec = event_codec()
    assert codec.decode(codec.encode(event)) == event  # type: ignore[arg-type]


def test_the_type_tag_names_the_subject_token() -> None:
    assert Clear.type_name() == "clear"
    assert CallEnded.type_name() == "ended"


def test_unknown_type_and_newer_version_are_refused() -> None:
    codec = control_codec()
    with pytest.raises(DecodeError):
        codec.decode(msgspec.msgpack.encode({"type": "self_destruct"}))
    with pytest.raises(DecodeError) as caught:
        codec.decode(msgspec.msgpack.encode({"type": "clear", "generation": 1, "v": 9}))
    assert caught.value.code == "unsupported_version"


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    codec = control_codec()
    decoded = codec.decode(msgspec.msgpack.encode({"type": "clear", "generation": 1, "added_later": True}))
    assert decoded == Clear(generation=1, ts_ns=decoded.ts_ns)

"""Whatever bytes arrive on the bus, every decoder returns its message or raises `DecodeError`."""

from collections.abc import Callable

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.common.bus.attach import AttachRequest, decode_reply, decode_request
from switchboard.common.bus.codec import control_codec, event_codec
from switchboard.common.bus.frames import AudioFrame, FrameCodec
from switchboard.common.errors import DecodeError

pytestmark = pytest.mark.unit

DECODERS: dict[str, Callable[[bytes], object]] = {
    "frame": FrameCodec().decode,
    "control": control_codec().decode,
    "event": event_codec().decode,
    "attach_request": decode_request,
    "attach_reply": decode_reply,
}

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=16)
    | st.binary(max_size=16),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=40,
)
tags = st.sampled_from(
    ["clear", "playout", "hangup", "heartbeat", "transcript", "attached", "error", "ended", "status", "x"]
)


def _decodes_or_refuses(decode: Callable[[bytes], object], data: bytes) -> None:
    try:
        decode(data)
    except DecodeError as exc:
        assert not exc.retryable


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(DECODERS)), st.binary(max_size=300))
def test_any_bytes_decode_or_are_refused(kind: str, data: bytes) -> None:
    _decodes_or_refuses(DECODERS[kind], data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(DECODERS)), values)
def test_any_msgpack_value_decodes_or_is_refused(kind: str, value: object) -> None:
    _decodes_or_refuses(DECODERS[kind], msgspec.msgpack.encode(value))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(DECODERS)), tags, st.dictionaries(st.text(max_size=12), values, max_size=6))
def test_any_tagged_map_decodes_or_is_refused(kind: str, tag: str, fields: dict[str, object]) -> None:
    _decodes_or_refuses(DECODERS[kind], msgspec.msgpack.encode({"type": tag, **fields}))


@pytest.mark.parametrize("kind", sorted(DECODERS))
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_nesting_of_any_depth_is_refused(kind: str, depth: int) -> None:
    data = b"\x91" * depth + b"\xc0"  # [[[...[nil]...]]]
    with pytest.raises(DecodeError):
        DECODERS[kind](data)
    # The same nesting inside the `detail` map of an otherwise valid `attached` event.
    prefix = b"\x84\xa4type\xa8attached\xa9component\xa1x\xa8instance\xa1y\xa6detail\x81\xa1a"
    with pytest.raises(DecodeError):
        DECODERS[kind](prefix + b"\x91" * depth + b"\xc0")


@settings(deadline=None)
@given(
    st.builds(
        AudioFrame,
        call_id=st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True),
        seq=st.integers(0, 2**32),
        media_ms=st.integers(0, 2**32),
        ingest_ns=st.integers(0, 2**63 - 1),
        generation=st.integers(0, 2**40),
        payload=st.binary(max_size=64),
    )
)
def test_frames_round_trip(frame: AudioFrame) -> None:
    codec = FrameCodec()
    assert codec.decode(codec.encode(frame)) == frame


@pytest.mark.parametrize("call_id", ["", "a.b", "*", ">", "a b", "ünï"])
def test_an_attach_request_for_a_call_id_that_is_not_a_subject_token_is_refused(call_id: str) -> None:
    with pytest.raises(DecodeError):
        decode_request(msgspec.msgpack.encode(AttachRequest(call_id=call_id)))

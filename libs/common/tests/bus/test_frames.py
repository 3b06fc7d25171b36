import msgspec
import pytest

from switchboard.common.bus.frames import AudioFrame, FrameCodec
from switchboard.common.errors import DecodeError

pytestmark = pytest.mark.unit


def test_frame_round_trip_keeps_every_field() -> None:
    codec = FrameCodec()
    frame = AudioFrame("call-1", 42, 840, 1_700_000_000_123_456_789, 3, bytes(range(160)))
    assert codec.decode(codec.encode(frame)) == frame


def test_a_frame_of_a_newer_version_with_extra_fields_is_refused_clearly() -> None:
    codec = FrameCodec()
    data = msgspec.msgpack.encode(["c", 1, 20, 5, 0, b"x", 2, "new field"])
    with pytest.raises(DecodeError) as caught:
        codec.decode(data)
    assert caught.value.code == "unsupported_version"
    assert not caught.value.retryable


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        b"not msgpack at all",
        msgspec.msgpack.encode({"call_id": "c"}),
        msgspec.msgpack.encode(["c", "x"]),
    ],
)
def test_malformed_frames_raise_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        FrameCodec().decode(data)

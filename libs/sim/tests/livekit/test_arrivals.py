from __future__ import annotations

import pytest
from aiortc.rtp import RtpPacket

from switchboard.sim.livekit.arrivals import ForwardingJitterBuffer, PacketArrivals

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def packet(sequence: int, timestamp: int) -> RtpPacket:
    rtp = RtpPacket(payload_type=111, sequence_number=sequence, timestamp=timestamp)
    rtp._data = bytes([sequence % 256])  # type: ignore[attr-defined]  # what aiortc's depayloader sets
    return rtp


def test_each_packet_is_a_frame_at_once_and_stamped_with_its_arrival() -> None:
    clock = FakeClock()
    buffer = ForwardingJitterBuffer(16, PacketArrivals(clock))
    _, first = buffer.add(packet(10, 960))
    clock.now = 100.02
    _, second = buffer.add(packet(11, 1920))
    assert first is not None and second is not None
    assert (first.timestamp, first.data, second.timestamp) == (960, b"\x0a", 1920)
    first.timestamp, second.timestamp = 0, 960  # aiortc rebases the timestamps before decoding
    assert buffer.arrivals.when(0) == 100.0 and buffer.arrivals.when(960) == 100.02
    assert buffer.arrivals.when(1920) is None and buffer.arrivals.when(None) is None


def test_a_late_or_repeated_packet_is_dropped_and_sequence_numbers_wrap() -> None:
    buffer = ForwardingJitterBuffer(16, PacketArrivals(FakeClock()))
    assert buffer.add(packet(65535, 0))[1] is not None
    assert buffer.add(packet(65535, 0))[1] is None
    assert buffer.add(packet(65534, 0))[1] is None
    assert buffer.add(packet(0, 960))[1] is not None

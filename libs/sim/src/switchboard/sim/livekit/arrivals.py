"""When each packet of a published audio track reached the server: the moment it was on the SIP side of a call.

A real LiveKit server forwards a packet to the SIP service as it arrives; what the caller hears after that is the
network's and the gateway's doing, not the publisher's. The SIP phone uses these times to tell audio that was
already delivered when the agent's side flushed (in flight, heard regardless) from audio that reached the server
afterwards (sent after the flush, or never flushed).

`ForwardingJitterBuffer` replaces aiortc's jitter buffer on the server's receivers and notes the time at which each
packet arrived. aiortc then rebases the frame's RTP timestamp in place and hands it to its decoder, which gives the
decoded frame that timestamp as `pts`: `PacketArrivals.when(pts)` finds the frame again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

_HALF_SEQUENCE = 1 << 15
_KEPT = 512  # about ten seconds of 20 ms frames: far more than is ever between the server and the phone


class PacketArrivals:
    """The arrival times (monotonic clock) of a track's most recent encoded frames."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._recent: deque[tuple[JitterFrame, float]] = deque(maxlen=_KEPT)

    def arrived(self, frame: JitterFrame) -> None:
        """`frame` reached the server now."""
        self._recent.append((frame, self._clock()))

    def when(self, pts: int | None) -> float | None:
        """When the frame decoded with `pts` reached the server; None when it is not (or no longer) known."""
        if pts is None:
            return None
        for frame, at in reversed(self._recent):
            if frame.timestamp == pts:
                return at
        return None


class ForwardingJitterBuffer(JitterBuffer):
    """Hands each audio packet on as a frame the moment it arrives, as an SFU forwards it, and notes when.

    aiortc's own buffer releases a frame only once the next frame's first packet is in (and by default holds four
    back for reordering): 20 to 100 ms that the real path does not have. An Opus packet is a whole frame, so none
    of that is needed; a packet older than the newest one seen (reordered or repeated) is dropped.
    """

    def __init__(self, capacity: int, arrivals: PacketArrivals) -> None:
        super().__init__(capacity=capacity, prefetch=0)
        self.arrivals = arrivals
        self._newest: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        """The packet as a frame, stamped with the time it arrived (None for a stale packet)."""
        sequence = packet.sequence_number
        if self._newest is not None and not 0 < uint16_add(sequence, -self._newest) < _HALF_SEQUENCE:
            return False, None
        self._newest = sequence
        frame = JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]  # set by aiortc's depayloader
        self.arrivals.arrived(frame)
        return False, frame

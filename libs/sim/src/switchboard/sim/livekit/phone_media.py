"""The SIP phone's media, at telephony quality: 8 kHz μ-law on the phone's side of the gateway.

`Microphone` is an aiortc track fed every 20 ms by the phone's pacer (silence when the caller says nothing), so
the caller's timeline runs whether or not anyone listens. `Earpiece` reads a subscribed track, brings it down to
8 kHz μ-law and plays it through the Twilio phone's `PlayoutBuffer`, so the same reports come out.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from switchboard.common.audio.g711 import ulaw_encode
from switchboard.sim.livekit.arrivals import PacketArrivals
from switchboard.sim.phone.messages import FRAME_SAMPLES, SAMPLE_RATE
from switchboard.sim.phone.playout import PlayoutBuffer

logger = logging.getLogger(__name__)

_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
_QUEUED_FRAMES = 3  # a listener that stalls loses old audio, as a phone line would, instead of building delay


class Microphone(MediaStreamTrack):
    """The caller's audio as an aiortc track: μ-law frames pushed by the phone, pulled by the room's relay.

    The frames are already G.711, the codec the phone's track is offered in (`audio/PCMU`), so they go out as
    encoded packets: aiortc packs them into RTP as they are, with no decode, resampling or encoder thread.
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._frames: asyncio.Queue[av.Packet[Any]] = asyncio.Queue(maxsize=_QUEUED_FRAMES)
        self._pts = 0

    def push(self, ulaw: bytes) -> None:
        """Queue one 20 ms μ-law frame (the oldest is dropped when nobody reads)."""
        packet = av.Packet(ulaw)
        packet.pts = self._pts
        packet.time_base = _TIME_BASE
        self._pts += FRAME_SAMPLES
        if self._frames.full():
            self._frames.get_nowait()
        self._frames.put_nowait(packet)

    async def recv(self) -> av.Packet[Any]:  # aiortc sends a packet as encoded media
        """The next frame, as aiortc's sender asks for it."""
        if self.readyState != "live":
            raise MediaStreamError
        return await self._frames.get()


class Earpiece:
    """Plays one subscribed track into the phone's playout buffer until the track or the call ends.

    The phone plays one track at a time, the newest that has sound: appending two live tracks to one buffer
    would queue them one after the other and delay both without end.
    """

    def __init__(
        self,
        track: MediaStreamTrack,
        buffer: PlayoutBuffer,
        on_first_frame: Callable[[Earpiece], None],
        arrivals: PacketArrivals | None = None,
    ) -> None:
        self._track = track
        self._buffer = buffer
        self._arrivals = arrivals
        self._on_first_frame = on_first_frame
        self.superseded = False  # a newer track speaks: this one is read but no longer played
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        self.frames = 0

    async def run(self) -> None:
        """Read frames until the track ends."""
        with contextlib.suppress(MediaStreamError):
            while not self._buffer.stopped:
                frame = await self._track.recv()
                if isinstance(frame, av.Packet):  # another phone's microphone: μ-law already
                    self._buffer.append(bytes(frame))
                    continue
                if not isinstance(frame, av.AudioFrame):
                    continue
                if self.frames == 0:
                    self._on_first_frame(self)
                if self.superseded:
                    self.frames += 1
                    continue
                received_s = self._received_s(frame.pts)
                for resampled in self._resampler.resample(frame):
                    samples = np.ascontiguousarray(resampled.to_ndarray().reshape(-1), dtype=np.int16)
                    self._buffer.append(ulaw_encode(samples), received_s=received_s)
                self.frames += 1

    def _received_s(self, pts: int | None) -> float | None:
        """When the frame's packet reached the server, on the phone's timeline (None: unknown, take now)."""
        at = self._arrivals.when(pts) if self._arrivals is not None else None
        return None if at is None else max(0.0, at - self._buffer.origin)

    def stop(self) -> None:
        """Stop reading (the relay stops feeding this copy)."""
        self._track.stop()

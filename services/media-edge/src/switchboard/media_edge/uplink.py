"""Caller audio to the bus: one `AudioFrame` per Twilio `media` message, without ever waiting on the bus.

The frames go out in the format the call's route names: μ-law as Twilio sent it, or already converted to the
agent's format when the edge transcodes inline.

Publishing with core NATS only appends to the connection's buffer; when that buffer is backed up (NATS slow or
away), frames are dropped and counted rather than waited for, so the socket reader keeps reading. Audio that
arrives while the call is still being attached is held (up to a limit) and published in order once the agent
is there, so the callee's first "hello?" is not lost.
"""

from __future__ import annotations

import binascii
import logging
import time
from collections import deque
from collections.abc import Callable

from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.formats import Direction
from switchboard.common.bus.frames import AudioFrame
from switchboard.common.runtime.logs import EveryNth
from switchboard.media_edge.audio_route import AudioRoute
from switchboard.media_edge.metrics import EdgeMetrics
from switchboard.media_edge.twilio import MediaBody, to_int

logger = logging.getLogger(__name__)

LATE_CALLER_AUDIO_S = 0.2  # a chunk this far behind the stream clock reached the edge late
FRAME_MS = 20


class Uplink:
    """One stream's caller audio on its way to `call.{id}.audio.in.{format}`."""

    def __init__(
        self,
        bus: Bus,
        call_id: str,
        metrics: EdgeMetrics,
        *,
        malformed: Callable[[str, str], None],
        max_payload_bytes: int,
        early_audio_ms: float,
        backlog_limit_bytes: int,
    ) -> None:
        self._bus = bus
        self._call_id = call_id
        self._metrics = metrics
        self._malformed = malformed
        self._subject = ""
        self._convert: Callable[[bytes], bytes] | None = None
        self._max_b64 = 4 * ((max_payload_bytes + 2) // 3)
        self._early: deque[AudioFrame] = deque()
        self._early_max = max(1, round(early_audio_ms / FRAME_MS))
        self._recent: deque[AudioFrame] = deque(maxlen=self._early_max)  # as received, for a hand-over
        self._route: AudioRoute | None = None
        self._backlog_limit = backlog_limit_bytes
        self._origin = time.monotonic()
        self._last_chunk = 0
        self._live = False
        self._error_log = EveryNth(100)
        self.tap: Callable[[bytes, int], None] | None = None
        """Sees every payload of caller audio as the leg gave it, with its timestamp (the call's recorder)."""

    async def on_media(self, media: MediaBody, received_ns: int) -> None:
        """A `media` message: check it, count gaps and lateness, publish it (or hold it until live)."""
        try:
            chunk = to_int(media.chunk)
            timestamp = to_int(media.timestamp)
        except ValueError as exc:
            self._malformed("bad_number", str(exc))
            return
        encoded = media.payload
        if len(encoded) > self._max_b64:
            self._malformed("oversized_payload", f"{len(encoded)} base64 characters")
            return
        try:
            payload = binascii.a2b_base64(encoded, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            self._malformed("bad_base64", str(exc))
            return
        if not payload:
            self._malformed("empty_payload", "media without audio")
            return
        await self.on_audio(payload, chunk, timestamp, received_ns)

    async def on_audio(self, payload: bytes, chunk: int, timestamp: int, received_ns: int) -> None:
        """Caller audio of any leg: `chunk` numbers it from 1, `timestamp` is its ms since the leg started."""
        metrics = self._metrics
        metrics.media_in.inc()
        last = self._last_chunk
        if chunk != last + 1:
            metrics.chunk_gaps.inc(chunk - last - 1 if chunk > last else 1)
        if chunk > last:
            self._last_chunk = chunk
        if time.monotonic() - self._origin - timestamp / 1000 > LATE_CALLER_AUDIO_S:
            metrics.late_in.inc()
        if self.tap is not None:
            self.tap(payload, timestamp)
        frame = AudioFrame(self._call_id, chunk, timestamp, received_ns, 0, payload)
        if self._live:
            self._recent.append(AudioFrame(self._call_id, chunk, timestamp, received_ns, 0, payload))
            if self._convert is not None:
                frame.payload = self._convert(payload)
            await self._publish(frame)
            return
        if len(self._early) == self._early_max:  # held too long: the oldest goes
            self._early.popleft()
            metrics.dropped.labels("before_setup").inc()
        self._early.append(frame)

    def hold(self, since_ns: int) -> None:
        """The agent is being replaced: hold caller audio again, starting with what it sent since `since_ns`.

        The audio published since the lost agent was last heard may never have reached a model; it is held
        (up to the same limit as at set-up) with what comes next, and given to the new agent by `resume()`.
        """
        if not self._live:
            return
        self._live = False
        self._early = deque(frame for frame in self._recent if frame.ingest_ns >= since_ns)
        self._recent.clear()

    async def resume(self) -> None:
        """The new agent is attached: publish what was held, then go on as before."""
        if self._route is not None and not self._live:
            await self.go_live(self._route)

    async def go_live(self, route: AudioRoute) -> None:
        """The call is attached: publish what was held, in order, then every frame as it comes, along `route`."""
        self._route = route
        self._subject = subjects.audio(self._call_id, Direction.IN, route.in_format)
        self._convert = route.inbound.process if route.inbound is not None else None
        early = self._early
        while early:  # frames that arrive meanwhile join the end of the line
            frame = early.popleft()
            self._recent.append(
                AudioFrame(frame.call_id, frame.seq, frame.media_ms, frame.ingest_ns, 0, frame.payload)
            )
            if self._convert is not None:
                frame.payload = self._convert(frame.payload)
            await self._publish(frame)
        self._live = True

    async def _publish(self, frame: AudioFrame) -> None:
        nc = self._bus.nc
        if nc.pending_data_size > self._backlog_limit:
            self._metrics.dropped.labels("bus_backlog").inc()
            return
        try:
            await nc.publish(self._subject, self._bus.frames.encode(frame))
        except Exception as exc:  # the connection is closed or its reconnect buffer is full
            self._metrics.dropped.labels("bus_unavailable").inc()
            if self._error_log():
                logger.warning("caller audio not published: %r", exc)
            return
        self._metrics.frames_in.inc()

"""One call's transcoding: both directions, generations and clears, and when the call is done."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from switchboard.common.audio.agent_audio import Verdict
from switchboard.common.audio.conversion import Conversion, PerGeneration, conversion
from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachRequest
from switchboard.common.bus.client import Bus
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import AudioFrame
from switchboard.common.bus.messages import CallEnded, Clear, Control, Event, MediaStopped
from switchboard.common.errors import DecodeError
from switchboard.common.runtime.logs import EveryNth
from switchboard.transcoder.metrics import TranscoderMetrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Route:
    """One conversion this call needs: frames of `direction` from `src` to `dst`."""

    direction: Direction
    src: AudioFormat
    dst: AudioFormat

    def describe(self) -> str:
        """E.g. ``in:pcmu8k>pcm24k``."""
        return f"{self.direction.value}:{self.src.value}>{self.dst.value}"


def routes_for(request: AttachRequest) -> list[Route]:
    """The conversions a call needs: only the pairs whose formats differ."""
    routes = []
    if request.caller_format is not request.agent_in_format:
        routes.append(Route(Direction.IN, request.caller_format, request.agent_in_format))
    if request.agent_out_format is not request.caller_format:
        routes.append(Route(Direction.OUT, request.agent_out_format, request.caller_format))
    return routes


class CallTranscoder:
    """Converts a call's frames in each needed direction, keeping filter state per direction.

    Agent audio is grouped by generation: a new generation starts the outbound filter fresh (its first sample
    has nothing to do with the last one of the previous answer), and frames of a generation at or below the last
    `ctl.clear` are dropped, as are stragglers of a generation older than the current one.
    """

    def __init__(self, bus: Bus, call_id: str, routes: list[Route], metrics: TranscoderMetrics) -> None:
        self.call_id = call_id
        self.routes = routes
        self._bus = bus
        self._metrics = metrics
        self._conversions: dict[Direction, Conversion] = {
            r.direction: conversion(r.src, r.dst) for r in routes
        }
        # Every agent frame is judged by the one gate, converted or not.
        self._answers = PerGeneration(self._conversions.get(Direction.OUT))
        if Direction.OUT in self._conversions:
            self._conversions[Direction.OUT] = self._answers
        self._subscriptions: list[Subscription] = []
        self.last_activity = time.monotonic()
        self.ended = False
        self._bad_payload_log = EveryNth(100)

    async def start(self) -> None:
        """Subscribe to the call's control, end events and audio."""
        bus, call_id = self._bus, self.call_id
        self._subscriptions.append(await bus.subscribe_control(call_id, self._on_clear, Clear.type_name()))
        for name in (MediaStopped.type_name(), CallEnded.type_name()):
            self._subscriptions.append(await bus.subscribe_events(call_id, self._on_end, name))
        for route in self.routes:
            self._subscriptions.append(
                await bus.nc.subscribe(
                    subjects.audio(call_id, route.direction, route.src), cb=self._frame_handler(route)
                )
            )

    async def stop(self) -> None:
        """Unsubscribe everything."""
        subscriptions, self._subscriptions = self._subscriptions, []
        for sub in subscriptions:
            try:
                await sub.unsubscribe()
            except Exception:  # the connection may be closing; nothing is left to release
                logger.debug("unsubscribe failed", exc_info=True)

    async def _on_clear(self, message: Control) -> None:
        if isinstance(message, Clear):
            self._answers.clear(message.generation)

    async def _on_end(self, _event: Event) -> None:
        self.ended = True

    def _frame_handler(self, route: Route) -> Callable[[Msg], Awaitable[None]]:
        bus, metrics = self._bus, self._metrics
        direction = route.direction
        label = direction.value
        frames_in = metrics.frames_in.labels(label)
        frames_out = metrics.frames_out.labels(label)
        frame_seconds = metrics.frame_seconds.labels(label)
        ingest_age = metrics.ingest_latency.labels(label)
        convert = self._conversions[direction]
        out_subject = subjects.audio(self.call_id, direction, route.dst)
        decode, encode = bus.frames.decode, bus.frames.encode
        publish = bus.nc.publish

        async def on_frame(msg: Msg) -> None:
            try:
                frame = decode(msg.data)
            except DecodeError as exc:
                bus.metrics.malformed.labels("audio", exc.code).inc()
                return
            frames_in.inc()
            self.last_activity = time.monotonic()
            ingest_age.observe(max(0, time.time_ns() - frame.ingest_ns) / 1e9)
            if direction is Direction.OUT and not self._admit_agent_frame(frame):
                return
            started = time.perf_counter_ns()
            try:
                payload = convert.process(frame.payload)
            except ValueError as exc:
                metrics.dropped.labels("bad_payload").inc()
                if self._bad_payload_log():
                    logger.warning(
                        "dropped a frame with a bad payload: %s", exc, extra={"call_id": self.call_id}
                    )
                return
            frame_seconds.observe((time.perf_counter_ns() - started) / 1e9)
            await publish(
                out_subject,
                encode(
                    AudioFrame(
                        frame.call_id,
                        frame.seq,
                        frame.media_ms,
                        frame.ingest_ns,
                        frame.generation,
                        payload,
                        epoch=frame.epoch,
                    )
                ),
            )
            frames_out.inc()

        return on_frame

    @property
    def cleared_generation(self) -> int:
        """The last generation a `ctl.clear` dropped (-1 before any)."""
        return self._answers.gate.cleared

    def _admit_agent_frame(self, frame: AudioFrame) -> bool:
        result = self._answers.admit(frame.generation)
        if not result.admitted:
            self._metrics.dropped.labels(
                "stale_generation" if result is Verdict.STALE else result.value
            ).inc()
            return False
        return True

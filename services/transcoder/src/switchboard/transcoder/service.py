"""The transcoder service: takes calls through the attach queue group and lets them go when they end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachReply, AttachRequest, AttachServer
from switchboard.common.bus.client import Bus
from switchboard.common.bus.heartbeat import publish_heartbeats
from switchboard.common.bus.messages import TRANSCODER_COMPONENT, ComponentAttached
from switchboard.transcoder.call import CallTranscoder, routes_for
from switchboard.transcoder.metrics import TranscoderMetrics
from switchboard.transcoder.settings import TranscoderSettings

logger = logging.getLogger(__name__)


class TranscoderService:
    """Owns the attached calls, the heartbeat and the reaper of ended or silent calls."""

    def __init__(self, bus: Bus, settings: TranscoderSettings, metrics: TranscoderMetrics) -> None:
        self._bus = bus
        self._settings = settings
        self._metrics = metrics
        self.calls: dict[str, CallTranscoder] = {}
        self._no_calls = asyncio.Event()
        self.attach = AttachServer(
            bus,
            subjects.transcoder_attach(),
            instance=settings.instance_id,
            capacity=settings.capacity,
            handler=self._on_attach,
        )

    async def run(self, stop: asyncio.Event, on_started: Callable[[], None] = lambda: None) -> None:
        """Serve until `stop` is set; then take no new calls, let the current ones end (up to the drain timeout).

        `on_started` is called once calls can be offered here.
        """
        await self.attach.start()
        on_started()
        try:
            async with asyncio.TaskGroup() as tasks:
                heartbeat = tasks.create_task(
                    publish_heartbeats(
                        self._bus,
                        TRANSCODER_COMPONENT,
                        self._settings.instance_id,
                        lambda: self.calls.keys(),
                        self._settings.heartbeat_interval_s,
                    )
                )
                reaper = tasks.create_task(self._reap_forever())
                await stop.wait()
                await self.attach.stop()
                if self.calls:
                    logger.info(
                        "draining: %d calls, up to %.0f s", len(self.calls), self._settings.drain_timeout_s
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._no_calls.wait(), self._settings.drain_timeout_s)
                heartbeat.cancel()
                reaper.cancel()
        finally:
            await self.attach.stop()
            for call_id in list(self.calls):
                await self.detach(call_id, "shutdown")

    async def _on_attach(self, request: AttachRequest) -> AttachReply:
        routes = routes_for(request)
        call = CallTranscoder(self._bus, request.call_id, routes, self._metrics)
        await call.start()
        self.calls[request.call_id] = call
        self._no_calls.clear()
        self._metrics.active_calls.set(len(self.calls))
        described = [route.describe() for route in routes]
        logger.info(
            "attached: %s", ", ".join(described) or "nothing to convert", extra={"call_id": request.call_id}
        )
        await self._bus.publish_event(
            request.call_id,
            ComponentAttached(
                component=TRANSCODER_COMPONENT,
                instance=self._settings.instance_id,
                detail={"routes": described},
            ),
        )
        return AttachReply(accepted=True, detail={"routes": described})

    async def detach(self, call_id: str, reason: str) -> None:
        """Stop converting a call and free its place."""
        call = self.calls.pop(call_id, None)
        if call is None:
            return
        await call.stop()
        if not self.calls:
            self._no_calls.set()
        await self.attach.release(call_id)
        self._metrics.active_calls.set(len(self.calls))
        self._metrics.detached.labels(reason).inc()
        logger.info("detached (%s)", reason, extra={"call_id": call_id})

    async def reap(self) -> None:
        """Let go of calls that ended or have been silent longer than the idle timeout."""
        now = time.monotonic()
        for call_id, call in list(self.calls.items()):
            if call.ended:
                await self.detach(call_id, "ended")
            elif now - call.last_activity > self._settings.idle_timeout_s:
                await self.detach(call_id, "idle")

    async def _reap_forever(self) -> None:
        interval = min(1.0, self._settings.idle_timeout_s / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reap()
            except Exception:
                logger.exception("reaping failed")

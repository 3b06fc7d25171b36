"""Noticing that the transcoder or the agent of a call is gone, and attaching the call again.

Every replica serving a call publishes `ctl.heartbeat {component, instance}` for it. The edge watches the
heartbeats of the replicas it attached; one not heard from for `component_timeout_s` (its attach counts as
heard) is lost: a killed pod, a crash, a drain that ran out of time. The call is then attached again, that
component only: an agent with `resume` and a `first_generation` above every generation the stream has seen (so
its audio is not taken for stale), a transcoder with the same request as before (it needs the same formats).
Caller audio keeps flowing to the bus meanwhile, and agent audio already queued plays out. At most
`max_reattaches` per call; past that, or when no replica takes the call, the stream ends as a failed attach does.

Silence means something only while the edge's own bus connection is up: while it is down nothing arrives from
anyone, and once it is back the replicas get a whole `component_timeout_s` to be heard again. A replaced agent
is fenced (see `fence.py`): the call record and the request carry the next epoch, and its heartbeats, audio and
clears no longer count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

import msgspec

from switchboard.common.bus.attach import AttachRequest
from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import Control, ErrorOccurred, Event, Heartbeat
from switchboard.common.errors import AttachError, ErrorCategory
from switchboard.media_edge.call_setup import Attachment, attach
from switchboard.media_edge.fence import AgentFence
from switchboard.media_edge.metrics import EdgeMetrics
from switchboard.media_edge.settings import MediaEdgeSettings

Clock = Callable[[], float]

_MAX_CHECK_INTERVAL_S = 1.0


def _always_up() -> float | None:
    return float("-inf")


class Liveness:
    """When each attached replica was last heard from, and which have been silent too long.

    `link()` is when the edge's own bus connection came up (None while it is down): silence is counted only
    from then.
    """

    def __init__(
        self,
        timeout_s: float,
        clock: Clock = time.monotonic,
        link: Callable[[], float | None] = _always_up,
    ) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        self._link = link
        self._heard: dict[str, tuple[Attachment, float]] = {}  # by component name, in attach order

    def watch(self, attachment: Attachment) -> None:
        """From now on `attachment` serves its component (replacing the replica before it): heard now."""
        self._heard[attachment.component.name] = (attachment, self._clock())

    def heard(self, component: str, instance: str) -> None:
        """A heartbeat: it counts only for the replica attached as that component."""
        entry = self._heard.get(component)
        if entry is not None and entry[0].instance in ("", instance):
            self._heard[component] = (entry[0], self._clock())

    def kind(self, component: str) -> str | None:
        """The kind of a watched component (None if it is not watched)."""
        entry = self._heard.get(component)
        return entry[0].component.kind if entry is not None else None

    def silent_for(self, attachment: Attachment) -> float:
        """Seconds since `attachment`'s component was last heard from."""
        _, last = self._heard[attachment.component.name]
        return self._clock() - last

    def lost(self) -> list[Attachment]:
        """The attached replicas not heard from for `timeout_s` while the bus was up, in attach order."""
        up_since = self._link()
        if up_since is None:
            return []
        now = self._clock()
        return [
            attachment
            for attachment, last in self._heard.values()
            if now - max(last, up_since) >= self.timeout_s
        ]


class ComponentWatchdog:
    """Watches the replicas serving one call and attaches the call again when one is lost."""

    def __init__(
        self,
        *,
        bus: Bus,
        request: AttachRequest,
        metrics: EdgeMetrics,
        settings: MediaEdgeSettings,
        fence: AgentFence,
        store_epoch: Callable[[int], Awaitable[None]],
        highest_generation: Callable[[], int],
        report: Callable[[Event], None],
        give_up: Callable[[AttachError], Awaitable[None]],
        active: Callable[[], bool],
        log: logging.LoggerAdapter[logging.Logger],
        link: Callable[[], float | None] = _always_up,
        hold_caller: Callable[[int], None] = lambda _since_ns: None,
        resume_caller: Callable[[], Awaitable[None]] | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        # hold_caller(since_ns) holds caller audio (from that wall-clock time) while an agent is replaced;
        # resume_caller() gives it to the new one.
        self._hold_caller = hold_caller
        self._resume_caller = resume_caller
        self.liveness = Liveness(settings.component_timeout_s, clock, link)
        self._fence = fence
        self._store_epoch = store_epoch
        self.reattaches = 0
        self._bus = bus
        self._request = request
        self._metrics = metrics
        self._settings = settings
        self._highest_generation = highest_generation
        self._report = report
        self._give_up = give_up
        self._active = active
        self._log = log
        self._interval = min(_MAX_CHECK_INTERVAL_S, settings.component_timeout_s / 4)

    def watch(self, attachments: Iterable[Attachment]) -> None:
        """Start watching the replicas just attached."""
        for attachment in attachments:
            self.liveness.watch(attachment)

    async def on_heartbeat(self, message: Control) -> None:
        """The handler of the call's `ctl.heartbeat` subscription."""
        if isinstance(message, Heartbeat):
            if self.liveness.kind(message.component) == "agent" and message.epoch != self._fence.epoch:
                return  # an agent this edge replaced (it leaves once it hears the edge's heartbeat)
            self.liveness.heard(message.component, message.instance)

    async def run(self) -> None:
        """Look for lost replicas every `interval` (at most a second) while the stream is live; until cancelled.

        Returns after giving up on the call.
        """
        while True:
            await asyncio.sleep(self._interval)
            for lost in self.liveness.lost():
                if not self._active():
                    break  # closing or hanging up: the components let the call go by themselves
                if not await self._replace(lost):
                    return

    async def _replace(self, lost: Attachment) -> bool:
        """Report `lost` and attach the call to another replica; False when the stream must end."""
        component = lost.component
        self._metrics.components_lost.labels(component.kind).inc()
        silent_s = self.liveness.silent_for(lost)
        self._log.warning(
            "%s %s silent for %.1f s: attaching the call again", component.name, lost.instance, silent_s
        )
        self._report(
            ErrorOccurred(
                component=component.name,
                code="component_lost",
                message=f"{lost.instance or component.name} sent no heartbeat for {silent_s:.1f} s",
                retryable=True,
            )
        )
        if self.reattaches >= self._settings.max_reattaches:
            self._metrics.reattaches.labels(component.kind, "limit").inc()
            await self._give_up(
                AttachError(
                    f"{component.name} lost after {self.reattaches} re-attaches (the limit)",
                    category=ErrorCategory.UNAVAILABLE,
                    code="reattach_limit",
                    retryable=False,
                )
            )
            return False
        self.reattaches += 1
        request = self._request
        try:
            if component.kind == "agent":
                self._hold_caller(time.time_ns() - int(silent_s * 1e9))
                first = max(request.first_generation, self._highest_generation() + 1)
                epoch = self._fence.next_epoch(first)
                await self._store_epoch(
                    epoch
                )  # before asking: the agent takes the call at the stored epoch only
                request = msgspec.structs.replace(request, resume=True, first_generation=first, epoch=epoch)
            replacement = await attach(
                self._bus,
                component,
                request,
                self._metrics,
                timeout_s=self._settings.attach_timeout_s,
                attempts=self._settings.attach_attempts,
            )
        except AttachError as exc:
            self._metrics.reattaches.labels(component.kind, "failed").inc()
            await self._give_up(exc)
            return False
        self._metrics.reattaches.labels(component.kind, "attached").inc()
        self.liveness.watch(replacement)
        if component.kind == "agent" and self._resume_caller is not None:
            await self._resume_caller()
        return True

"""The edge as a whole: what every stream shares, who may connect, the streams being served, and the drain."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import nats.errors

from switchboard.common.bus.client import Bus
from switchboard.common.bus.link import LinkWatch
from switchboard.common.calls.record import CallRecord
from switchboard.common.calls.store import CallStore
from switchboard.common.errors import SwitchboardError
from switchboard.common.profiles import ProfileStore
from switchboard.common.recordings.store import RecordingStore
from switchboard.common.runtime.logs import EveryNth
from switchboard.common.runtime.ops_http import Health
from switchboard.common.security.twilio_signature import is_valid_signature
from switchboard.media_edge.downlink import PacingOptions
from switchboard.media_edge.leg import CLOSE_GOING_AWAY, ServedLeg
from switchboard.media_edge.metrics import EdgeMetrics
from switchboard.media_edge.settings import MediaEdgeSettings
from switchboard.media_edge.twilio import InboundDecoder

logger = logging.getLogger(__name__)

__all__ = ["CLOSE_GOING_AWAY", "DrainResult", "MediaEdge", "UpgradeRefusal"]


@dataclass(frozen=True, slots=True)
class UpgradeRefusal:
    """Why an upgrade is refused before it is accepted, and with which HTTP status."""

    reason: str
    status: int
    message: str


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What a drain found and left."""

    streams_at_start: int
    closed_at_deadline: int
    streams_left: int
    waited_s: float

    @property
    def drained(self) -> bool:
        """Whether every stream ended by itself before the deadline."""
        return self.closed_at_deadline == 0 and self.streams_left == 0


class MediaEdge:
    """Shared state of one edge process: bus, stores, secrets, metrics, and the streams it serves."""

    def __init__(
        self,
        *,
        bus: Bus,
        settings: MediaEdgeSettings,
        metrics: EdgeMetrics,
        health: Health,
        calls: CallStore,
        profiles: ProfileStore,
        recordings: RecordingStore | None = None,
    ) -> None:
        self.bus = bus
        self.recordings = recordings
        """Where calls of profiles with `recording: on` are recorded (None: no call is)."""
        self.settings = settings
        self.metrics = metrics
        self.health = health
        self.calls = calls
        self.profiles = profiles
        self.auth_token = settings.auth_token()
        self.stream_secret = settings.stream_token_secret()
        self.pacing = PacingOptions(
            lead_s=settings.pacing_lead_ms / 1000,
            min_chunk_s=settings.min_chunk_ms / 1000,
            report_interval_s=settings.playout_report_interval_ms / 1000,
            end_idle_s=settings.generation_end_idle_ms / 1000,
        )
        self.decoder = InboundDecoder()
        self.link = LinkWatch(bus.nc)
        self.agent_epochs: dict[str, int] = {}
        """The current agent epoch of each call served here (set by its `EdgeCall`)."""
        self.sessions: set[ServedLeg] = set()
        self._refusal_logs: dict[str, EveryNth] = {}
        self.draining = False
        self.drain_hooks: list[Callable[[], Awaitable[None]]] = []
        """Run when a drain begins (ways of taking calls other than the upgrade stop taking them)."""
        self._idle = asyncio.Event()
        self._idle.set()

    # --- admission -------------------------------------------------------------------------------

    def check_upgrade(self, signature: str | None) -> UpgradeRefusal | None:
        """Why this upgrade must be refused (before accept), or None to accept it."""
        if not is_valid_signature(self.auth_token, self.settings.public_stream_url, signature):
            return self.refuse_upgrade("bad_signature", 403, "invalid or missing x-twilio-signature")
        if self.draining:
            return self.refuse_upgrade("draining", 503, "this media edge is draining: no new streams")
        return None

    def refuse_upgrade(self, reason: str, status: int, message: str) -> UpgradeRefusal:
        """Count a refused upgrade, and log it as a warning now and then (anyone can send them)."""
        self.metrics.refused.labels(reason).inc()
        if self._refusal_logs.setdefault(reason, EveryNth(100))():
            logger.warning(
                "refused a media stream upgrade (%s): %s (%d so far)",
                reason,
                message,
                self._refusal_logs[reason].count,
            )
        return UpgradeRefusal(reason, status, message)

    async def record_end_reason(self, call_id: str, reason: str) -> None:
        """Store why the edge ends a call (`drain_deadline`, `attach_failed`) before it closes the leg.

        The record keeps the first reason given (a hang-up's, say); call-control's final status callback then
        ends the record with it instead of `completed`. A record that cannot be written is logged, not fatal.
        """

        def with_reason(record: CallRecord) -> CallRecord | None:
            if record.ended_reason or record.status.final:
                return None
            record.ended_reason = reason
            return record

        if not call_id:
            return
        try:
            await self.calls.update(call_id, with_reason)
        except (SwitchboardError, nats.errors.Error, TimeoutError) as e:
            logger.warning("could not store the end reason %s: %s", reason, e, extra={"call_id": call_id})

    # --- streams ---------------------------------------------------------------------------------

    async def serve(self, session: ServedLeg) -> None:
        """Run one accepted stream to its end, counted among the active ones meanwhile."""
        self.sessions.add(session)
        self._idle.clear()
        self.metrics.active_streams.set(len(self.sessions))
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            self.metrics.active_streams.set(len(self.sessions))
            if not self.sessions:
                self._idle.set()

    def call_ids(self) -> list[str]:
        """The calls whose streams are live here (for the per-call heartbeat)."""
        return [session.call_id for session in self.sessions if session.call_id]

    def agent_epoch(self, call_id: str) -> int:
        """The epoch of the agent serving `call_id` here (the per-call heartbeat carries it); 0 if none."""
        return self.agent_epochs.get(call_id, 0)

    # --- drain -----------------------------------------------------------------------------------

    async def drain(self, deadline_s: float | None = None) -> DrainResult:
        """Stop taking streams (readiness off), wait for the active ones to end, close what is left at the deadline.

        Safe to call more than once: every caller waits for the same streams.
        """
        deadline_s = self.settings.drain_deadline_s if deadline_s is None else deadline_s
        if not self.draining:
            logger.info("draining: %d active streams, deadline %.0f s", len(self.sessions), deadline_s)
        self.draining = True
        self.health.draining = True
        for hook in self.drain_hooks:
            try:
                await hook()
            except Exception:
                logger.exception("a drain hook failed")
        started = time.monotonic()
        at_start = len(self.sessions)
        left: list[ServedLeg] = []
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=deadline_s)
        except TimeoutError:
            left = list(self.sessions)
            logger.warning("drain deadline passed: closing %d streams", len(left))
            await asyncio.gather(
                *(self.record_end_reason(session.call_id, "drain_deadline") for session in left)
            )
            await asyncio.gather(
                *(session.close(CLOSE_GOING_AWAY, "drain_deadline") for session in left),
                return_exceptions=True,
            )
            await self.wait_idle(self.settings.event_publish_timeout_s)
        left_count = len(self.sessions)
        waited = time.monotonic() - started
        logger.info("drained in %.1f s (%d streams left)", waited, left_count)
        return DrainResult(
            streams_at_start=at_start, closed_at_deadline=len(left), streams_left=left_count, waited_s=waited
        )

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no stream is active; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        return True

"""One call on the edge, whatever its transport: the record, the attachments, generations, playout, DTMF, hang-up.

The phone leg (`leg.PhoneLeg`) carries the audio; this is everything else. The leg never waits on the bus:
caller audio goes out through the call's `Uplink` (core NATS), events through its `EventOutbox`, and the slow
start of a call (the record, the profile, the attachments) runs in a task of its own while the leg keeps reading.
Agent audio comes back through the call's `Downlink` into the leg's `Playback`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from nats.aio.subscription import Subscription

from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import AudioFrame
from switchboard.common.bus.messages import (
    MEDIA_EDGE_COMPONENT,
    Clear,
    Control,
    DtmfReceived,
    ErrorOccurred,
    Hangup,
    Heartbeat,
    MediaStarted,
    MediaStopped,
    Playout,
    SendDtmf,
)
from switchboard.common.calls.record import CallRecord, CallRecording
from switchboard.common.errors import AttachError
from switchboard.common.profiles import Profile
from switchboard.common.runtime.logs import EveryNth
from switchboard.media_edge.audio_route import audio_route
from switchboard.media_edge.call_setup import (
    Refusal,
    attach_components,
    attach_request,
    claim_call,
    store_agent_epoch,
)
from switchboard.media_edge.downlink import Downlink
from switchboard.media_edge.edge import MediaEdge
from switchboard.media_edge.events import EventOutbox
from switchboard.media_edge.fence import AgentFence
from switchboard.media_edge.leg import CLOSE_ERROR, CLOSE_NORMAL, CLOSE_POLICY, LegIds, PhoneLeg
from switchboard.media_edge.playback import Playback
from switchboard.media_edge.recorder import CallRecorder, RecordedPlayback, format_of
from switchboard.media_edge.uplink import Uplink
from switchboard.media_edge.watchdog import ComponentWatchdog

DTMF_DIGITS = frozenset("0123456789*#ABCD")


class EdgeCall:
    """A call from its leg's start to its end; `teardown()` leaves nothing running."""

    def __init__(
        self,
        edge: MediaEdge,
        leg: PhoneLeg,
        call_id: str,
        ids: LegIds,
        playback: Playback,
        log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self._edge = edge
        self._leg = leg
        self._bus = edge.bus
        self._metrics = edge.metrics
        self._settings = settings = edge.settings
        self.call_id = call_id
        self.ids = ids
        self._log = log
        self.started = False
        self.hangup_requested = False
        self.closing = False
        self.uplink = Uplink(
            self._bus,
            call_id,
            self._metrics,
            malformed=self.malformed,
            max_payload_bytes=settings.max_payload_bytes,
            early_audio_ms=settings.early_audio_ms,
            backlog_limit_bytes=settings.bus_backlog_limit_bytes,
        )
        self._playback = RecordedPlayback(playback)
        self.recorder: CallRecorder | None = None
        self.downlink = Downlink(
            playback=self._playback,
            report=self._report_playout,
            metrics=self._metrics,
            options=edge.pacing,
            started_at=time.monotonic(),
        )
        self.outbox = EventOutbox(
            self._bus, call_id, ids.stream_id, timeout_s=settings.event_publish_timeout_s
        )
        self._subscriptions: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._hop = self._bus.metrics.hop_latency.labels("edge_out")
        self._malformed_log = EveryNth(100)
        self._fence = AgentFence()
        self._fenced_log = EveryNth(100)

    @property
    def agent_epoch(self) -> int:
        """The epoch of the agent serving the call now (the edge's heartbeat carries it)."""
        return self._fence.epoch

    def start(self) -> None:
        """Take the call in a task of its own."""
        self._tasks.append(asyncio.create_task(self._setup(), name=f"setup-{self.call_id}"))

    async def _setup(self) -> None:
        """Claim the call's record, announce the leg, wire the bus, attach the components and watch them."""
        try:
            _, profile = await claim_call(
                self._edge.calls,
                self._edge.profiles,
                self.call_id,
                self.ids,
                self._leg.transport,
                edge_instance=self._settings.instance_id,
            )
        except Refusal as refusal:
            await self.refuse(refusal.reason, refusal.detail)
            return
        except Exception:
            self._log.exception("could not read or update the call record")
            await self.refuse("setup_failed", "call record unavailable", CLOSE_ERROR)
            return
        await self.connect(profile)

    async def connect(self, profile: Profile) -> None:
        """Announce the leg, wire the bus, attach the components and watch them (the record is claimed)."""
        bus, call_id = self._bus, self.call_id
        self.started = True
        self.outbox.start()
        try:
            await self.outbox.publish(
                MediaStarted(
                    instance=self._settings.instance_id,
                    stream_id=self.ids.stream_id,
                    provider_call_id=self.ids.provider_call_id,
                )
            )
        except Exception:
            self._log.warning("media_started could not be stored; the call goes on")
        self._edge.agent_epochs[call_id] = self._fence.epoch
        request = attach_request(
            call_id, profile, self._settings.instance_id, self._leg.caller_formats, self._fence.epoch
        )
        route = audio_route(
            request,
            inline=self._settings.transcode == "inline",
            native=self._leg.caller_formats is not None,
        )
        self._start_recording(profile)
        downlink = self.downlink
        if route.outbound is not None:
            downlink.answers = route.outbound
        self._log.info("audio %s", route.describe())
        watchdog = ComponentWatchdog(
            bus=bus,
            request=request,
            metrics=self._metrics,
            settings=self._settings,
            fence=self._fence,
            store_epoch=self._store_agent_epoch,
            link=self._edge.link.up_since,
            hold_caller=self.uplink.hold,
            resume_caller=self.uplink.resume,
            highest_generation=lambda: downlink.highest_generation,
            report=self.outbox.post,
            give_up=self._attach_failed,
            active=lambda: not (self.closing or self.hangup_requested),
            log=self._log,
        )
        self._subscriptions.append(
            await bus.subscribe_frames(call_id, Direction.OUT, route.out_format, self._on_agent_frame)
        )
        for name, handler in (
            (Clear.type_name(), self._on_clear),
            (Hangup.type_name(), self._on_hangup),
            (SendDtmf.type_name(), self._on_send_dtmf),
            (Heartbeat.type_name(), watchdog.on_heartbeat),
        ):
            self._subscriptions.append(await bus.subscribe_control(call_id, handler, name))
        await bus.nc.flush()
        self._tasks.append(asyncio.create_task(downlink.run(), name=f"downlink-{call_id}"))
        try:
            attachments = await attach_components(
                bus,
                request,
                profile.provider,
                self._metrics,
                transcoder=route.transcoder,
                timeout_s=self._settings.attach_timeout_s,
                attempts=self._settings.attach_attempts,
            )
        except AttachError as exc:
            await self._attach_failed(exc)
            return
        watchdog.watch(attachments)
        self._tasks.append(asyncio.create_task(watchdog.run(), name=f"watchdog-{call_id}"))
        await self.uplink.go_live(route)

    def _start_recording(self, profile: Profile) -> None:
        """Record the call when its profile says so (and the edge has a recordings bucket)."""
        store = self._edge.recordings
        if profile.recording != "on" or store is None:
            return
        caller = self._leg.caller_formats[0] if self._leg.caller_formats else AudioFormat.PCMU8K
        agent = format_of(self._playback.rate, self._playback.sample_width)
        self.recorder = recorder = CallRecorder(
            store, self.call_id, self._metrics, caller_format=caller, agent_format=agent, log=self._log
        )
        self._playback.recorder = recorder
        self.uplink.tap = recorder.caller
        self._tasks.append(asyncio.create_task(recorder.run(), name=f"recorder-{self.call_id}"))
        self._tasks.append(
            asyncio.create_task(self._note_recording(CallRecording()), name=f"recording-{self.call_id}")
        )

    async def _finish_recording(self, recorder: CallRecorder) -> None:
        """Store the end of the recording and its manifest, and say in the record what was stored."""
        self.uplink.tap = None
        self._playback.recorder = None
        try:
            async with asyncio.timeout(self._settings.recording_finish_timeout_s):
                manifest = await recorder.finish()
                await self._note_recording(
                    CallRecording(
                        state="failed" if manifest.failed else "complete",
                        size=manifest.size,
                        duration_ms=manifest.duration_ms,
                    )
                )
        except TimeoutError:
            self._metrics.recording_failures.labels("manifest").inc()
            self._log.warning("the recording could not be finished in time")

    async def _note_recording(self, recording: CallRecording) -> None:
        def change(record: CallRecord) -> CallRecord:
            record.recording = recording
            return record

        try:
            await self._edge.calls.update(self.call_id, change)
        except Exception as exc:
            self._log.warning("the record could not note the recording: %r", exc)

    async def refuse(self, reason: str, detail: str, code: int = CLOSE_POLICY) -> None:
        """Count and log why the edge will not serve this call, and end the leg."""
        self._metrics.refused.labels(reason).inc()
        self._log.warning("refused the call (%s): %s", reason, detail)
        await self._leg.close(code, "refused")

    async def _store_agent_epoch(self, epoch: int) -> None:
        """Record the next agent's epoch, and tell the agent being replaced at once (it leaves if it hears it)."""
        await store_agent_epoch(self._edge.calls, self.call_id, epoch)
        self._edge.agent_epochs[self.call_id] = epoch
        heartbeat = Heartbeat(
            component=MEDIA_EDGE_COMPONENT, instance=self._settings.instance_id, epoch=epoch
        )
        try:
            await self._bus.publish_control(self.call_id, heartbeat)
        except Exception as exc:  # the periodic heartbeat carries the epoch too
            self._log.warning("could not announce agent epoch %d: %r", epoch, exc)

    async def _attach_failed(self, exc: AttachError) -> None:
        """No replica took the call (at the start, or after one was lost): report it and end the leg."""
        self._log.error("could not attach the call: %s", exc.message)
        await self._edge.record_end_reason(self.call_id, "attach_failed")
        self.outbox.post(
            ErrorOccurred(
                component=MEDIA_EDGE_COMPONENT, code=exc.code, message=exc.message, retryable=exc.retryable
            )
        )
        await self._leg.close(CLOSE_ERROR, "attach_failed")

    async def teardown(self, end_reason: str) -> None:
        """Unsubscribe, report what played, store `media_stopped`: nothing stays behind."""
        self._edge.agent_epochs.pop(self.call_id, None)
        for task in self._tasks:
            task.cancel()
        for sub in self._subscriptions:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subscriptions.clear()
        await self.downlink.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.recorder is not None:
            await self._finish_recording(self.recorder)
        if self.started:
            self.outbox.post(MediaStopped(reason=end_reason))
        await self.outbox.close()

    # --- phone → bus ------------------------------------------------------------------------------

    def on_dtmf(self, digit: str) -> None:
        """The caller pressed a key."""
        if len(digit) != 1 or digit not in DTMF_DIGITS:
            self.malformed("bad_dtmf", repr(digit[:8]))
            return
        self._metrics.messages.labels("in", "dtmf").inc()
        self._log.info("caller pressed %s", digit)
        self.outbox.post(DtmfReceived(digit=digit))

    def malformed(self, reason: str, detail: str) -> None:
        """Count (and now and then log) bad input from the leg."""
        self._metrics.malformed.labels(reason).inc()
        if self._malformed_log():
            self._log.warning("skipped a malformed message (%s): %s", reason, detail)

    # --- bus → phone ------------------------------------------------------------------------------

    async def _on_agent_frame(self, frame: AudioFrame) -> None:
        self._hop.observe(max(0, time.time_ns() - frame.ingest_ns) / 1e9)
        refused = self._fence.admit_audio(frame.epoch, frame.generation)
        if refused is not None:
            self._fenced(refused, f"audio of epoch {frame.epoch} generation {frame.generation}")
            return
        await self.downlink.on_frame(frame)

    async def _on_clear(self, message: Control) -> None:
        received = time.perf_counter()
        if isinstance(message, Clear):
            refused = self._fence.refuse(message.epoch, message.generation)
            if refused is not None:
                self._fenced(refused, f"clear of epoch {message.epoch} generation {message.generation}")
                return
            await self.downlink.clear(message.generation, received, created_ns=message.ts_ns)

    def _fenced(self, reason: str, what: str) -> None:
        """Agent audio or a clear that is not the current agent's (or names a generation it cannot have)."""
        self._metrics.dropped.labels(reason).inc()
        if self._fenced_log():
            self._log.warning(
                "dropped %s (%s; the agent epoch is %d, generations from %d)",
                what,
                reason,
                self._fence.epoch,
                self._fence.first_generation,
            )

    async def _on_hangup(self, message: Control) -> None:
        """Close the leg, after giving call-control's hang-up a moment to end the call first.

        call-control acts on the same `ctl.hangup`: it stores the reason, then ends the call through the
        provider, which ends this leg. Closing the leg at once would race it (Twilio ends a call whose stream
        closed, and its `completed` callback could reach call-control before the reason), so the edge closes
        the leg itself only when it is still open after `hangup_grace_s`.
        """
        if not isinstance(message, Hangup) or self.closing:
            return
        self._log.info("hanging up: %s", message.reason)
        self.hangup_requested = True
        self._tasks.append(asyncio.create_task(self._close_after_grace(), name=f"hangup-{self.call_id}"))

    async def _close_after_grace(self) -> None:
        await asyncio.sleep(self._settings.hangup_grace_s)
        await self._leg.close(CLOSE_NORMAL, "hangup")

    async def _on_send_dtmf(self, message: Control) -> None:
        if not isinstance(message, SendDtmf):
            return
        if await self._leg.send_dtmf(message.digits):
            self._metrics.messages.labels("out", "dtmf").inc()
            return
        self._metrics.unsupported.labels("send_dtmf").inc()
        self._log.warning("cannot send DTMF %r: %s cannot play DTMF", message.digits, self._leg.transport)

    async def _report_playout(self, playout: Playout) -> None:
        await self._bus.publish_control(self.call_id, playout)

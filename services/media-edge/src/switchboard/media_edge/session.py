"""One Twilio media stream: Twilio's messages in, the call's audio and events onto the bus, agent audio back.

The socket reader never waits on the bus: caller audio goes out through the stream's `Uplink` (core NATS),
events through its `EventOutbox`, and the slow start of a call (the record, the profile, the attachments) runs
in a task of its own while the reader keeps reading. Agent audio comes back through its `Downlink`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import MutableMapping
from typing import Any

from nats.aio.subscription import Subscription
from starlette.websockets import WebSocket, WebSocketDisconnect

from switchboard.common.audio.conversion import PerGeneration
from switchboard.common.bus.formats import Direction
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
from switchboard.common.errors import AttachError
from switchboard.common.runtime.logs import EveryNth, bind_call
from switchboard.media_edge.audio_route import audio_route
from switchboard.media_edge.call_setup import (
    Refusal,
    StreamIds,
    attach_components,
    attach_request,
    call_id_from,
    claim_call,
)
from switchboard.media_edge.downlink import Downlink, StreamClosed
from switchboard.media_edge.edge import MediaEdge
from switchboard.media_edge.events import EventOutbox
from switchboard.media_edge.twilio import (
    DTMF_DIGITS,
    Connected,
    Dtmf,
    Inbound,
    MalformedMessage,
    Mark,
    Media,
    OutboundEncoder,
    Start,
    StartBody,
    Stop,
)
from switchboard.media_edge.uplink import Uplink
from switchboard.media_edge.watchdog import ComponentWatchdog

logger = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_ERROR = 1011


class MediaSession:
    """A stream from accept to its last event; `run()` returns when it is over and nothing is left running."""

    def __init__(self, websocket: WebSocket, edge: MediaEdge) -> None:
        self._ws = websocket
        self._edge = edge
        self._bus = edge.bus
        self._metrics = edge.metrics
        self._settings = edge.settings
        self.call_id = ""
        self.stream_sid = ""
        self.call_sid = ""
        self.end_reason = "socket_closed"
        self._closing = False
        self._hangup_requested = False
        self._started = False
        self._uplink: Uplink  # set by `_begin`, before anything reads it
        self._downlink: Downlink | None = None
        self._agent_audio: PerGeneration | None = None
        self._bad_agent_audio_log = EveryNth(100)
        self._outbox: EventOutbox | None = None
        self._subscriptions: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._log: logging.LoggerAdapter[logging.Logger] = logging.LoggerAdapter(logger, {})
        self._malformed_log = EveryNth(100)
        self._hop = self._bus.metrics.hop_latency.labels("edge_out")
        self._max_message = self._settings.max_message_bytes
        self._decode = edge.decoder.decode

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the stream until Twilio stops it, the socket closes, or the call is hung up."""
        try:
            start = await self._await_start()
            if start is not None and await self._begin(start):
                await self._read()
        except WebSocketDisconnect:
            pass
        finally:
            await self._teardown()

    async def close(self, code: int, reason: str) -> None:
        """End the stream from this side (the reader then sees the socket close)."""
        if self._closing:
            return
        self._closing = True
        self.end_reason = reason
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await self._ws.close(code=code, reason=reason)

    async def _refuse(self, reason: str, detail: str, code: int = CLOSE_POLICY) -> None:
        self._metrics.refused.labels(reason).inc()
        self._log.warning("refused the stream (%s): %s", reason, detail)
        await self.close(code, "refused")

    async def _await_start(self) -> StartBody | None:
        """Read until `start` (after `connected`); refuse a stream that does not start in time."""
        deadline = asyncio.get_running_loop().time() + self._settings.start_timeout_s
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await self._ws.receive()
            except TimeoutError:
                await self._refuse("no_start", f"no start within {self._settings.start_timeout_s} s")
                return None
            if message["type"] == "websocket.disconnect":
                return None
            parsed = self._parse(message)
            if isinstance(parsed, Start):
                self._metrics.messages.labels("in", "start").inc()
                return parsed.start
            if isinstance(parsed, Connected):
                self._metrics.messages.labels("in", "connected").inc()
            elif parsed is not None:
                self._malformed("before_start", f"{type(parsed).__name__.lower()} before start")

    async def _begin(self, start: StartBody) -> bool:
        """Check the stream token, bind the ids, and start taking the call (in its own task)."""
        try:
            call_id = call_id_from(start.custom_parameters, self._edge.stream_secret)
            fmt = start.media_format
            if (fmt.encoding, fmt.sample_rate, fmt.channels) != ("audio/x-mulaw", 8000, 1):
                raise Refusal("unsupported_format", f"{fmt.encoding} {fmt.sample_rate} Hz x{fmt.channels}")
            if not start.stream_sid:
                raise Refusal("bad_start", "start without a streamSid")
        except Refusal as refusal:
            await self._refuse(refusal.reason, refusal.detail)
            return False
        self.call_id, self.stream_sid, self.call_sid = call_id, start.stream_sid, start.call_sid
        bind_call(call_id)
        self._log = logging.LoggerAdapter(logger, {"stream_sid": self.stream_sid, "call_sid": self.call_sid})
        self._log.info("stream started")
        settings = self._settings
        self._uplink = Uplink(
            self._bus,
            call_id,
            self._metrics,
            malformed=self._malformed,
            max_payload_bytes=settings.max_payload_bytes,
            early_audio_ms=settings.early_audio_ms,
            backlog_limit_bytes=settings.bus_backlog_limit_bytes,
        )
        self._downlink = Downlink(
            encoder=OutboundEncoder(self.stream_sid),
            send=self._send_text,
            report=self._report_playout,
            metrics=self._metrics,
            options=self._edge.pacing,
            started_at=time.monotonic(),
        )
        self._outbox = EventOutbox(
            self._bus, call_id, self.stream_sid, timeout_s=self._settings.event_publish_timeout_s
        )
        self._tasks.append(asyncio.create_task(self._setup(start), name=f"setup-{call_id}"))
        return True

    async def _setup(self, start: StartBody) -> None:
        """Claim the call's record, announce the stream, wire the bus, attach the components and watch them."""
        edge, bus, call_id = self._edge, self._bus, self.call_id
        assert self._downlink is not None and self._outbox is not None
        try:
            _, profile = await claim_call(
                edge.calls, edge.profiles, call_id, StreamIds(self.stream_sid, self.call_sid)
            )
        except Refusal as refusal:
            await self._refuse(refusal.reason, refusal.detail)
            return
        except Exception:
            self._log.exception("could not read or update the call record")
            await self._refuse("setup_failed", "call record unavailable", CLOSE_ERROR)
            return
        self._started = True
        self._outbox.start()
        try:
            await self._outbox.publish(
                MediaStarted(
                    instance=self._settings.instance_id,
                    stream_id=self.stream_sid,
                    provider_call_id=self.call_sid,
                )
            )
        except Exception:
            self._log.warning("media_started could not be stored; the call goes on")
        request = attach_request(call_id, profile, self._settings.instance_id)
        route = audio_route(request, inline=self._settings.transcode == "inline")
        self._agent_audio = route.outbound
        self._log.info("audio %s", route.describe())
        downlink = self._downlink
        watchdog = ComponentWatchdog(
            bus=bus,
            request=request,
            metrics=self._metrics,
            settings=self._settings,
            highest_generation=lambda: downlink.highest_generation,
            report=self._outbox.post,
            give_up=self._attach_failed,
            active=lambda: not (self._closing or self._hangup_requested),
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
        await self._uplink.go_live(route)

    async def _attach_failed(self, exc: AttachError) -> None:
        """No replica took the call (at the start, or after one was lost): report it and end the stream."""
        self._log.error("could not attach the call: %s", exc.message)
        assert self._outbox is not None
        self._outbox.post(
            ErrorOccurred(
                component=MEDIA_EDGE_COMPONENT, code=exc.code, message=exc.message, retryable=exc.retryable
            )
        )
        await self.close(CLOSE_ERROR, "attach_failed")

    async def _teardown(self) -> None:
        """Unsubscribe, report what played, store `media_stopped`, close the socket: nothing stays behind."""
        for task in self._tasks:
            task.cancel()
        for sub in self._subscriptions:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subscriptions.clear()
        if self._downlink is not None:
            await self._downlink.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._outbox is not None:
            if self._started:
                self._outbox.post(MediaStopped(reason=self.end_reason))
            await self._outbox.close()
        await self.close(CLOSE_NORMAL, self.end_reason)
        self._metrics.streams.labels(self.end_reason).inc()
        if self.call_id:
            self._log.info("stream ended (%s)", self.end_reason)

    # --- Twilio → bus ----------------------------------------------------------------------------

    async def _read(self) -> None:
        receive = self._ws.receive
        stream_sid = self.stream_sid
        uplink = self._uplink
        while True:
            message = await receive()
            received_ns = time.time_ns()
            if message["type"] == "websocket.disconnect":
                return
            parsed = self._parse(message)
            if parsed is None:
                continue
            if parsed.stream_sid != stream_sid:
                self._malformed(
                    "wrong_stream_sid", f"{type(parsed).__name__.lower()} for {parsed.stream_sid!r}"
                )
            elif type(parsed) is Media:
                await uplink.on_media(parsed.media, received_ns)
            elif isinstance(parsed, Mark):
                self._metrics.marks_in.inc()
                assert self._downlink is not None
                await self._downlink.on_echo(parsed.mark.name, time.monotonic())
            elif isinstance(parsed, Dtmf):
                self._on_dtmf(parsed.dtmf.digit)
            elif isinstance(parsed, Stop):
                self._metrics.messages.labels("in", "stop").inc()
                self.end_reason = "hangup" if self._hangup_requested else "stop"
                return
            else:
                self._malformed("unexpected_event", f"{type(parsed).__name__.lower()} after start")

    def _on_dtmf(self, digit: str) -> None:
        if len(digit) != 1 or digit not in DTMF_DIGITS:
            self._malformed("bad_dtmf", repr(digit[:8]))
            return
        self._metrics.messages.labels("in", "dtmf").inc()
        self._log.info("caller pressed %s", digit)
        assert self._outbox is not None
        self._outbox.post(DtmfReceived(digit=digit))

    def _parse(self, message: MutableMapping[str, Any]) -> Inbound | None:
        text = message.get("text")
        if text is None:
            self._malformed("binary_frame", f"{len(message.get('bytes') or b'')} bytes")
            return None
        if len(text) > self._max_message:
            self._malformed("oversized_message", f"{len(text)} characters")
            return None
        try:
            return self._decode(text)
        except MalformedMessage as exc:
            self._malformed(exc.reason, exc.detail)
            return None

    def _malformed(self, reason: str, detail: str) -> None:
        self._metrics.malformed.labels(reason).inc()
        if self._malformed_log():
            self._log.warning("skipped a malformed message (%s): %s", reason, detail)

    # --- bus → Twilio ----------------------------------------------------------------------------

    async def _on_agent_frame(self, frame: AudioFrame) -> None:
        self._hop.observe(max(0, time.time_ns() - frame.ingest_ns) / 1e9)
        assert self._downlink is not None
        agent_audio = self._agent_audio
        if agent_audio is not None and agent_audio.admit(
            frame.generation
        ):  # a straggler: the downlink drops it
            try:
                frame.payload = agent_audio.process(frame.payload)
            except ValueError as exc:
                self._metrics.dropped.labels("bad_payload").inc()
                if self._bad_agent_audio_log():
                    self._log.warning("dropped agent audio that is not PCM16: %s", exc)
                return
        await self._downlink.on_frame(frame)

    async def _on_clear(self, message: Control) -> None:
        received = time.perf_counter()
        if isinstance(message, Clear) and self._downlink is not None:
            await self._downlink.clear(message.generation, received, created_ns=message.ts_ns)

    async def _on_hangup(self, message: Control) -> None:
        """Close the stream, after giving call-control's REST hang-up a moment to end the call first.

        call-control acts on the same `ctl.hangup`: it stores the reason, then ends the call through Twilio,
        which stops this stream. Closing the socket at once would race it (Twilio ends a call whose stream
        closed, and its `completed` callback could reach call-control before the reason), so the edge closes
        the stream itself only when it is still open after `hangup_grace_s`.
        """
        if not isinstance(message, Hangup) or self._closing:
            return
        self._log.info("hanging up: %s", message.reason)
        self._hangup_requested = True
        self._tasks.append(asyncio.create_task(self._close_after_grace(), name=f"hangup-{self.call_id}"))

    async def _close_after_grace(self) -> None:
        await asyncio.sleep(self._settings.hangup_grace_s)
        await self.close(CLOSE_NORMAL, "hangup")

    async def _on_send_dtmf(self, message: Control) -> None:
        if isinstance(message, SendDtmf):
            self._metrics.unsupported.labels("send_dtmf").inc()
            self._log.warning("cannot send DTMF %r: Twilio Media Streams cannot play DTMF", message.digits)

    async def _send_text(self, text: str) -> None:
        try:
            await self._ws.send({"type": "websocket.send", "text": text})
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise StreamClosed(str(exc)) from exc

    async def _report_playout(self, playout: Playout) -> None:
        await self._bus.publish_control(self.call_id, playout)

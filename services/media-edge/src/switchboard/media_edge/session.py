"""One Twilio media stream: the phone leg of a Twilio call.

Reads Twilio's messages (`connected`, `start`, then `media`, `dtmf`, `mark` echoes, `stop`), checks the stream
token in `start`, and hands the rest to the call (`EdgeCall`): caller audio to its uplink, key presses, mark
echoes to its downlink. Agent audio goes back through `TwilioPlayback` (media, marks, clear) on this socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import MutableMapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from switchboard.common.bus.formats import AudioFormat
from switchboard.common.runtime.logs import EveryNth, bind_call
from switchboard.media_edge.call import EdgeCall
from switchboard.media_edge.call_setup import Refusal, call_id_from
from switchboard.media_edge.downlink import StreamClosed
from switchboard.media_edge.edge import MediaEdge
from switchboard.media_edge.leg import CLOSE_NORMAL, CLOSE_POLICY, LegIds
from switchboard.media_edge.playback import TwilioPlayback
from switchboard.media_edge.twilio import (
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

logger = logging.getLogger(__name__)


class MediaSession:
    """A Twilio stream from accept to its last event; `run()` returns when it is over and nothing is left running."""

    transport = "twilio"
    caller_formats: tuple[AudioFormat, AudioFormat] | None = None

    def __init__(self, websocket: WebSocket, edge: MediaEdge) -> None:
        self._ws = websocket
        self._edge = edge
        self._metrics = edge.metrics
        self._settings = edge.settings
        self.call_id = ""
        self.stream_sid = ""
        self.call_sid = ""
        self.end_reason = "socket_closed"
        self._closing = False
        self.call: EdgeCall | None = None
        self._playback: TwilioPlayback | None = None
        self._log: logging.LoggerAdapter[logging.Logger] = logging.LoggerAdapter(logger, {})
        self._malformed_log = EveryNth(100)
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
        if self.call is not None:
            self.call.closing = True
        self.end_reason = reason
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await self._ws.close(code=code, reason=reason)

    async def send_dtmf(self, digits: str) -> bool:
        """Twilio Media Streams cannot play DTMF to the caller."""
        return False

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
        self._playback = TwilioPlayback(OutboundEncoder(self.stream_sid), self._send_text)
        self.call = EdgeCall(
            self._edge, self, call_id, LegIds(self.stream_sid, self.call_sid), self._playback, self._log
        )
        self.call.start()
        return True

    async def _teardown(self) -> None:
        """End the call's side (unsubscribe, final reports, `media_stopped`), close the socket."""
        if self.call is not None:
            await self.call.teardown(self.end_reason)
        await self.close(CLOSE_NORMAL, self.end_reason)
        self._metrics.streams.labels(self.end_reason).inc()
        if self.call_id:
            self._log.info("stream ended (%s)", self.end_reason)

    # --- Twilio → the call -----------------------------------------------------------------------

    async def _read(self) -> None:
        receive = self._ws.receive
        stream_sid = self.stream_sid
        call = self.call
        playback = self._playback
        assert call is not None and playback is not None
        uplink, downlink = call.uplink, call.downlink
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
                now = time.monotonic()
                await downlink.on_confirmed(playback.echoed(parsed.mark.name, now), now)
            elif isinstance(parsed, Dtmf):
                call.on_dtmf(parsed.dtmf.digit)
            elif isinstance(parsed, Stop):
                self._metrics.messages.labels("in", "stop").inc()
                self.end_reason = "hangup" if call.hangup_requested else "stop"
                return
            else:
                self._malformed("unexpected_event", f"{type(parsed).__name__.lower()} after start")

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

    # --- the call → Twilio -----------------------------------------------------------------------

    async def _send_text(self, text: str) -> None:
        try:
            await self._ws.send({"type": "websocket.send", "text": text})
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            raise StreamClosed(str(exc)) from exc

"""The typed face of the bus: publish and subscribe frames, control messages and events by contract."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from switchboard.common.bus import subjects
from switchboard.common.bus.codec import MessageCodec, control_codec, event_codec
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import AudioFrame, FrameCodec
from switchboard.common.bus.messages import Control, Event
from switchboard.common.errors import DecodeError
from switchboard.common.runtime.logs import EveryNth
from switchboard.common.runtime.metrics import BusMetrics

logger = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[T], Awaitable[None]]
CallHandler = Callable[[str, T], Awaitable[None]]
"""A handler of messages of every call: gets the call id (from the subject) and the message."""


class Bus:
    """A NATS connection speaking the Switchboard contract.

    Anything received that cannot be decoded is counted (`switchboard_bus_malformed_messages_total`), logged
    (rate-limited) and skipped: it never reaches a handler and never ends a subscription.
    """

    def __init__(self, nc: NatsClient, metrics: BusMetrics) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.metrics = metrics
        self.frames = FrameCodec()
        self.controls: MessageCodec[Control] = control_codec()
        self.events: MessageCodec[Event] = event_codec()
        self._malformed_log = EveryNth(100)

    # --- audio ---------------------------------------------------------------------------------------

    async def publish_frame(
        self, call_id: str, direction: Direction, fmt: AudioFormat, frame: AudioFrame
    ) -> None:
        """Publish one audio frame (core NATS: fire and forget, in order per connection)."""
        await self.nc.publish(subjects.audio(call_id, direction, fmt), self.frames.encode(frame))

    async def subscribe_frames(
        self, call_id: str, direction: Direction, fmt: AudioFormat, handler: Handler[AudioFrame]
    ) -> Subscription:
        """Deliver each decodable frame of one call/direction/format to `handler`, in order."""
        return await self.nc.subscribe(
            subjects.audio(call_id, direction, fmt), cb=self._decoding(self.frames.decode, "audio", handler)
        )

    # --- control -------------------------------------------------------------------------------------

    async def publish_control(self, call_id: str, message: Control) -> None:
        """Publish a control message on ``call.{id}.ctl.{type}``."""
        await self.nc.publish(subjects.control(call_id, message.type_name()), self.controls.encode(message))

    async def subscribe_control(
        self, call_id: str, handler: Handler[Control], name: str = subjects.ANY, *, queue: str = ""
    ) -> Subscription:
        """Deliver a call's control messages (all, or those of one `type`) to `handler`.

        With `queue`, each message goes to one member of that queue group only (one replica acts on it).
        """
        return await self.nc.subscribe(
            subjects.control(call_id, name),
            queue=queue,
            cb=self._decoding(self.controls.decode, "control", handler),
        )

    async def subscribe_control_of_every_call(
        self, handler: CallHandler[Control], name: str = subjects.ANY, *, queue: str = ""
    ) -> Subscription:
        """Deliver the control messages of every call (all, or one `type`) to `handler(call_id, message)`.

        With `queue`, each message goes to one member of that queue group only (one replica acts on it).
        """
        return await self.nc.subscribe(
            subjects.control(subjects.ANY, name),
            queue=queue,
            cb=self._decoding_with_call_id(self.controls.decode, "control", handler),
        )

    # --- events --------------------------------------------------------------------------------------

    async def publish_event(self, call_id: str, event: Event, *, msg_id: str | None = None) -> None:
        """Store an event in the stream `CALL_EVENTS` (waits for the stream's ack).

        `msg_id` makes a retried publish idempotent within the stream's duplicate window.
        """
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await self.js.publish(
            subjects.event(call_id, event.type_name()), self.events.encode(event), headers=headers
        )

    async def subscribe_events(
        self, call_id: str, handler: Handler[Event], name: str = subjects.ANY, *, queue: str = ""
    ) -> Subscription:
        """Deliver new events of a call as they are published (core subscription: no replay).

        With `queue`, each event goes to one member of that queue group only.
        """
        subject = subjects.call_events(call_id) if name == subjects.ANY else subjects.event(call_id, name)
        return await self.nc.subscribe(
            subject, queue=queue, cb=self._decoding(self.events.decode, "event", handler)
        )

    async def call_history(self, call_id: str, *, timeout_s: float = 2.0) -> list[Event]:
        """Every stored event of a call, oldest first (an ephemeral ordered consumer over the stream)."""
        info = await self.js.stream_info(
            subjects.CALL_EVENTS_STREAM, subjects_filter=subjects.call_events(call_id)
        )
        expected = sum((info.state.subjects or {}).values())
        history: list[Event] = []
        if expected == 0:
            return history
        sub = await self.js.subscribe(subjects.call_events(call_id), ordered_consumer=True)
        try:
            while len(history) < expected:
                msg = await sub.next_msg(timeout=timeout_s)
                decoded = self._decode_or_count(self.events.decode, "event", msg.data)
                if decoded is None:
                    expected -= 1
                else:
                    history.append(decoded)
        finally:
            await sub.unsubscribe()
        return history

    # --- decoding ------------------------------------------------------------------------------------

    def _decode_or_count(self, decode: Callable[[bytes], T], kind: str, data: bytes) -> T | None:
        try:
            return decode(data)
        except DecodeError as exc:
            self.metrics.malformed.labels(kind, exc.code).inc()
            if self._malformed_log():
                logger.warning("skipped a malformed %s message: %s", kind, exc.message)
            return None

    def _decoding(
        self, decode: Callable[[bytes], T], kind: str, handler: Handler[T]
    ) -> Callable[[Msg], Awaitable[None]]:
        async def on_message(msg: Msg) -> None:
            decoded = self._decode_or_count(decode, kind, msg.data)
            if decoded is None:
                return
            try:
                await handler(decoded)
            except Exception:
                logger.exception("handler failed for %s", msg.subject)

        return on_message

    def _decoding_with_call_id(
        self, decode: Callable[[bytes], T], kind: str, handler: CallHandler[T]
    ) -> Callable[[Msg], Awaitable[None]]:
        async def with_call_id(msg: Msg) -> None:
            decoded = self._decode_or_count(decode, kind, msg.data)
            if decoded is None:
                return
            try:
                await handler(subjects.call_id_of(msg.subject), decoded)
            except Exception:
                logger.exception("handler failed for %s", msg.subject)

        return with_call_id

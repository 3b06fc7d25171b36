"""Attaching a call to a replica of a service: request/reply on a queue group that tracks capacity.

A replica at capacity leaves the queue group, so NATS offers new calls only to replicas that can take them; a
request that still reaches a full replica (in flight while it left) is refused as retryable, and the requester
tries again, reaching another replica.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.formats import AudioFormat
from switchboard.common.errors import AttachError, DecodeError, ErrorCategory

logger = logging.getLogger(__name__)

ATTACH_SCHEMA_VERSION = 1


class AttachRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Take this call: what the edge has and what the agent wants."""

    call_id: str
    profile: str = ""
    caller_format: AudioFormat = AudioFormat.PCMU8K
    agent_in_format: AudioFormat = AudioFormat.PCM24K
    agent_out_format: AudioFormat = AudioFormat.PCM24K
    requester: str = ""
    resume: bool = False
    """The call is under way and its previous replica is gone: carry on from the stored transcript, no greeting."""
    first_generation: Annotated[int, msgspec.Meta(ge=1)] = 1
    """Number agent responses from here (after a resume: above every generation the edge has seen)."""
    epoch: Annotated[int, msgspec.Meta(ge=1)] = 1
    """The call's agent epoch: 1 for its first agent, one more for each agent attached after it. The edge stores
    it in the call record before asking; the agent takes the call only at the record's epoch, and puts it on
    every frame, clear and heartbeat it sends."""
    v: int = ATTACH_SCHEMA_VERSION


class AttachReply(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Whether the replica took the call; `detail` says what it runs for it."""

    accepted: bool
    instance: str = ""
    reason: str = ""
    retryable: bool = False
    detail: dict[str, Any] = msgspec.field(default_factory=dict)
    v: int = ATTACH_SCHEMA_VERSION


AttachHandler = Callable[[AttachRequest], Awaitable[AttachReply]]

_request_decoder = msgspec.msgpack.Decoder(AttachRequest)
_reply_decoder = msgspec.msgpack.Decoder(AttachReply)


def decode_request(data: bytes) -> AttachRequest:
    """The attach request in `data`; raises `DecodeError` (not retryable) on anything else.

    The call id must be a subject token: the agent builds the call's subjects from it.
    """
    try:
        request = _request_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"malformed attach request: {exc}") from exc
    except (RecursionError, UnicodeDecodeError) as exc:  # nested too deep for the stack, or not UTF-8
        raise DecodeError(f"malformed attach request: {type(exc).__name__}") from exc
    if request.v != ATTACH_SCHEMA_VERSION:
        raise DecodeError(f"unsupported attach request version {request.v}", code="unsupported_version")
    if not subjects.valid_token(request.call_id):
        raise DecodeError(f"attach request for an invalid call id {request.call_id[:64]!r}")
    return request


def decode_reply(data: bytes) -> AttachReply:
    """The attach reply in `data`; raises `DecodeError` (not retryable) on anything else."""
    try:
        return _reply_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"malformed attach reply: {exc}") from exc
    except (RecursionError, UnicodeDecodeError) as exc:
        raise DecodeError(f"malformed attach reply: {type(exc).__name__}") from exc


class AttachServer:
    """Serves attach requests on a queue group while fewer than `capacity` calls are attached here."""

    def __init__(
        self,
        bus: Bus,
        subject: str,
        *,
        instance: str,
        capacity: int,
        handler: AttachHandler,
        queue: str = "attach",
        rejoin: AttachHandler | None = None,
    ) -> None:
        """`rejoin` answers a request for a call already attached here (default: accepted, "already attached")."""
        self._bus = bus
        self._subject = subject
        self._queue = queue
        self._instance = instance
        self.capacity = capacity
        self._handler = handler
        self._rejoin = rejoin
        self._calls: set[str] = set()
        self._sub: Subscription | None = None
        self._closed = False
        self._membership = asyncio.Lock()

    @property
    def calls(self) -> frozenset[str]:
        """The call ids attached here."""
        return frozenset(self._calls)

    @property
    def in_queue_group(self) -> bool:
        """Whether new calls can be offered to this replica."""
        return self._sub is not None

    async def start(self) -> None:
        """Join the queue group."""
        await self._update_membership()

    async def stop(self) -> None:
        """Leave the queue group for good (drain: no new calls)."""
        self._closed = True
        await self._update_membership()

    async def release(self, call_id: str) -> None:
        """The call ended here: free its place (and rejoin the queue group if it was full)."""
        self._calls.discard(call_id)
        await self._update_membership()

    async def _update_membership(self) -> None:
        async with self._membership:
            want = not self._closed and len(self._calls) < self.capacity
            if want and self._sub is None:
                self._sub = await self._bus.nc.subscribe(
                    self._subject, queue=self._queue, cb=self._on_request
                )
                logger.info("joined %s (%d/%d calls)", self._subject, len(self._calls), self.capacity)
            elif not want and self._sub is not None:
                sub, self._sub = self._sub, None
                await sub.unsubscribe()
                logger.info("left %s (%d/%d calls)", self._subject, len(self._calls), self.capacity)

    async def _on_request(self, msg: Msg) -> None:
        try:
            request = decode_request(msg.data)
        except DecodeError as exc:
            self._bus.metrics.malformed.labels("attach", exc.code).inc()
            logger.warning("refused an attach request: %s", exc.message[:200])
            await msg.respond(self._encode(AttachReply(accepted=False, reason=exc.message[:200])))
            return
        if request.call_id in self._calls:
            reply = AttachReply(accepted=True, instance=self._instance, reason="already attached")
            if self._rejoin is not None:
                try:
                    reply = await self._rejoin(request)
                except Exception as exc:
                    logger.exception("attach failed", extra={"call_id": request.call_id})
                    reply = AttachReply(accepted=False, reason=str(exc))
                reply.instance = reply.instance or self._instance
        elif self._closed or len(self._calls) >= self.capacity:
            reply = AttachReply(accepted=False, instance=self._instance, reason="at capacity", retryable=True)
        else:
            self._calls.add(request.call_id)
            try:
                reply = await self._handler(request)
            except Exception as exc:
                logger.exception("attach failed", extra={"call_id": request.call_id})
                reply = AttachReply(
                    accepted=False, reason=str(exc), retryable=getattr(exc, "retryable", False)
                )
            reply.instance = reply.instance or self._instance
            if not reply.accepted:
                self._calls.discard(request.call_id)
        await msg.respond(self._encode(reply))
        await self._update_membership()

    @staticmethod
    def _encode(reply: AttachReply) -> bytes:
        return msgspec.msgpack.encode(reply)


async def request_attach(
    bus: Bus, subject: str, request: AttachRequest, *, timeout_s: float = 2.0, attempts: int = 4
) -> AttachReply:
    """Ask the queue group behind `subject` to take a call, trying another replica when one cannot.

    Raises `AttachError` (retryable when every failure was) when no replica took it.
    """
    payload = msgspec.msgpack.encode(request)
    last_reason = "no attempt"
    retryable = True
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(min(0.05 * 2**attempt, 0.5))
        try:
            msg = await bus.nc.request(subject, payload, timeout=timeout_s)
        except NoRespondersError:
            last_reason = "no replica available"
            continue
        except (NatsTimeoutError, TimeoutError):
            last_reason = f"no answer within {timeout_s}s"
            continue
        try:
            reply = decode_reply(msg.data)
        except DecodeError as exc:
            last_reason, retryable = exc.message, False
            break
        if reply.accepted:
            return reply
        last_reason, retryable = reply.reason, reply.retryable
        if not reply.retryable:
            break
    raise AttachError(
        f"{subject}: {last_reason}",
        category=ErrorCategory.UNAVAILABLE,
        code="attach_failed",
        retryable=retryable,
    )

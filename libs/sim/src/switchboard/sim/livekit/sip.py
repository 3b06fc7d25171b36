"""LiveKit's SIP service: trunks, dispatch rules, outbound dialling, inbound calls and transfers.

Outbound (`CreateSIPParticipant`): the phone joins the room at once with `sip.callStatus=dialing`, rings, then
answers or fails as its `Callee` says. With `wait_until_answered` the request returns at the answer or fails with
the SIP status (486 busy, 480 unavailable, 408 when the ringing timeout passes, …) in the Twirp error's
`sip_status_code`/`sip_status` metadata, as the real service does. Inbound (`place_inbound_call`): the called
number picks an inbound trunk and a dispatch rule; `dispatchRuleIndividual` puts the caller in a new room
`<prefix>_<caller>_<random>`, whose `room_started`/`participant_joined` events reach the webhooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from livekit.protocol import models, sip

from switchboard.sim.livekit import ids
from switchboard.sim.livekit.participant import ParticipantState
from switchboard.sim.livekit.room import Room
from switchboard.sim.livekit.sip_phone import CallStatus, SipPhone

logger = logging.getLogger(__name__)

REASONS = {
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    484: "Address Incomplete",
    486: "Busy Here",
    500: "Server Internal Error",
    503: "Service Unavailable",
    603: "Decline",
}
DEFAULT_RINGING_TIMEOUT_S = 30.0
DIALLABLE = re.compile(r"\+?[0-9]{3,15}")

CreateRoom = Callable[[str], Awaitable[Room]]


class SipFailure(Exception):
    """A call that did not connect, with its SIP status (`retryable` for 5xx: another try may work)."""

    def __init__(self, status: int, message: str = "") -> None:
        self.status = status
        self.reason = REASONS.get(status, "Error")
        super().__init__(message or f"SIP call failed: {status} {self.reason}")

    @property
    def retryable(self) -> bool:
        """Whether a new attempt can help."""
        return self.status >= 500


@dataclass(frozen=True, slots=True)
class Callee:
    """How a dialled phone behaves: answer after `ring_s`, or reply `status` (486, 480, 5xx) after `ring_s`.

    `never_answers` rings until the request's ringing timeout, which ends the call with 408.
    """

    ring_s: float = 0.2
    status: int = 200
    never_answers: bool = False

    @classmethod
    def answering(cls, ring_s: float = 0.2) -> Callee:
        """Picks up after `ring_s`."""
        return cls(ring_s=ring_s)

    @classmethod
    def busy(cls, ring_s: float = 0.1) -> Callee:
        """486 Busy Here."""
        return cls(ring_s=ring_s, status=486)

    @classmethod
    def unavailable(cls, ring_s: float = 0.5) -> Callee:
        """480 Temporarily Unavailable (the carrier's no-answer)."""
        return cls(ring_s=ring_s, status=480)

    @classmethod
    def no_answer(cls) -> Callee:
        """Rings until the ringing timeout (408)."""
        return cls(never_answers=True)

    @classmethod
    def failing(cls, status: int = 503, ring_s: float = 0.0) -> Callee:
        """The trunk fails the call with `status`."""
        return cls(ring_s=ring_s, status=status)


def _seconds(duration: object, default: float) -> float:
    seconds = duration.ToTimedelta().total_seconds() if hasattr(duration, "ToTimedelta") else 0.0
    return seconds if seconds > 0 else default


class SipService:
    """Trunks and rules (created through the SIP API or directly), the phones of live calls, and the callees."""

    def __init__(self, create_room: CreateRoom) -> None:
        self._create_room = create_room
        self.inbound_trunks: dict[str, sip.SIPInboundTrunkInfo] = {}
        self.outbound_trunks: dict[str, sip.SIPOutboundTrunkInfo] = {}
        self.dispatch_rules: dict[str, sip.SIPDispatchRuleInfo] = {}
        self.phones: list[SipPhone] = []
        self.default_callee = Callee()
        self.callees: dict[str, Callee] = {}
        self.transfer_status = 200
        self._next_callees: deque[Callee] = deque()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- configuration -------------------------------------------------------------------------------

    def add_outbound_trunk(self, trunk: sip.SIPOutboundTrunkInfo) -> sip.SIPOutboundTrunkInfo:
        """Register an outbound trunk (an id is given if it has none)."""
        trunk.sip_trunk_id = trunk.sip_trunk_id or ids.new_sid("ST_")
        self.outbound_trunks[trunk.sip_trunk_id] = trunk
        return trunk

    def add_inbound_trunk(self, trunk: sip.SIPInboundTrunkInfo) -> sip.SIPInboundTrunkInfo:
        """Register an inbound trunk (an id is given if it has none)."""
        trunk.sip_trunk_id = trunk.sip_trunk_id or ids.new_sid("ST_")
        self.inbound_trunks[trunk.sip_trunk_id] = trunk
        return trunk

    def add_dispatch_rule(self, rule: sip.SIPDispatchRuleInfo) -> sip.SIPDispatchRuleInfo:
        """Register a dispatch rule (an id is given if it has none)."""
        rule.sip_dispatch_rule_id = rule.sip_dispatch_rule_id or ids.new_sid("SDR_")
        self.dispatch_rules[rule.sip_dispatch_rule_id] = rule
        return rule

    def next_callee(self, callee: Callee) -> None:
        """The next outbound call (to any number) meets `callee`; queued, one per call."""
        self._next_callees.append(callee)

    def _callee_for(self, number: str) -> Callee:
        if self._next_callees:
            return self._next_callees.popleft()
        return self.callees.get(number, self.default_callee)

    # --- outbound ------------------------------------------------------------------------------------

    async def dial(self, request: sip.CreateSIPParticipantRequest) -> sip.SIPParticipantInfo:
        """`CreateSIPParticipant`: join the phone to the room and ring it; see the module's docstring."""
        trunk = self.outbound_trunks.get(request.sip_trunk_id)
        if trunk is None:
            raise LookupError(f"outbound trunk {request.sip_trunk_id!r} not found")
        if not request.sip_call_to or not request.room_name:
            raise ValueError("sip_call_to and room_name are required")
        room = await self._create_room(request.room_name)
        trunk_number = request.sip_number or (trunk.numbers[0] if trunk.numbers else "")
        phone = self._new_phone(
            room,
            identity=request.participant_identity or f"sip_{request.sip_call_to}",
            name=request.participant_name or "Phone",
            metadata=request.participant_metadata,
            attributes={
                **dict(request.participant_attributes),
                "sip.phoneNumber": request.sip_call_to,
                "sip.trunkPhoneNumber": trunk_number,
                "sip.trunkID": trunk.sip_trunk_id,
                "sip.callStatus": CallStatus.DIALING.value,
            },
        )
        await room.join(phone)
        await room.connected(phone)
        callee = self._callee_for(request.sip_call_to)
        if not DIALLABLE.fullmatch(request.sip_call_to):
            callee = Callee.failing(484)  # the carrier cannot route what is not a number
        ringing_timeout = _seconds(request.ringing_timeout, DEFAULT_RINGING_TIMEOUT_S)
        max_duration = _seconds(request.max_call_duration, 0.0)
        progress = asyncio.create_task(self._ring(phone, callee, ringing_timeout, max_duration))
        self._own(progress)
        if request.wait_until_answered:
            await asyncio.shield(progress)
        return sip.SIPParticipantInfo(
            participant_id=phone.state.sid,
            participant_identity=phone.identity,
            room_name=room.name,
            sip_call_id=phone.call_id,
        )

    async def _ring(
        self, phone: SipPhone, callee: Callee, ringing_timeout: float, max_duration: float
    ) -> None:
        await phone.set_status(CallStatus.RINGING)
        wait = ringing_timeout if callee.never_answers else min(callee.ring_s, ringing_timeout)
        await asyncio.sleep(wait)
        status = 408 if callee.never_answers or callee.ring_s > ringing_timeout else callee.status
        if phone.ended:
            raise SipFailure(487, "the call was cancelled")
        if status != 200:
            reason = {
                486: models.DisconnectReason.USER_REJECTED,
                603: models.DisconnectReason.USER_REJECTED,
                408: models.DisconnectReason.USER_UNAVAILABLE,
                480: models.DisconnectReason.USER_UNAVAILABLE,
            }.get(status, models.DisconnectReason.SIP_TRUNK_FAILURE)
            await phone.fail(reason)
            raise SipFailure(status)
        await phone.answer()
        if max_duration > 0:
            self._own(asyncio.create_task(self._hang_up_after(phone, max_duration)))

    async def _hang_up_after(self, phone: SipPhone, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(phone.wait_ended(), seconds)
            return
        await phone.hang_up()

    # --- inbound -------------------------------------------------------------------------------------

    async def place_inbound_call(self, caller: str, called: str) -> SipPhone:
        """A call from `caller` to `called` arrives: dispatch it to a room and join the caller, answered."""
        trunk = next((t for t in self.inbound_trunks.values() if not t.numbers or called in t.numbers), None)
        if trunk is None:
            raise SipFailure(404, f"no inbound trunk for {called}")
        rule = next(
            (
                r
                for r in self.dispatch_rules.values()
                if (not r.trunk_ids or trunk.sip_trunk_id in r.trunk_ids)
                and (not r.inbound_numbers or caller in r.inbound_numbers)
            ),
            None,
        )
        if rule is None:
            raise SipFailure(404, f"no dispatch rule for {called}")
        room = await self._create_room(_room_name(rule.rule, caller))
        phone = self._new_phone(
            room,
            identity=f"sip_{caller}",
            name="Phone " + caller,
            metadata="",
            attributes={
                **dict(rule.attributes),
                "sip.phoneNumber": caller,
                "sip.trunkPhoneNumber": called,
                "sip.trunkID": trunk.sip_trunk_id,
                "sip.ruleID": rule.sip_dispatch_rule_id,
                "sip.callStatus": CallStatus.ACTIVE.value,
            },
        )
        await room.join(phone)
        await room.connected(phone)
        await phone.answer()
        return phone

    # --- in-call -------------------------------------------------------------------------------------

    def phone_in(self, room_name: str, identity: str) -> SipPhone | None:
        """The live phone `identity` in `room_name`."""
        return next(
            (p for p in self.phones if p.room.name == room_name and p.identity == identity and not p.ended),
            None,
        )

    async def transfer(self, request: sip.TransferSIPParticipantRequest) -> None:
        """`TransferSIPParticipant`: a REFER to `transfer_to`; on success the phone leaves the room."""
        phone = self.phone_in(request.room_name, request.participant_identity)
        if phone is None:
            raise LookupError(f"no SIP participant {request.participant_identity!r} in {request.room_name!r}")
        if self.transfer_status != 200:
            raise SipFailure(self.transfer_status)
        phone.transferred_to = request.transfer_to
        await phone.hang_up()

    async def close(self) -> None:
        """End every call and the tasks driving them."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for phone in self.phones:
            await phone.removed(models.DisconnectReason.SERVER_SHUTDOWN)

    def _new_phone(
        self, room: Room, *, identity: str, name: str, metadata: str, attributes: dict[str, str]
    ) -> SipPhone:
        call_id = ids.new_sid(ids.SIP_CALL)
        attributes = {**attributes, "sip.callID": call_id}
        state = ParticipantState(
            identity=identity,
            name=name,
            metadata=metadata,
            attributes=attributes,
            kind=models.ParticipantInfo.Kind.SIP,
        )
        phone = SipPhone(room, state, call_id=call_id)
        self.phones.append(phone)
        return phone

    def _own(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and isinstance(task.exception(), SipFailure):
            logger.info("SIP call ended unanswered: %s", task.exception())
        elif not task.cancelled() and task.exception() is not None:
            logger.error("SIP call failed", exc_info=task.exception())


def _room_name(rule: sip.SIPDispatchRule, caller: str) -> str:
    kind = rule.WhichOneof("rule")
    if kind == "dispatch_rule_direct":
        return rule.dispatch_rule_direct.room_name
    prefix = rule.dispatch_rule_individual.room_prefix if kind == "dispatch_rule_individual" else ""
    if kind == "dispatch_rule_callee":
        prefix = rule.dispatch_rule_callee.room_prefix
    return f"{prefix}_{caller}_{secrets.token_hex(4)}"

"""What call-control does with calls: place them, answer them, hang them up, transfer them.

The HTTP routes, the Twilio webhooks and the bus control listener all come here, so an agent's `ctl.hangup`
and an operator's `POST /v1/calls/{id}/hangup` take the same path (and the same number checks for transfers).
What is done at the provider goes through the call's transport's `Telephony`.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Literal

from switchboard.call_control import twiml
from switchboard.call_control.call_attempts import zone_of
from switchboard.call_control.call_schedule import CallScheduler
from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.numbers import NumberPolicy
from switchboard.call_control.problems import ApiProblem
from switchboard.call_control.schemas import CreateCall
from switchboard.call_control.settings import CallControlSettings, StartConfig
from switchboard.call_control.status import announce_end
from switchboard.call_control.telephony import DialRequest, Telephony, TwilioTelephony
from switchboard.call_control.twilio_api import ProviderError
from switchboard.call_control.twilio_params import InboundCall
from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import (
    CallCreated,
    CallEnded,
    CallTransferred,
    ErrorOccurred,
    StatusChanged,
)
from switchboard.common.bus.subjects import valid_token
from switchboard.common.calls.attempts import RetryPolicy
from switchboard.common.calls.record import CallRecord, CallStatus, Transport
from switchboard.common.calls.store import CallStore, RecordConflict, RecordNotFound
from switchboard.common.errors import ErrorCategory, SwitchboardError
from switchboard.common.profiles import Profile, ProfileNotFound, ProfileStore

logger = logging.getLogger(__name__)

COMPONENT = "call-control"


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """An outbound call request that passed every check, ready to be placed."""

    to: str
    from_: str
    profile: Profile
    profile_revision: int
    max_duration_s: int
    machine_detection: bool
    metadata: dict[str, str] = field(default_factory=dict)
    transport: Transport = "twilio"
    webhook_url: str = ""
    retry: RetryPolicy | None = None
    timezone: str = ""


def new_call_id() -> str:
    """A fresh call id for an outbound call (a valid subject token)."""
    return "call_" + secrets.token_hex(12)


class CallService:
    """Places, answers, ends and transfers calls; keeps the record and the events in step."""

    def __init__(
        self,
        *,
        bus: Bus,
        store: CallStore,
        profiles: ProfileStore,
        twilio: TwilioTelephony,
        numbers: NumberPolicy,
        settings: CallControlSettings,
        config: StartConfig,
        metrics: CallControlMetrics,
        others: tuple[Telephony, ...] = (),
        scheduler: CallScheduler | None = None,
    ) -> None:
        self.scheduler = scheduler
        if scheduler is not None:
            scheduler.place = self.dial_scheduled
            scheduler.abandon = self.abandon
        self.bus = bus
        self.store = store
        self._profiles = profiles
        self._twilio = twilio
        self._telephony: dict[Transport, Telephony] = {twilio.transport: twilio}
        self._telephony.update({telephony.transport: telephony for telephony in others})
        self.numbers = numbers
        self._settings = settings
        self._config = config
        self._metrics = metrics

    # --- outbound ------------------------------------------------------------------------------------

    async def prepare(self, request: CreateCall) -> PreparedCall:
        """Check the numbers and the profile; raises `ApiProblem` (422) naming what is wrong."""
        try:
            self.telephony(request.transport)
            to = self.numbers.destination(request.to, "to")
            from_ = self.numbers.caller_id(request.from_ or self._settings.twilio_from_number, "from")
            profile, revision = await self._profile(request.profile)
        except ApiProblem as problem:
            self._metrics.calls_refused.labels(problem.code).inc()
            raise
        return PreparedCall(
            to=to,
            from_=from_,
            profile=profile,
            profile_revision=revision,
            max_duration_s=request.max_duration_s or profile.max_duration_s,
            machine_detection=request.machine_detection,
            metadata=dict(request.metadata),
            transport=request.transport,
            retry=retry.stored() if (retry := request.retry or profile.retry) is not None else None,
            timezone=request.timezone or zone_of(to, profile.timezone or "").key,
        )

    def _new_record(
        self, prepared: PreparedCall, call_id: str, *, scheduled_ns: int = 0, reason: str = ""
    ) -> CallRecord:
        return CallRecord(
            call_id=call_id,
            direction="outbound",
            transport=prepared.transport,
            to_number=prepared.to,
            from_number=prepared.from_,
            profile=prepared.profile.name,
            profile_revision=prepared.profile_revision,
            status=CallStatus.SCHEDULED if scheduled_ns else CallStatus.QUEUED,
            created_ns=time.time_ns(),
            max_duration_s=prepared.max_duration_s,
            metadata=prepared.metadata,
            webhook_url=prepared.webhook_url,
            machine_detection=prepared.machine_detection,
            retry=prepared.retry,
            timezone=prepared.timezone,
            scheduled_ns=scheduled_ns,
            scheduled_reason=reason,
        )

    async def _announce_created(self, record: CallRecord) -> None:
        await self.bus.publish_event(
            record.call_id,
            CallCreated(
                direction="outbound",
                to_number=record.to_number,
                from_number=record.from_number,
                profile=record.profile,
            ),
            msg_id=f"{record.call_id}:created",
        )

    async def place(self, prepared: PreparedCall, call_id: str) -> CallRecord:
        """Write the record, announce it, and ask the call's provider to dial.

        A provider failure marks the record `failed` and is raised as `ProviderError`.
        """
        record = self._new_record(prepared, call_id)
        await self.store.create(record)
        self._metrics.active_calls.inc()
        try:
            await self._announce_created(record)
        except Exception as error:  # NATS: the call was not placed, do not leave it queued forever
            await self._not_placed(call_id, error)
            raise
        return await self._dial(record)

    async def schedule(self, prepared: PreparedCall, call_id: str, at_ns: int, reason: str) -> CallRecord:
        """Write the record in status `scheduled` and queue it for `at_ns` (see `call_schedule`)."""
        if self.scheduler is None:
            raise ApiProblem(503, "scheduling_unavailable", "this call-control does not schedule calls")
        record = self._new_record(prepared, call_id, scheduled_ns=at_ns, reason=reason)
        await self.store.create(record)
        await self._announce_created(record)
        await self.scheduler.schedule(record)
        return record

    async def dial_scheduled(self, record: CallRecord) -> None:
        """Dial a scheduled call that has just been claimed (status `queued`); failures end it `failed`."""
        self._metrics.active_calls.inc()
        with contextlib.suppress(ProviderError):  # the record says why; nobody waits for an answer here
            await self._dial(record)

    async def abandon(self, record: CallRecord) -> None:
        """End a scheduled call whose replica died between claiming and dialing it."""
        self._metrics.active_calls.inc()  # fail() counts the end
        await self.fail(
            record.call_id,
            SwitchboardError("claimed but never dialed", category=ErrorCategory.INTERNAL, code="not_placed"),
        )

    async def cancel(self, call_id: str, *, by: str) -> CallRecord:
        """Cancel a scheduled call before it is placed; 409 for a call that is not `scheduled`."""
        now_ns = time.time_ns()
        canceled = False

        def cancel(current: CallRecord) -> CallRecord | None:
            nonlocal canceled
            canceled = current.status == CallStatus.SCHEDULED
            if not canceled:
                return None
            current.status = CallStatus.CANCELED
            current.ended_ns = now_ns
            current.ended_reason = "canceled"
            return current

        await self.get(call_id)  # 404 for an id that is not a call's
        record = await self.store.update(call_id, cancel)
        if not canceled:
            raise ApiProblem(
                409,
                "not_scheduled",
                f"call {call_id} is {record.status.value}: only a scheduled call can be canceled",
            )
        logger.info("scheduled call canceled by %s", by, extra={"call_id": call_id})
        await self.bus.publish_event(
            call_id, StatusChanged(status=CallStatus.CANCELED.value), msg_id=f"{call_id}:status:canceled"
        )
        await self.bus.publish_event(call_id, CallEnded(reason="canceled"), msg_id=f"{call_id}:ended")
        return record

    async def _not_placed(self, call_id: str, error: Exception) -> None:
        self._metrics.calls_created.labels("outbound", "internal_error").inc()
        with contextlib.suppress(Exception):
            await self.fail(
                call_id, SwitchboardError(f"not placed: {error!r}", category=ErrorCategory.INTERNAL)
            )

    async def _dial(self, record: CallRecord) -> CallRecord:
        call_id = record.call_id
        telephony = self.telephony(record.transport)
        try:
            placed = await telephony.dial(
                DialRequest(
                    call_id=call_id,
                    to=record.to_number,
                    from_=record.from_number,
                    ring_timeout_s=self._settings.ring_timeout_s,
                    max_duration_s=record.max_duration_s,
                    machine_detection=record.machine_detection,
                    voicemail=await self._voicemail_action(record),
                )
            )
        except ProviderError as error:
            self._metrics.calls_created.labels("outbound", "provider_error").inc()
            await self.fail(call_id, error)
            raise
        except Exception as error:  # NATS or a bug: the call was not placed, do not leave it queued forever
            await self._not_placed(call_id, error)
            raise
        self._metrics.calls_created.labels("outbound", "dialed").inc()
        logger.info("dialed %s (%s)", record.to_number, placed.provider_call_id, extra={"call_id": call_id})

        def with_sid(current: CallRecord) -> CallRecord:
            current.provider_call_id = current.provider_call_id or placed.provider_call_id
            return current

        return await self.store.update(call_id, with_sid)

    async def _voicemail_action(self, record: CallRecord) -> Literal["", "hang_up", "leave_message"]:
        """What the call's profile does with an answering machine ("" when it does not detect them)."""
        try:
            profile, _ = await self._profiles.get(record.profile)
        except SwitchboardError:
            return ""
        if profile.voicemail is None or not profile.voicemail.detect or record.transport != "twilio":
            return ""
        return profile.voicemail.action

    async def answer_outbound(self, call_id: str, answered_by: str) -> str:
        """The TwiML for an answered outbound call with machine detection: `AnsweredBy` decides.

        A machine gets `<Hangup>` when the profile leaves no message (the outcome is `voicemail`), else the
        stream, whose agent leaves the message; a person gets the stream.
        """
        record = await self.get(call_id)
        machine = answered_by.startswith("machine") or answered_by == "fax"
        action = await self._voicemail_action(record)

        def answered(current: CallRecord) -> CallRecord | None:
            changed = False
            if not current.answered_by:  # the status callback may have brought it first
                current.answered_by, changed = answered_by, True
            if machine and action == "hang_up" and not current.ended_reason:
                current.ended_reason, changed = "voicemail", True
            return current if changed else None

        await self.store.update(call_id, answered)
        if machine and action:
            self._metrics.voicemail.labels(action).inc()
            logger.info("answered by %s: %s", answered_by, action, extra={"call_id": call_id})
            if action == "hang_up":
                return twiml.hang_up()
        return self._twilio.stream_twiml(call_id)

    async def fail(self, call_id: str, error: SwitchboardError) -> None:
        """Mark a call that could not be placed `failed`, with the reason, and announce its end."""
        now_ns = time.time_ns()
        ended = False

        def failed(current: CallRecord) -> CallRecord | None:
            nonlocal ended
            ended = not current.status.final
            if not ended:
                return None
            current.status = CallStatus.FAILED
            current.ended_ns = now_ns
            current.ended_reason = error.code
            current.result = error.message[:500]
            return current

        record = await self.store.update(call_id, failed)
        if not ended:
            return
        await self.bus.publish_event(
            call_id,
            ErrorOccurred(
                component=COMPONENT, code=error.code, message=error.message, retryable=error.retryable
            ),
        )
        await self.bus.publish_event(
            call_id, StatusChanged(status=CallStatus.FAILED.value), msg_id=f"{call_id}:status:dial:failed"
        )
        await announce_end(self.bus, self._metrics, record)

    # --- inbound -------------------------------------------------------------------------------------

    async def answer_inbound(self, call: InboundCall) -> str:
        """The TwiML for a call to one of our numbers: the number picks the profile.

        The record is created once: the call id is Twilio's CallSid, so a retried webhook finds the same call.
        """
        call_sid, to, from_ = call.call_sid, call.to, call.from_
        record = await self.open_inbound(
            call_sid,
            transport="twilio",
            to=to,
            from_=from_,
            provider_call_id=call_sid,
            provider_status=call.provider_status,
        )
        return twiml.reject() if record is None else self._twilio.stream_twiml(record.call_id)

    async def open_inbound(
        self,
        call_id: str,
        *,
        transport: Transport,
        to: str,
        from_: str,
        provider_call_id: str,
        room: str = "",
        provider_status: str = "",
    ) -> CallRecord | None:
        """The record of an inbound call to `to`, created once (None: no profile answers that number).

        A repeated notice of the same call (the same `call_id`) finds the record already there.
        """
        name = self._settings.inbound_profiles.get(to) or self._settings.default_inbound_profile
        if not valid_token(call_id) or not name:
            logger.warning("no profile answers calls to %s: rejected", to)
            self._metrics.calls_created.labels("inbound", "rejected").inc()
            return None
        try:
            profile, revision = await self._profiles.get(name)
        except SwitchboardError:
            logger.exception("profile %r of %s is unavailable: call rejected", name, to)
            self._metrics.calls_created.labels("inbound", "rejected").inc()
            return None
        record = CallRecord(
            call_id=call_id,
            direction="inbound",
            transport=transport,
            to_number=to,
            from_number=from_,
            profile=name,
            profile_revision=revision,
            status=CallStatus.RINGING,
            provider_call_id=provider_call_id,
            room=room,
            created_ns=time.time_ns(),
            max_duration_s=profile.max_duration_s,
        )
        try:
            await self.store.create(record)
        except RecordConflict:
            logger.info("inbound call notified again", extra={"call_id": call_id})
            return record
        self._metrics.active_calls.inc()
        self._metrics.calls_created.labels("inbound", "answered").inc()
        await self.bus.publish_event(
            call_id,
            CallCreated(direction="inbound", to_number=to, from_number=from_, profile=name),
            msg_id=f"{call_id}:created",
        )
        await self.bus.publish_event(
            call_id,
            StatusChanged(status=CallStatus.RINGING.value, provider_status=provider_status),
            msg_id=f"{call_id}:status:inbound:ringing",
        )
        return record

    # --- live calls ----------------------------------------------------------------------------------

    async def get(self, call_id: str) -> CallRecord:
        """The record; raises `ApiProblem` 404."""
        if not valid_token(call_id):
            raise ApiProblem(404, "call_not_found", f"no call {call_id}", category=ErrorCategory.NOT_FOUND)
        try:
            record, _ = await self.store.get(call_id)
        except RecordNotFound as e:
            raise ApiProblem(
                404, "call_not_found", f"no call {call_id}", category=ErrorCategory.NOT_FOUND
            ) from e
        return record

    async def hang_up(self, call_id: str, reason: str, *, by: str) -> CallRecord:
        """End a live call through its provider; the provider's end report then ends the record with `reason`."""
        record = self._live(await self.get(call_id))

        def with_reason(current: CallRecord) -> CallRecord | None:
            if current.status.final:
                return None
            current.ended_reason = reason
            return current

        record = await self.store.update(call_id, with_reason)
        await self.telephony(record.transport).hang_up(record)
        logger.info("hung up by %s (%s)", by, reason, extra={"call_id": call_id})
        return record

    async def transfer(self, call_id: str, to: str, *, by: str) -> CallRecord:
        """Hand an answered call over to `to` (checked like any destination).

        The media leg ends; the call goes on with the person dialed.
        """
        destination = self.numbers.destination(to, "to")
        record = self._live(await self.get(call_id))
        if record.status != CallStatus.IN_PROGRESS:
            raise ApiProblem(
                409,
                "call_not_in_progress",
                f"only an answered call can be transferred (this one is {record.status.value})",
                category=ErrorCategory.CONFLICT,
            )
        telephony = self.telephony(record.transport)

        # The reason goes in first: a LiveKit REFER ends the SIP leg at once, and its end must find it there.
        def transferred(current: CallRecord) -> CallRecord | None:
            if current.status.final:
                return None
            current.ended_reason = "transferred"
            current.metadata = {**current.metadata, "transferred_to": destination}
            return current

        def not_transferred(current: CallRecord) -> CallRecord | None:
            if current.status.final or current.ended_reason != "transferred":
                return None
            current.ended_reason = ""
            current.metadata = {k: v for k, v in current.metadata.items() if k != "transferred_to"}
            return current

        record = await self.store.update(call_id, transferred)
        try:
            await telephony.transfer(record, destination)
        except Exception:
            await self.store.update(call_id, not_transferred)
            raise
        await self.bus.publish_event(call_id, CallTransferred(to=destination, requested_by=by))
        logger.info("transferred to %s by %s", destination, by, extra={"call_id": call_id})
        return record

    # --- helpers -------------------------------------------------------------------------------------

    def telephony(self, transport: Transport) -> Telephony:
        """The provider of `transport`; raises `ApiProblem` 422 when this call-control has none configured."""
        telephony = self._telephony.get(transport)
        if telephony is None:
            raise ApiProblem(
                422,
                "transport_unavailable",
                f"transport: {transport!r} is not configured on this call-control",
            )
        return telephony

    async def _profile(self, name: str) -> tuple[Profile, int]:
        try:
            return await self._profiles.get(name)
        except ProfileNotFound as e:
            raise ApiProblem(422, "unknown_profile", f"profile: there is no profile named {name!r}") from e

    @staticmethod
    def _live(record: CallRecord) -> CallRecord:
        if record.status.final:
            raise ApiProblem(
                409,
                "call_ended",
                f"call {record.call_id} has already ended ({record.status.value})",
                category=ErrorCategory.CONFLICT,
            )
        if not record.provider_call_id:
            raise ApiProblem(
                409,
                "call_not_dialed",
                f"call {record.call_id} is still being dialed: retry shortly",
                category=ErrorCategory.CONFLICT,
                headers={"Retry-After": "1"},
            )
        return record

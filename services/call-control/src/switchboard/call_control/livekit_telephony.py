"""LiveKit SIP through the `livekit-api` SDK: a room per call, the callee dialed into it, an edge joined to it.

Placing a call: create the room `call-{call_id}`, write it into the record, have a media edge join it
(`svc.edge.livekit.attach`), then, in a task of its own, wait until the edge is in the room (publishing) and
`CreateSIPParticipant` over the outbound trunk with `wait_until_answered`: the API answers the caller of
`POST /v1/calls` at once, and the SIP outcome arrives later. Dialling only once the edge is in the room (as a
LiveKit agent dials from its own room) lets the edge see the phone from `dialing` on, so `ringing` reaches the
record, and the greeting is ready at the answer; an edge slower than `livekit_edge_join_timeout_s` is logged
and counted, and the call dialled anyway. A failed dial ends the record with a clear outcome
(486/600/603 busy; 408/480/487 no-answer; 404/484 an invalid number; anything else failed) and its SIP status.
Hang-up deletes the room; transfer is `TransferSIPParticipant` (a SIP REFER) of the room's SIP participant.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from livekit import api

from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.settings import CallControlSettings
from switchboard.call_control.status import StatusTracker
from switchboard.call_control.telephony import DialRequest, Placed
from switchboard.call_control.twilio_api import ProviderError
from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachRequest, request_attach
from switchboard.common.bus.client import Bus
from switchboard.common.calls.record import CallRecord, CallStatus, Transport
from switchboard.common.calls.store import CallStore
from switchboard.common.errors import AttachError, ErrorCategory

logger = logging.getLogger(__name__)

CALL_ID_ATTRIBUTE = "switchboard.callID"
ROOM_PREFIX = "call-"
EDGE_KIND = api.ParticipantInfo.Kind.AGENT
"""The kind of participant the edge joins the room as."""
_FIRST_LOOK_S = 0.02
_LONGEST_LOOK_S = 0.2

#: SIP status of a failed dial → the call's outcome and the reason recorded.
_SIP_OUTCOMES: dict[int, tuple[CallStatus, str]] = {
    486: (CallStatus.BUSY, "busy"),
    600: (CallStatus.BUSY, "busy"),
    603: (CallStatus.BUSY, "declined"),
    408: (CallStatus.NO_ANSWER, "no-answer"),
    480: (CallStatus.NO_ANSWER, "no-answer"),
    487: (CallStatus.CANCELED, "canceled"),
    404: (CallStatus.FAILED, "invalid_number"),
    484: (CallStatus.FAILED, "invalid_number"),
}


def _is_edge(participant: api.ParticipantInfo) -> bool:
    """An agent participant publishing audio: the edge publishes once it is connected and follows the room."""
    return participant.kind == EDGE_KIND and any(
        track.type == api.TrackType.AUDIO for track in participant.tracks
    )


def room_for(call_id: str) -> str:
    """The room of an outbound call."""
    return ROOM_PREFIX + call_id


def sip_outcome(code: int | None) -> tuple[CallStatus, str]:
    """The outcome of a dial that failed with SIP status `code` (None: no SIP status at all)."""
    if code is None:
        return CallStatus.FAILED, "failed"
    return _SIP_OUTCOMES.get(code, (CallStatus.FAILED, "failed"))


class LiveKitTelephony:
    """Places, ends and transfers LiveKit calls; every API failure becomes a `ProviderError`."""

    transport: Transport = "livekit"

    def __init__(
        self,
        lkapi: api.LiveKitAPI,
        *,
        bus: Bus,
        store: CallStore,
        tracker: StatusTracker,
        settings: CallControlSettings,
        metrics: CallControlMetrics,
    ) -> None:
        self._api = lkapi
        self._bus = bus
        self._store = store
        self._tracker = tracker
        self._settings = settings
        self._metrics = metrics
        self._tasks: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Wait for the dials under way (their outcomes are written), then close the API client."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._api.aclose()

    # --- Telephony -----------------------------------------------------------------------------------

    async def dial(self, request: DialRequest) -> Placed:
        """Room, record, edge, then the SIP dial in the background."""
        room = room_for(request.call_id)
        with self._measured("create_room"):
            await self._api.room.create_room(
                api.CreateRoomRequest(name=room, empty_timeout=self._settings.livekit_empty_timeout_s)
            )

        def with_room(current: CallRecord) -> CallRecord:
            current.room = room
            current.provider_call_id = current.provider_call_id or room
            return current

        record = await self._store.update(request.call_id, with_room)
        await self.join_edge(record)
        task = asyncio.create_task(self._dial(request, room), name=f"sip-dial-{request.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Placed(room, "queued")

    async def hang_up(self, record: CallRecord) -> None:
        """Delete the room: LiveKit hangs the SIP call up; the edge then reports the end."""
        await self.delete_room(record.room)
        status = CallStatus.COMPLETED if record.answered_ns else CallStatus.CANCELED
        await self._tracker.apply_progress(record.call_id, status, "room_deleted")

    async def transfer(self, record: CallRecord, destination: str) -> None:
        """REFER the room's SIP participant to `destination`."""
        identity = await self._caller_identity(record)
        with self._measured("transfer"):
            await self._api.sip.transfer_sip_participant(
                api.TransferSIPParticipantRequest(
                    room_name=record.room, participant_identity=identity, transfer_to=f"tel:{destination}"
                )
            )

    # --- helpers -------------------------------------------------------------------------------------

    async def join_edge(self, record: CallRecord) -> None:
        """Have a media edge join the call's room; raises `ProviderError` (503) when none can."""
        try:
            await request_attach(
                self._bus,
                subjects.edge_attach(self.transport),
                AttachRequest(call_id=record.call_id, profile=record.profile, requester="call-control"),
            )
        except AttachError as exc:
            self._metrics.livekit_errors.labels("edge_attach", exc.code).inc()
            raise ProviderError(
                f"no media edge joined the call's room: {exc.message}",
                code="edge_unavailable",
                http_status=503,
                category=ErrorCategory.UNAVAILABLE,
            ) from exc

    async def delete_room(self, room: str) -> None:
        """Close `room` (every participant leaves, the SIP call is hung up)."""
        with self._measured("delete_room"):
            await self._api.room.delete_room(api.DeleteRoomRequest(room=room))

    async def _dial(self, request: DialRequest, room: str) -> None:
        settings = self._settings
        sip_request = api.CreateSIPParticipantRequest(
            sip_trunk_id=settings.livekit_outbound_trunk_id,
            sip_call_to=request.to,
            sip_number=request.from_,
            room_name=room,
            participant_identity=f"sip_{request.to}",
            participant_name="Phone",
            participant_attributes={CALL_ID_ATTRIBUTE: request.call_id},
            wait_until_answered=True,
        )
        sip_request.ringing_timeout.FromSeconds(request.ring_timeout_s)
        sip_request.max_call_duration.FromSeconds(request.max_duration_s)
        try:
            await self._wait_for_edge(request.call_id, room)
            info = await self._api.sip.create_sip_participant(sip_request)
        except api.SipCallError as error:
            code = error.sip_status_code
            status, reason = sip_outcome(code)
            sip_status = f"{code} {error.sip_status or ''}".strip() if code else ""
            self._metrics.livekit_errors.labels("dial", str(code or error.code)).inc()
            logger.info(
                "the dial ended %s (%s)", status.value, sip_status, extra={"call_id": request.call_id}
            )
            await self._tracker.apply_progress(
                request.call_id, status, "sip_failed", sip_status=sip_status, reason=reason
            )
        except (api.ServerError, aiohttp.ClientError, TimeoutError) as error:
            self._metrics.livekit_errors.labels("dial", type(error).__name__).inc()
            logger.warning("the dial failed: %s", error, extra={"call_id": request.call_id})
            await self._tracker.apply_progress(
                request.call_id, CallStatus.FAILED, "dial_failed", reason="failed"
            )
        except Exception:
            logger.exception("the dial failed", extra={"call_id": request.call_id})
            await self._tracker.apply_progress(
                request.call_id, CallStatus.FAILED, "dial_failed", reason="failed"
            )
        else:
            logger.info("answered (%s)", info.sip_call_id, extra={"call_id": request.call_id})

    async def _wait_for_edge(self, call_id: str, room: str) -> None:
        """Return once the edge is in `room` and publishing, or after the join timeout.

        Also returns when LiveKit cannot list the room: the dial that follows reports what is wrong.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.livekit_edge_join_timeout_s
        pause = _FIRST_LOOK_S
        while True:
            try:
                listed = await self._api.room.list_participants(api.ListParticipantsRequest(room=room))
            except (api.ServerError, aiohttp.ClientError, TimeoutError) as error:  # the dial will say more
                code = error.code if isinstance(error, api.ServerError) else "unreachable"
                self._metrics.livekit_errors.labels("list_participants", code).inc()
                logger.warning("could not see who is in the room: %s", error, extra={"call_id": call_id})
                return
            if any(_is_edge(participant) for participant in listed.participants):
                return
            if loop.time() + pause > deadline:
                self._metrics.livekit_errors.labels("edge_join", "timeout").inc()
                logger.warning(
                    "no edge in the room after %.1f s: dialling anyway",
                    self._settings.livekit_edge_join_timeout_s,
                    extra={"call_id": call_id},
                )
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_LOOK_S)

    async def _caller_identity(self, record: CallRecord) -> str:
        with self._measured("list_participants"):
            listed = await self._api.room.list_participants(api.ListParticipantsRequest(room=record.room))
        for participant in listed.participants:
            if participant.kind == api.ParticipantInfo.Kind.SIP:
                return participant.identity
        raise ProviderError(
            f"call {record.call_id} has no SIP participant in its room",
            code="call_not_in_progress",
            http_status=409,
            category=ErrorCategory.CONFLICT,
        )

    @contextmanager
    def _measured(self, operation: str) -> Iterator[None]:
        try:
            yield
        except api.ServerError as error:
            self._metrics.livekit_errors.labels(operation, error.code).inc()
            raise _from_twirp(operation, error) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            self._metrics.livekit_errors.labels(operation, "unreachable").inc()
            raise ProviderError(
                f"LiveKit could not be reached for {operation}: {error!r}",
                code="provider_unreachable",
                http_status=503,
                category=ErrorCategory.UNAVAILABLE,
                ambiguous=True,
            ) from error


def _from_twirp(operation: str, error: api.ServerError) -> ProviderError:
    said = f"LiveKit refused {operation} ({error.code}): {error.message}"
    if error.code in ("unauthenticated", "permission_denied"):
        return ProviderError(
            f"LiveKit rejected call-control's key ({error.code}): {error.message}",
            code="provider_auth_failed",
            http_status=502,
            category=ErrorCategory.PROVIDER,
        )
    if error.code == "not_found":
        return ProviderError(
            said, code="provider_not_found", http_status=409, category=ErrorCategory.CONFLICT
        )
    if error.code in ("unavailable", "internal", "deadline_exceeded", "resource_exhausted"):
        return ProviderError(
            said, code="provider_unavailable", http_status=502, category=ErrorCategory.UNAVAILABLE
        )
    return ProviderError(
        said, code="provider_rejected", http_status=422, category=ErrorCategory.INVALID_INPUT
    )

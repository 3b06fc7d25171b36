"""LiveKit's room webhooks: how call-control learns of an inbound LiveKit call.

An inbound trunk and a `dispatchRuleIndividual` put each caller in a new room; LiveKit then posts
`participant_joined` for the SIP participant. call-control creates the record (direction inbound, the numbers
from the participant's `sip.phoneNumber` and `sip.trunkPhoneNumber`, the profile configured for the called
number) and has a media edge join the room. A call to a number no profile answers is hung up (its room
deleted). Webhooks must carry LiveKit's signature (a JWT of the API key whose `sha256` is the body's); others
are 403 and counted. Our own outbound calls' participants (they carry the call id) are left alone.
"""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, Request, Response
from livekit import api

from switchboard.call_control.calls import CallService
from switchboard.call_control.livekit_telephony import CALL_ID_ATTRIBUTE, LiveKitTelephony
from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.problems import ApiProblem
from switchboard.call_control.twilio_api import ProviderError
from switchboard.common.errors import ErrorCategory

logger = logging.getLogger(__name__)

_NOT_TOKEN = re.compile(r"[^A-Za-z0-9_\-]")


def inbound_call_id(sip_call_id: str) -> str:
    """The call id of an inbound LiveKit call: LiveKit's SIP call id, as a subject token."""
    return "lk_" + _NOT_TOKEN.sub("_", sip_call_id)[:120]


def _bounded(value: str, limit: int = 32) -> str:
    """A participant attribute as the record keeps it: printable ASCII, at most `limit` characters."""
    return "".join(c for c in value[:limit] if c.isascii() and c.isprintable())


def livekit_router(
    service: CallService,
    telephony: LiveKitTelephony,
    receiver: api.WebhookReceiver,
    metrics: CallControlMetrics,
) -> APIRouter:
    """`POST /livekit/webhook`."""
    router = APIRouter(prefix="/livekit", tags=["LiveKit webhooks"])

    @router.post("/webhook", status_code=204, responses={403: {"description": "Not signed by LiveKit"}})
    async def webhook(request: Request) -> Response:
        """Room events of the LiveKit project; a SIP participant joining a room we do not know is a call."""
        body = (await request.body()).decode("utf-8", "replace")
        try:
            event = receiver.receive(body, request.headers.get("authorization", ""))
        except Exception as exc:
            metrics.signature_failures.labels("livekit").inc()
            logger.warning("refused a LiveKit webhook: %s", exc)
            raise ApiProblem(
                403,
                "invalid_signature",
                "the request is not signed by LiveKit with this API key",
                category=ErrorCategory.UNAUTHORIZED,
            ) from None
        participant = event.participant
        if event.event == "participant_joined" and participant.kind == api.ParticipantInfo.Kind.SIP:
            attributes = dict(participant.attributes)
            if CALL_ID_ATTRIBUTE not in attributes:
                await _inbound(service, telephony, event.room.name, attributes, participant.sid)
        return Response(status_code=204)

    return router


async def _inbound(
    service: CallService,
    telephony: LiveKitTelephony,
    room: str,
    attributes: dict[str, str],
    participant_sid: str,
) -> None:
    sip_call_id = _bounded(attributes.get("sip.callID") or participant_sid, 120)
    record = await service.open_inbound(
        inbound_call_id(sip_call_id),
        transport="livekit",
        to=_bounded(attributes.get("sip.trunkPhoneNumber", "")),
        from_=_bounded(attributes.get("sip.phoneNumber", "")),
        provider_call_id=sip_call_id,
        room=room,
        provider_status=_bounded(attributes.get("sip.callStatus", "")),
    )
    if record is None:
        await _reject(telephony, room)
        return
    if record.stream_id or record.status.final:
        return  # a repeated webhook: an edge has it already
    try:
        await telephony.join_edge(record)
    except ProviderError as error:
        logger.error("inbound call dropped: %s", error.message, extra={"call_id": record.call_id})
        await service.fail(record.call_id, error)
        await _reject(telephony, room)


async def _reject(telephony: LiveKitTelephony, room: str) -> None:
    try:
        await telephony.delete_room(room)
    except ProviderError as error:
        logger.warning("could not hang up the call in %s: %s", room, error.message)

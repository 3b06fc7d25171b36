"""The Twirp API at `/twirp/livekit.<Service>/<Method>`: RoomService, SIP and AgentDispatchService.

Requests and responses are protobuf (`application/protobuf`) or JSON, as Twirp allows; errors are Twirp's JSON
`{"code", "msg", "meta"}` with the matching HTTP status. Every call needs `Authorization: Bearer <token>` with
the grant LiveKit asks for (see `auth`); a SIP call that fails carries `sip_status_code`/`sip_status` in `meta`,
which `livekit-api` raises as `SipCallError`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit.protocol import agent_dispatch, models, room, sip

from switchboard.sim.livekit import ids
from switchboard.sim.livekit.auth import Unauthorized, bearer, require_room_admin, require_sip
from switchboard.sim.livekit.sip import SipFailure

if TYPE_CHECKING:
    from livekit.api.access_token import Claims

    from switchboard.sim.livekit.server import LiveKitEmulator

logger = logging.getLogger(__name__)

_HTTP_STATUS = {
    "invalid_argument": 400,
    "malformed": 400,
    "unauthenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "bad_route": 404,
    "already_exists": 409,
    "failed_precondition": 412,
    "deadline_exceeded": 504,
    "unavailable": 503,
    "internal": 500,
}


class TwirpError(Exception):
    """An error answered in Twirp's format."""

    def __init__(self, code: str, message: str, meta: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.meta = meta or {}

    def response(self) -> web.Response:
        """The HTTP response carrying it."""
        body = {"code": self.code, "msg": str(self), "meta": self.meta}
        return web.Response(
            status=_HTTP_STATUS.get(self.code, 500), text=json.dumps(body), content_type="application/json"
        )


def sip_error(failure: SipFailure) -> TwirpError:
    """The Twirp error LiveKit returns for a SIP call that failed with `failure.status`."""
    if failure.status in (404, 484):
        code = "not_found"
    elif failure.status == 408:
        code = "deadline_exceeded"
    else:
        code = "unavailable"
    meta = {"sip_status_code": str(failure.status), "sip_status": failure.reason}
    return TwirpError(code, str(failure), meta)


Handler = Callable[["Claims", Message], Awaitable[Message]]


@dataclass(frozen=True, slots=True)
class _Method:
    request: type[Message]
    handle: Handler


class TwirpApi:
    """The three services over one emulator."""

    def __init__(self, emulator: LiveKitEmulator) -> None:
        self._emulator = emulator
        self.dispatches: dict[str, agent_dispatch.AgentDispatch] = {}
        self._methods: dict[tuple[str, str], _Method] = {
            ("RoomService", "CreateRoom"): _Method(room.CreateRoomRequest, self._create_room),
            ("RoomService", "ListRooms"): _Method(room.ListRoomsRequest, self._list_rooms),
            ("RoomService", "DeleteRoom"): _Method(room.DeleteRoomRequest, self._delete_room),
            ("RoomService", "ListParticipants"): _Method(
                room.ListParticipantsRequest, self._list_participants
            ),
            ("RoomService", "GetParticipant"): _Method(room.RoomParticipantIdentity, self._get_participant),
            ("RoomService", "RemoveParticipant"): _Method(
                room.RoomParticipantIdentity, self._remove_participant
            ),
            ("RoomService", "UpdateParticipant"): _Method(
                room.UpdateParticipantRequest, self._update_participant
            ),
            ("SIP", "CreateSIPParticipant"): _Method(
                sip.CreateSIPParticipantRequest, self._create_sip_participant
            ),
            ("SIP", "TransferSIPParticipant"): _Method(sip.TransferSIPParticipantRequest, self._transfer),
            ("SIP", "CreateSIPInboundTrunk"): _Method(sip.CreateSIPInboundTrunkRequest, self._create_inbound),
            ("SIP", "CreateSIPOutboundTrunk"): _Method(
                sip.CreateSIPOutboundTrunkRequest, self._create_outbound
            ),
            ("SIP", "CreateSIPDispatchRule"): _Method(sip.CreateSIPDispatchRuleRequest, self._create_rule),
            ("SIP", "ListSIPInboundTrunk"): _Method(sip.ListSIPInboundTrunkRequest, self._list_inbound),
            ("SIP", "ListSIPOutboundTrunk"): _Method(sip.ListSIPOutboundTrunkRequest, self._list_outbound),
            ("SIP", "ListSIPDispatchRule"): _Method(sip.ListSIPDispatchRuleRequest, self._list_rules),
            ("AgentDispatchService", "CreateDispatch"): _Method(
                agent_dispatch.CreateAgentDispatchRequest, self._create_dispatch
            ),
            ("AgentDispatchService", "ListDispatch"): _Method(
                agent_dispatch.ListAgentDispatchRequest, self._list_dispatch
            ),
            ("AgentDispatchService", "DeleteDispatch"): _Method(
                agent_dispatch.DeleteAgentDispatchRequest, self._delete_dispatch
            ),
        }

    def install(self, app: web.Application) -> None:
        """Add the `/twirp/…` route."""
        app.router.add_post("/twirp/livekit.{service}/{method}", self._serve)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        method = self._methods.get((request.match_info["service"], request.match_info["method"]))
        if method is None:
            return TwirpError("bad_route", f"no such method: {request.path}").response()
        as_json = request.content_type == "application/json"
        try:
            claims = self._emulator.keys.verify(bearer(request.headers.get("Authorization")))
            body = await request.read()
            try:
                message = method.request()
                if as_json:
                    json_format.Parse(body.decode() or "{}", message, ignore_unknown_fields=True)
                else:
                    message.ParseFromString(body)
            except (DecodeError, json_format.ParseError, UnicodeDecodeError) as e:
                raise TwirpError("malformed", f"the request does not decode: {e}") from e
            reply = await method.handle(claims, message)
        except Unauthorized as e:
            return TwirpError("unauthenticated", str(e)).response()
        except TwirpError as e:
            return e.response()
        except SipFailure as e:
            return sip_error(e).response()
        except LookupError as e:
            return TwirpError("not_found", str(e.args[0] if e.args else e)).response()
        except ValueError as e:
            return TwirpError("invalid_argument", str(e)).response()
        if as_json:
            return web.Response(text=json_format.MessageToJson(reply), content_type="application/json")
        return web.Response(body=reply.SerializeToString(), content_type="application/protobuf")

    # --- RoomService ---------------------------------------------------------------------------------

    async def _create_room(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, room.CreateRoomRequest)
        require_room_admin(claims, create=True)
        if not request.name:
            raise ValueError("a room needs a name")
        created = await self._emulator.create_room(
            request.name,
            empty_timeout=request.empty_timeout or 300,
            departure_timeout=request.departure_timeout or 20,
            max_participants=request.max_participants,
            metadata=request.metadata,
        )
        for agent in request.agents:
            self._dispatch(agent.agent_name, created.name, agent.metadata)
        return created.info()

    async def _list_rooms(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, room.ListRoomsRequest)
        require_room_admin(claims, list_=True)
        names = set(request.names)
        rooms = [r.info() for r in self._emulator.rooms.values() if not names or r.name in names]
        return room.ListRoomsResponse(rooms=rooms)

    async def _delete_room(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, room.DeleteRoomRequest)
        require_room_admin(claims, create=True)
        if not await self._emulator.delete_room(request.room):
            raise LookupError(f"room {request.room!r} not found")
        return room.DeleteRoomResponse()

    async def _list_participants(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, room.ListParticipantsRequest)
        require_room_admin(claims, room=request.room)
        found = self._emulator.room(request.room)
        return room.ListParticipantsResponse(participants=[p.to_proto() for p in found.participants()])

    async def _get_participant(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, room.RoomParticipantIdentity)
        require_room_admin(claims, room=request.room)
        return self._emulator.member(request.room, request.identity).state.to_proto()

    async def _remove_participant(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, room.RoomParticipantIdentity)
        require_room_admin(claims, room=request.room)
        member = self._emulator.member(request.room, request.identity)
        found = self._emulator.room(request.room)
        await found.leave(member, models.DisconnectReason.PARTICIPANT_REMOVED)
        await member.removed(models.DisconnectReason.PARTICIPANT_REMOVED)
        return room.RemoveParticipantResponse()

    async def _update_participant(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, room.UpdateParticipantRequest)
        require_room_admin(claims, room=request.room)
        state = self._emulator.member(request.room, request.identity).state
        if request.metadata:
            state.metadata = request.metadata
        if request.name:
            state.name = request.name
        state.set_attributes(request.attributes)
        if request.HasField("permission"):
            state.can_publish = request.permission.can_publish
            state.can_subscribe = request.permission.can_subscribe
            state.can_publish_data = request.permission.can_publish_data
        await self._emulator.room(request.room).update(state)
        return state.to_proto()

    # --- SIP -----------------------------------------------------------------------------------------

    async def _create_sip_participant(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, sip.CreateSIPParticipantRequest)
        require_sip(claims, call=True)
        return await self._emulator.sip.dial(request)

    async def _transfer(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, sip.TransferSIPParticipantRequest)
        require_sip(claims, call=True)
        require_room_admin(claims, room=request.room_name)
        await self._emulator.sip.transfer(request)
        return sip.TransferSIPParticipantResponse()

    async def _create_inbound(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, sip.CreateSIPInboundTrunkRequest)
        require_sip(claims, call=False)
        return self._emulator.sip.add_inbound_trunk(request.trunk)

    async def _create_outbound(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, sip.CreateSIPOutboundTrunkRequest)
        require_sip(claims, call=False)
        return self._emulator.sip.add_outbound_trunk(request.trunk)

    async def _create_rule(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, sip.CreateSIPDispatchRuleRequest)
        require_sip(claims, call=False)
        rule = sip.SIPDispatchRuleInfo()
        if request.HasField("dispatch_rule"):
            rule.CopyFrom(request.dispatch_rule)
        else:
            rule.rule.CopyFrom(request.rule)
            rule.trunk_ids.extend(request.trunk_ids)
            rule.inbound_numbers.extend(request.inbound_numbers)
            rule.name = request.name
            rule.metadata = request.metadata
            rule.attributes.update(request.attributes)
            if request.HasField("room_config"):
                rule.room_config.CopyFrom(request.room_config)
        return self._emulator.sip.add_dispatch_rule(rule)

    async def _list_inbound(self, claims: Claims, request: Message) -> Message:
        require_sip(claims, call=False)
        return sip.ListSIPInboundTrunkResponse(items=list(self._emulator.sip.inbound_trunks.values()))

    async def _list_outbound(self, claims: Claims, request: Message) -> Message:
        require_sip(claims, call=False)
        return sip.ListSIPOutboundTrunkResponse(items=list(self._emulator.sip.outbound_trunks.values()))

    async def _list_rules(self, claims: Claims, request: Message) -> Message:
        require_sip(claims, call=False)
        return sip.ListSIPDispatchRuleResponse(items=list(self._emulator.sip.dispatch_rules.values()))

    # --- AgentDispatchService ------------------------------------------------------------------------

    def _dispatch(self, agent_name: str, room_name: str, metadata: str) -> agent_dispatch.AgentDispatch:
        dispatch = agent_dispatch.AgentDispatch(
            id=ids.new_sid(ids.DISPATCH), agent_name=agent_name, room=room_name, metadata=metadata
        )
        self.dispatches[dispatch.id] = dispatch
        return dispatch

    async def _create_dispatch(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, agent_dispatch.CreateAgentDispatchRequest)
        require_room_admin(claims, room=request.room)
        await self._emulator.create_room(request.room)
        return self._dispatch(request.agent_name, request.room, request.metadata)

    async def _list_dispatch(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, agent_dispatch.ListAgentDispatchRequest)
        require_room_admin(claims, room=request.room)
        found = [
            d
            for d in self.dispatches.values()
            if d.room == request.room and (not request.dispatch_id or d.id == request.dispatch_id)
        ]
        return agent_dispatch.ListAgentDispatchResponse(agent_dispatches=found)

    async def _delete_dispatch(self, claims: Claims, request: Message) -> Message:
        assert isinstance(request, agent_dispatch.DeleteAgentDispatchRequest)
        require_room_admin(claims, room=request.room)
        dispatch = self.dispatches.pop(request.dispatch_id, None)
        if dispatch is None:
            raise LookupError(f"dispatch {request.dispatch_id!r} not found")
        return dispatch

"""The LiveKit emulator: signalling (`/rtc`), the Twirp API (`/twirp/…`), rooms, SIP calls and webhooks.

Point the real SDKs at it: `rtc.Room().connect(emulator.ws_url, token)` and
`api.LiveKitAPI(emulator.http_url, api_key, api_secret)`. Tokens are checked like the server checks them
(`switchboard.sim.livekit.auth`); a refused token gets 401 on the upgrade, as from LiveKit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import aiohttp
from aiohttp import web
from livekit.protocol import models, rtc

from switchboard.sim.livekit import ids
from switchboard.sim.livekit.auth import ApiKeys, Unauthorized, bearer, require_join
from switchboard.sim.livekit.control import ControlApi
from switchboard.sim.livekit.participant import Member, ParticipantState
from switchboard.sim.livekit.room import Room
from switchboard.sim.livekit.signal import SignalSession
from switchboard.sim.livekit.sip import SipService
from switchboard.sim.livekit.twirp import TwirpApi
from switchboard.sim.livekit.webhooks import Webhooks

logger = logging.getLogger(__name__)

RoomListener = Callable[[Room, str, ParticipantState | None], Awaitable[None]]

_KINDS: dict[str, models.ParticipantInfo.Kind] = {
    "": models.ParticipantInfo.Kind.STANDARD,
    "standard": models.ParticipantInfo.Kind.STANDARD,
    "agent": models.ParticipantInfo.Kind.AGENT,
    "sip": models.ParticipantInfo.Kind.SIP,
    "ingress": models.ParticipantInfo.Kind.INGRESS,
    "egress": models.ParticipantInfo.Kind.EGRESS,
}


class LiveKitEmulator:
    """A LiveKit server for one API key, its rooms, its SIP service, and what it was asked.

    `rooms` holds the live rooms by name; `listeners` are called with `(room, event, participant)` for
    `room_started`, `participant_joined`, `participant_left` and `room_finished`; the webhooks are one of them
    (`webhook_urls`). `sip` is the SIP service (trunks, dispatch rules, callees, the phones of the calls);
    `twirp.dispatches` the agent dispatches created through the API.
    """

    def __init__(
        self,
        *,
        keys: ApiKeys | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_urls: list[str] | None = None,
    ) -> None:
        self.keys = keys or ApiKeys()
        self.sip = SipService(self.create_room)
        self.twirp = TwirpApi(self)
        self.webhook_urls = list(webhook_urls or [])
        self._webhooks: Webhooks | None = None
        self.rooms: dict[str, Room] = {}
        self.listeners: list[RoomListener] = []
        self.sessions: list[SignalSession] = []
        self.node_id = ids.new_sid("ND_")
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._routes: list[Callable[[web.Application], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.session: aiohttp.ClientSession | None = None

    # --- lifecycle -----------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def add_routes(self, install: Callable[[web.Application], None]) -> None:
        """Install more routes (the Twirp services, the control API) when the server starts."""
        self._routes.append(install)

    async def start(self) -> None:
        """Listen (port 0 picks a free port)."""
        self.session = aiohttp.ClientSession()
        self._webhooks = Webhooks(self.session, self.keys, self.webhook_urls)
        self.listeners.append(self._webhooks.on_room_event)
        self._own(asyncio.create_task(self._webhooks.run()))
        app = web.Application()
        app.router.add_get("/rtc/v1", self._v1)
        app.router.add_get("/rtc/validate", self._validate)
        app.router.add_get("/rtc", self._rtc)
        self.twirp.install(app)
        ControlApi(self).install(app)
        for install in self._routes:
            install(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        self._port = int(self._runner.addresses[0][1])
        logger.info("LiveKit emulator on %s (API key %s)", self.http_url, self.keys.api_key)

    async def stop(self) -> None:
        """End the calls, close every room and stop listening."""
        await self.sip.close()
        for room in list(self.rooms.values()):
            await self.delete_room(room.name)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self.session is not None:
            await self.session.close()

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:PORT``: the URL for `livekit-api`."""
        return f"http://{self._host}:{self._port}"

    @property
    def webhooks(self) -> Webhooks:
        """The webhook sender (`deliveries` lists what was sent)."""
        if self._webhooks is None:
            raise RuntimeError("the emulator is not started")
        return self._webhooks

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT``: the URL for `rtc.Room.connect`."""
        return f"ws://{self._host}:{self._port}"

    # --- rooms ---------------------------------------------------------------------------------------

    async def create_room(
        self,
        name: str,
        *,
        empty_timeout: int = 300,
        departure_timeout: int = 20,
        max_participants: int = 0,
        metadata: str = "",
    ) -> Room:
        """The room `name`, created (and `room_started` reported) if it does not exist.

        As on LiveKit, a room nobody joins closes after `empty_timeout` seconds, and one whose last participant
        left closes `departure_timeout` seconds later (`room_finished`).
        """
        room = self.rooms.get(name)
        if room is None:
            room = Room(
                name,
                on_event=self._room_event,
                empty_timeout=empty_timeout,
                departure_timeout=departure_timeout,
                max_participants=max_participants,
                metadata=metadata,
            )
            self.rooms[name] = room
            await room.started()
            self._own(asyncio.create_task(self._close_when_idle(room)))
        return room

    async def _close_when_idle(self, room: Room) -> None:
        grace = room.empty_timeout
        while True:
            try:
                async with asyncio.timeout(grace):
                    await room.wait_for(lambda r: bool(r.members) or r.closed)
            except TimeoutError:
                break
            if room.closed:
                return
            await room.wait_for(lambda r: not r.members or r.closed)
            if room.closed:
                return
            grace = room.departure_timeout
        if self.rooms.get(room.name) is room:
            logger.info("room %s closes: empty for %s s", room.name, grace)
            await self.delete_room(room.name)

    async def delete_room(self, name: str) -> bool:
        """Close the room `name` (members removed with ROOM_DELETED); False if there is none."""
        room = self.rooms.pop(name, None)
        if room is None:
            return False
        await room.close()
        return True

    def room(self, name: str) -> Room:
        """The live room `name`; `LookupError` if there is none."""
        found = self.rooms.get(name)
        if found is None:
            raise LookupError(f"room {name!r} not found")
        return found

    def member(self, room_name: str, identity: str) -> Member:
        """The participant `identity` of room `room_name`; `LookupError` if absent."""
        found = self.room(room_name).member(identity)
        if found is None:
            raise LookupError(f"participant {identity!r} not found in room {room_name!r}")
        return found

    def _own(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _room_event(self, room: Room, event: str, participant: ParticipantState | None) -> None:
        for listener in list(self.listeners):
            try:
                await listener(room, event, participant)
            except Exception:
                logger.exception("room listener failed on %s", event)

    # --- signalling ----------------------------------------------------------------------------------

    async def _v1(self, request: web.Request) -> web.StreamResponse:
        """The single-PeerConnection path is not served: 404 makes clients fall back to `/rtc`."""
        return web.Response(status=404, text="not found")

    def _claims_of(self, request: web.Request) -> tuple[str, ParticipantState]:
        token = bearer(request.headers.get("Authorization")) or request.query.get("access_token")
        claims = self.keys.verify(token)
        room = require_join(claims)
        video = claims.video
        state = ParticipantState(
            identity=claims.identity,
            name=claims.name,
            metadata=claims.metadata,
            attributes=dict(claims.attributes or {}),
            kind=_KINDS.get(claims.kind, models.ParticipantInfo.Kind.STANDARD),
            can_publish=video.can_publish if video else True,
            can_subscribe=video.can_subscribe if video else True,
            can_publish_data=video.can_publish_data if video else True,
        )
        return room, state

    async def _refuse_resume(self, request: web.Request) -> web.StreamResponse:
        """A resume (`reconnect=1`) needs an ICE restart, which aiortc cannot do: ask for a full reconnect.

        The server does the same when it cannot resume a session: a `leave` with action RECONNECT, on which the
        client joins anew (the new join replaces the old participant, same identity).
        """
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        leave = rtc.LeaveRequest(
            reason=models.DisconnectReason.STATE_MISMATCH,
            action=rtc.LeaveRequest.RECONNECT,
            can_reconnect=True,
        )
        await ws.send_bytes(rtc.SignalResponse(leave=leave).SerializeToString())
        await ws.close()
        return ws

    async def _validate(self, request: web.Request) -> web.StreamResponse:
        try:
            self._claims_of(request)
        except Unauthorized as e:
            return web.Response(status=401, text=str(e))
        return web.Response(text="success")

    async def _rtc(self, request: web.Request) -> web.StreamResponse:
        try:
            room_name, state = self._claims_of(request)
        except Unauthorized as e:
            logger.info("refused a signalling connection: %s", e)
            return web.Response(status=401, text=str(e))
        if request.query.get("reconnect") == "1":
            return await self._refuse_resume(request)
        room = await self.create_room(room_name)
        if room.max_participants and len(room.members) >= room.max_participants:
            return web.Response(status=403, text="room is full")
        ws = web.WebSocketResponse(max_msg_size=2**24, heartbeat=None)
        await ws.prepare(request)
        session = SignalSession(ws, room, state, node_id=self.node_id)
        self.sessions.append(session)
        await session.run()
        await ws.close()
        return ws

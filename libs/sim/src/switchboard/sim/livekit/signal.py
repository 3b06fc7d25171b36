"""One signalling client: the WebSocket of `/rtc`, its PeerConnections, and its life in the room.

The order follows the LiveKit server: `JoinResponse` first (publisher-primary: the client negotiates its publisher
PC at once, with its data channels), then the server offers the subscriber PC. `AddTrackRequest` is answered with
`TrackPublishedResponse`; the track is announced to the others when its media arrives on the publisher PC.
`ping_req` gets `pong_resp` (the client drops the connection without one), `update_metadata` a `RequestResponse`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

from aiohttp import WSMsgType, web
from aiortc import RTCIceCandidate, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcdatachannel import RTCDataChannel
from livekit.protocol import models, rtc

from switchboard.sim.livekit import ids
from switchboard.sim.livekit.participant import ParticipantState, PublishedTrack
from switchboard.sim.livekit.peer import (
    LOSSY,
    RELIABLE,
    SubscriberPeer,
    arrivals_of,
    forward_without_delay,
    new_peer_connection,
    parse_candidate,
)
from switchboard.sim.livekit.room import Room

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 16  # the server protocol the emulator speaks (dual PeerConnection, no single-PC path)
SERVER_VERSION = "1.9.0"
PING_INTERVAL_S = 5
PING_TIMEOUT_S = 15

_PUBLISHER = rtc.SignalTarget.PUBLISHER
_SUBSCRIBER = rtc.SignalTarget.SUBSCRIBER


def _now_ms() -> int:
    return int(time.time() * 1000)


class SignalSession:
    """A client connected over `/rtc`: a room member whose media and data travel over WebRTC."""

    def __init__(
        self, ws: web.WebSocketResponse, room: Room, state: ParticipantState, *, node_id: str
    ) -> None:
        self.ws = ws
        self.room = room
        self._state = state
        self._node_id = node_id
        self._send_lock = asyncio.Lock()
        self._publisher = new_peer_connection()
        self._subscriber = SubscriberPeer(self._send_offer)
        self._pending_infos: dict[str, models.TrackInfo] = {}
        self._early_candidates: dict[rtc.SignalTarget, list[RTCIceCandidate]] = {}
        self._published: dict[str, str] = {}  # the received track's id → the published track's sid
        self._described: set[rtc.SignalTarget] = set()  # PeerConnections that have the remote description
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = False
        self._closing = False
        self.received: list[rtc.SignalRequest] = []
        self._publisher.on("datachannel", self._on_datachannel)
        self._publisher.on("track", self._on_track)
        for pc in (self._publisher, self._subscriber.pc):
            pc.on("connectionstatechange", self._on_connection_state)

    @property
    def state(self) -> ParticipantState:
        """The participant record."""
        return self._state

    # --- the WebSocket ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Join, then serve the client's requests until it leaves, is removed or the socket closes."""
        others = await self.room.join(self)
        await self._send(rtc.SignalResponse(join=self._join_response(others)))
        self._spawn(self._subscriber.negotiate_forever())
        reason: models.DisconnectReason = models.DisconnectReason.CLIENT_INITIATED
        try:
            async for message in self.ws:
                if message.type != WSMsgType.BINARY:
                    continue
                request = rtc.SignalRequest.FromString(message.data)
                self.received.append(request)
                if not await self._handle(request):
                    break
        except Exception:
            logger.exception("signalling of %s in %s failed", self._state.identity, self.room.name)
            reason = models.DisconnectReason.SIGNAL_CLOSE
        finally:
            await self.room.leave(self, reason)
            await self._close_media()

    async def _handle(self, request: rtc.SignalRequest) -> bool:
        """Act on one request; False when the client leaves."""
        kind = request.WhichOneof("message")
        if kind == "offer":
            await self._on_publisher_offer(request.offer)
        elif kind == "answer":
            await self._subscriber.on_answer(request.answer.sdp)
            await self._flush_candidates(_SUBSCRIBER)
        elif kind == "trickle":
            candidate = parse_candidate(request.trickle.candidateInit)
            if candidate is not None:
                await self._add_candidate(request.trickle.target, candidate)
        elif kind == "add_track":
            await self._on_add_track(request.add_track)
        elif kind == "mute":
            await self._on_mute(request.mute)
        elif kind == "update_metadata":
            await self._on_update_metadata(request.update_metadata)
        elif kind == "ping_req":
            pong = rtc.Pong(last_ping_timestamp=request.ping_req.timestamp, timestamp=_now_ms())
            await self._send(rtc.SignalResponse(pong_resp=pong))
        elif kind == "ping":
            await self._send(rtc.SignalResponse(pong=_now_ms()))
        elif kind == "leave":
            return False
        else:
            logger.debug("%s: %s is accepted and ignored", self._state.identity, kind)
        return True

    async def _add_candidate(self, target: rtc.SignalTarget, candidate: RTCIceCandidate) -> None:
        """Add a trickled candidate, or keep it until its PeerConnection has the remote description."""
        pc = self._publisher if target == _PUBLISHER else self._subscriber.pc
        if target not in self._described:  # (aiortc's `remoteDescription` re-serializes the SDP on each read)
            self._early_candidates.setdefault(target, []).append(candidate)
        else:
            await pc.addIceCandidate(candidate)

    async def _flush_candidates(self, target: rtc.SignalTarget) -> None:
        self._described.add(target)
        for candidate in self._early_candidates.pop(target, []):
            await self._add_candidate(target, candidate)

    def _join_response(self, others: list[models.ParticipantInfo]) -> rtc.JoinResponse:
        return rtc.JoinResponse(
            room=self.room.info(),
            participant=self._state.to_proto(),
            other_participants=others,
            server_version=SERVER_VERSION,
            server_info=models.ServerInfo(
                edition=models.ServerInfo.Standard,
                version=SERVER_VERSION,
                protocol=PROTOCOL_VERSION,
                node_id=self._node_id,
                region="local",
            ),
            subscriber_primary=False,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
        )

    async def _send(self, response: rtc.SignalResponse) -> None:
        if self.ws.closed:
            return
        async with self._send_lock:
            with contextlib.suppress(ConnectionError):
                await self.ws.send_bytes(response.SerializeToString())

    async def _send_offer(self, sdp: str) -> None:
        await self._send(rtc.SignalResponse(offer=rtc.SessionDescription(type="offer", sdp=sdp)))

    # --- publishing ---------------------------------------------------------------------------------

    async def _on_publisher_offer(self, offer: rtc.SessionDescription) -> None:
        await self._publisher.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        forward_without_delay(self._publisher)
        await self._drop_unpublished()
        await self._flush_candidates(_PUBLISHER)
        answer = await self._publisher.createAnswer()
        await self._publisher.setLocalDescription(answer)
        sdp = self._publisher.localDescription.sdp
        await self._send(
            rtc.SignalResponse(answer=rtc.SessionDescription(type="answer", sdp=sdp, id=offer.id))
        )

    async def _drop_unpublished(self) -> None:
        """A re-offer that no longer sends a published track unpublishes it (the client signals nothing else)."""
        for transceiver in self._publisher.getTransceivers():
            media = transceiver.receiver.track
            sid = self._published.get(media.id) if media is not None else None
            # aiortc keeps the offered direction from its own side: "recvonly" while the client sends.
            if sid is not None and transceiver._offerDirection in ("inactive", "sendonly"):
                del self._published[media.id]
                await self.room.unpublish(self._state, sid)

    async def _on_add_track(self, request: rtc.AddTrackRequest) -> None:
        info = models.TrackInfo(
            sid=ids.new_sid(ids.TRACK),
            type=request.type,
            name=request.name,
            source=request.source,
            muted=request.muted,
            mime_type="audio/opus" if request.type == models.TrackType.AUDIO else "",
            stereo=request.stereo,
            disable_dtx=request.disable_dtx,
            stream=request.stream,
        )
        self._pending_infos[request.cid] = info
        await self._send(
            rtc.SignalResponse(track_published=rtc.TrackPublishedResponse(cid=request.cid, track=info))
        )

    def _on_track(self, track: MediaStreamTrack) -> None:
        cid = track.id if track.id in self._pending_infos else next(iter(self._pending_infos), None)
        if cid is None:
            logger.warning("%s sent a track it never announced (%s)", self._state.identity, track.id)
            return
        info = self._pending_infos.pop(cid)
        self._published[track.id] = info.sid
        forward_without_delay(self._publisher)  # the track event comes while the offer is being applied
        arrivals = arrivals_of(self._publisher, track)
        self._spawn(self.room.publish(self._state, info, track, arrivals))

    async def _on_mute(self, request: rtc.MuteTrackRequest) -> None:
        info = self._state.tracks.get(request.sid)
        if info is not None:
            info.muted = request.muted
            await self.room.update(self._state)

    async def _on_update_metadata(self, request: rtc.UpdateParticipantMetadata) -> None:
        self._state.name = request.name or self._state.name
        self._state.metadata = request.metadata
        self._state.set_attributes(request.attributes)
        await self.room.update(self._state)
        if request.request_id:
            response = rtc.RequestResponse(request_id=request.request_id, reason=rtc.RequestResponse.OK)
            await self._send(rtc.SignalResponse(request_response=response))

    # --- data ---------------------------------------------------------------------------------------

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        reliable = channel.label == RELIABLE

        def on_message(message: bytes | str) -> None:
            if isinstance(message, str):
                return
            packet = models.DataPacket.FromString(message)
            self.room.route_data(self._state, packet, reliable=reliable)

        channel.on("message", on_message)

    def receive_data(self, packet: models.DataPacket, *, reliable: bool) -> None:
        """Send a packet from another participant down the subscriber data channel of its kind."""
        self._subscriber.data.send(RELIABLE if reliable else LOSSY, packet.SerializeToString())

    # --- room events --------------------------------------------------------------------------------

    async def participants_changed(self, infos: list[models.ParticipantInfo]) -> None:
        """Send a `ParticipantUpdate`."""
        await self._send(rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=infos)))

    async def subscribe(self, track: PublishedTrack) -> None:
        """Add `track` to the subscriber PC (auto-subscribe); the offer follows."""
        self._subscriber.add_track(track)

    async def removed(self, reason: models.DisconnectReason) -> None:
        """Tell the client to leave for `reason`, and close."""
        leave = rtc.LeaveRequest(reason=reason, action=rtc.LeaveRequest.DISCONNECT, can_reconnect=False)
        await self._send(rtc.SignalResponse(leave=leave))
        await self.ws.close()

    async def _on_connection_state(self) -> None:
        connected = "connected" in (self._publisher.connectionState, self._subscriber.pc.connectionState)
        if connected and not self._active:
            self._active = True
            await self.room.connected(self)

    # --- tasks --------------------------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s: task failed", self._state.identity, exc_info=task.exception())

    async def _close_media(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._publisher.close()
        await self._subscriber.close()

"""A room: its members, the tracks they publish, and the fan-out of updates, media and data between them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack
from livekit.protocol import models

from switchboard.sim.livekit import ids
from switchboard.sim.livekit.arrivals import PacketArrivals
from switchboard.sim.livekit.participant import Member, ParticipantState, PublishedTrack

logger = logging.getLogger(__name__)

RoomEvent = Callable[["Room", str, ParticipantState | None], Awaitable[None]]
"""`(room, event, participant)` for `room_started`, `participant_joined`, `participant_left`, `room_finished`."""


class Room:
    """One room; members join and leave, publish tracks (relayed to every other member) and send data."""

    def __init__(
        self,
        name: str,
        *,
        on_event: RoomEvent,
        empty_timeout: int = 300,
        departure_timeout: int = 20,
        max_participants: int = 0,
        metadata: str = "",
    ) -> None:
        self.name = name
        self.sid = ids.new_sid(ids.ROOM)
        self.created_at = int(time.time())
        self.empty_timeout = empty_timeout
        self.departure_timeout = departure_timeout
        self.max_participants = max_participants
        self.metadata = metadata
        self.members: dict[str, Member] = {}
        self.tracks: dict[str, PublishedTrack] = {}
        self.closed = False
        self._on_event = on_event
        self._relay = MediaRelay()
        self._changed = asyncio.Condition()

    def info(self) -> models.Room:
        """The `Room` message (JoinResponse, RoomService)."""
        return models.Room(
            sid=self.sid,
            name=self.name,
            empty_timeout=self.empty_timeout,
            departure_timeout=self.departure_timeout,
            max_participants=self.max_participants,
            creation_time=self.created_at,
            creation_time_ms=self.created_at * 1000,
            metadata=self.metadata,
            num_participants=len(self.members),
            num_publishers=sum(1 for m in self.members.values() if m.state.tracks),
            active_recording=False,
        )

    def participants(self) -> list[ParticipantState]:
        """The records of the members, in joining order."""
        return [m.state for m in self.members.values()]

    def member(self, identity: str) -> Member | None:
        """The member with `identity`, if present."""
        return self.members.get(identity)

    async def started(self) -> None:
        """Report `room_started` (once, when the room is created)."""
        await self._on_event(self, "room_started", None)

    async def join(self, member: Member) -> list[models.ParticipantInfo]:
        """Admit `member` (replacing one with the same identity); returns the others, for its JoinResponse."""
        state = member.state
        previous = self.members.get(state.identity)
        if previous is not None:
            await self.leave(previous, models.DisconnectReason.DUPLICATE_IDENTITY)
            await previous.removed(models.DisconnectReason.DUPLICATE_IDENTITY)
        others = [m.state.to_proto() for m in self.members.values()]
        state.state = models.ParticipantInfo.State.JOINED
        state.touch()
        self.members[state.identity] = member
        await self._announce(state)
        await self._on_event(self, "participant_joined", state)
        await self._notify()
        return others

    async def connected(self, member: Member) -> None:
        """The member's media is up: announce it as ACTIVE and subscribe it to the tracks already there."""
        member.state.state = models.ParticipantInfo.State.ACTIVE
        member.state.touch()
        await self._announce(member.state)
        for track in list(self.tracks.values()):
            if track.publisher is not member.state:
                await member.subscribe(self._relayed(track))

    async def leave(self, member: Member, reason: models.DisconnectReason) -> None:
        """Remove `member` and its tracks, and tell the others."""
        state = member.state
        if self.members.get(state.identity) is not member:
            return
        del self.members[state.identity]
        for sid in list(state.tracks):
            self.tracks.pop(sid, None)
        state.state = models.ParticipantInfo.State.DISCONNECTED
        state.disconnect_reason = reason
        state.touch()
        await self._announce(state)
        await self._on_event(self, "participant_left", state)
        await self._notify()

    async def update(self, state: ParticipantState) -> None:
        """Tell everyone (the participant too) that `state` changed (metadata, attributes, name, mute)."""
        state.touch()
        info = state.to_proto()
        for member in list(self.members.values()):
            await member.participants_changed([info])
        await self._notify()

    async def publish(
        self,
        state: ParticipantState,
        info: models.TrackInfo,
        media: MediaStreamTrack,
        arrivals: PacketArrivals | None = None,
    ) -> None:
        """`state` publishes `media` as `info`; every other member subscribes to it."""
        track = PublishedTrack(publisher=state, info=info, media=media, arrivals=arrivals)
        state.tracks[info.sid] = info
        self.tracks[info.sid] = track
        await self._announce(state)
        for member in list(self.members.values()):
            if member.state is not state and member.state.state == models.ParticipantInfo.State.ACTIVE:
                await member.subscribe(self._relayed(track))
        await self._notify()

    async def unpublish(self, state: ParticipantState, sid: str) -> None:
        """`state` stopped publishing track `sid`: its media ends for every subscriber; everyone is told."""
        state.tracks.pop(sid, None)
        track = self.tracks.pop(sid, None)
        if track is not None:
            track.media.stop()
        state.touch()
        await self._announce(state)
        await self._notify()

    def route_data(self, sender: ParticipantState, packet: models.DataPacket, *, reliable: bool) -> None:
        """Deliver a data packet from `sender` to its destination identities (everyone else if none)."""
        packet.participant_identity = sender.identity
        packet.participant_sid = sender.sid
        destinations = set(packet.destination_identities)
        for identity, member in list(self.members.items()):
            if member.state is sender or (destinations and identity not in destinations):
                continue
            member.receive_data(packet, reliable=reliable)

    async def close(self) -> None:
        """DeleteRoom: remove every member (ROOM_DELETED) and report `room_finished`."""
        self.closed = True
        for member in list(self.members.values()):
            await self.leave(member, models.DisconnectReason.ROOM_DELETED)
            await member.removed(models.DisconnectReason.ROOM_DELETED)
        await self._on_event(self, "room_finished", None)
        await self._notify()

    async def wait_for(self, predicate: Callable[[Room], bool]) -> None:
        """Wait until `predicate(room)` holds (after any join, leave, update or publication); bound it with a timeout."""
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    def _relayed(self, track: PublishedTrack) -> PublishedTrack:
        """A per-subscriber copy of `track` whose media reads from one shared reader of the source."""
        media = self._relay.subscribe(track.media, buffered=False)
        return PublishedTrack(track.publisher, track.info, media, track.arrivals)

    async def _announce(self, state: ParticipantState) -> None:
        info = state.to_proto()
        for member in list(self.members.values()):
            if member.state is not state:
                await member.participants_changed([info])

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

"""What the room knows about one participant: its `ParticipantInfo`, kept as the server keeps it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from aiortc.mediastreams import MediaStreamTrack
from livekit.protocol import models

from switchboard.sim.livekit import ids
from switchboard.sim.livekit.arrivals import PacketArrivals


@dataclass(slots=True)
class ParticipantState:
    """Identity, metadata, attributes and published tracks; `version` grows with every change."""

    identity: str
    name: str = ""
    metadata: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    kind: models.ParticipantInfo.Kind = models.ParticipantInfo.Kind.STANDARD
    sid: str = field(default_factory=lambda: ids.new_sid(ids.PARTICIPANT))
    state: models.ParticipantInfo.State = models.ParticipantInfo.State.JOINING
    joined_at_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    version: int = 0
    tracks: dict[str, models.TrackInfo] = field(default_factory=dict)
    can_publish: bool = True
    can_subscribe: bool = True
    can_publish_data: bool = True
    disconnect_reason: models.DisconnectReason = models.DisconnectReason.UNKNOWN_REASON

    def touch(self) -> None:
        """Count a change, so clients keep only the newest update."""
        self.version += 1

    def set_attributes(self, attributes: Mapping[str, str]) -> None:
        """Merge `attributes`; an empty value deletes the key (as `UpdateParticipant` does)."""
        for key, value in attributes.items():
            if value:
                self.attributes[key] = value
            else:
                self.attributes.pop(key, None)
        self.touch()

    def to_proto(self) -> models.ParticipantInfo:
        """The `ParticipantInfo` sent in joins, updates and `ListParticipants`."""
        return models.ParticipantInfo(
            sid=self.sid,
            identity=self.identity,
            name=self.name,
            metadata=self.metadata,
            attributes=self.attributes,
            kind=self.kind,
            state=self.state,
            joined_at=self.joined_at_ms // 1000,
            joined_at_ms=self.joined_at_ms,
            version=self.version,
            tracks=list(self.tracks.values()),
            is_publisher=bool(self.tracks),
            disconnect_reason=self.disconnect_reason,
            permission=models.ParticipantPermission(
                can_subscribe=self.can_subscribe,
                can_publish=self.can_publish,
                can_publish_data=self.can_publish_data,
            ),
        )


@dataclass(slots=True)
class PublishedTrack:
    """A track a participant publishes, and the media it carries once it arrives."""

    publisher: ParticipantState
    info: models.TrackInfo
    media: MediaStreamTrack
    arrivals: PacketArrivals | None = (
        None  # when its packets reached the server, for a track sent over WebRTC
    )

    @property
    def sid(self) -> str:
        """The track's `TR_…` identifier."""
        return self.info.sid


class Member(Protocol):
    """Something in a room: a signalling client, or a participant the emulator plays itself (a SIP phone)."""

    @property
    def state(self) -> ParticipantState:
        """Its participant record."""
        ...

    async def participants_changed(self, infos: list[models.ParticipantInfo]) -> None:
        """Other participants joined, changed or left."""
        ...

    async def subscribe(self, track: PublishedTrack) -> None:
        """Start receiving `track` (auto-subscribe)."""
        ...

    def receive_data(self, packet: models.DataPacket, *, reliable: bool) -> None:
        """A data packet from another participant (user data, DTMF, …)."""
        ...

    async def removed(self, reason: models.DisconnectReason) -> None:
        """The server removes it from the room (RemoveParticipant, DeleteRoom, duplicate identity)."""
        ...

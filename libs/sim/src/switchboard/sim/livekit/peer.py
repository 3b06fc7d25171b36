"""The two PeerConnections of a signalling client, on the server's side, with aiortc.

As in LiveKit: the client offers on its publisher PC (its tracks and data channels come in here) and the server
offers on the subscriber PC (the other participants' tracks, and the server's `_reliable`/`_lossy` data
channels, go out there). ICE uses host candidates only; the server's candidates are in its SDP (aiortc gathers
before it answers or offers) and the client's arrive by trickle.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from aiortc import RTCConfiguration, RTCIceCandidate, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcdatachannel import RTCDataChannel
from aiortc.sdp import candidate_from_sdp

from switchboard.sim.livekit.arrivals import ForwardingJitterBuffer, PacketArrivals
from switchboard.sim.livekit.participant import PublishedTrack

logger = logging.getLogger(__name__)

RELIABLE = "_reliable"
LOSSY = "_lossy"

_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"  # aiortc's private, name-mangled attribute

SendOffer = Callable[[str], Awaitable[None]]


def new_peer_connection() -> RTCPeerConnection:
    """A PeerConnection bundling every m-line on one transport, as LiveKit's clients require."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


def forward_without_delay(pc: RTCPeerConnection) -> None:
    """Hand received audio packets on as they arrive, as an SFU forwards them, noting when each one came.

    aiortc's receiver holds packets back for reordering (a frame waits for the next one, and four more by
    default: up to 100 ms of Opus); LiveKit's SFU does not buffer, and the client's own jitter buffer absorbs what
    the network does. Without this the emulator would add latency the real path does not have, to every turn and
    every flush.
    """
    for receiver in pc.getReceivers():
        state = vars(receiver)
        buffer = state.get(_JITTER_BUFFER)
        if receiver.track is not None and receiver.track.kind == "audio" and buffer is not None:
            if not isinstance(buffer, ForwardingJitterBuffer):  # a renegotiation keeps a live one's state
                state[_JITTER_BUFFER] = ForwardingJitterBuffer(buffer.capacity, PacketArrivals())


def arrivals_of(pc: RTCPeerConnection, track: MediaStreamTrack) -> PacketArrivals | None:
    """When the packets of `track`, received on `pc`, reached the server (None for a track not stamped)."""
    for receiver in pc.getReceivers():
        buffer = vars(receiver).get(_JITTER_BUFFER)
        if receiver.track is track and isinstance(buffer, ForwardingJitterBuffer):
            return buffer.arrivals
    return None


def parse_candidate(candidate_init: str) -> RTCIceCandidate | None:
    """The candidate of a trickled `RTCIceCandidateInit` JSON; None for the end-of-candidates marker."""
    fields = json.loads(candidate_init)
    line = str(fields.get("candidate") or "")
    if not line:
        return None
    candidate = candidate_from_sdp(line.removeprefix("candidate:"))
    candidate.sdpMid = fields.get("sdpMid")
    candidate.sdpMLineIndex = fields.get("sdpMLineIndex")
    return candidate


class DataChannels:
    """Data channels by label; packets sent before a channel opens wait for it."""

    def __init__(self) -> None:
        self._channels: dict[str, RTCDataChannel] = {}
        self._pending: dict[str, list[bytes]] = {}

    def add(self, channel: RTCDataChannel) -> None:
        """Keep `channel` and flush what waited for it when it opens."""
        self._channels[channel.label] = channel

        def flush() -> None:
            for payload in self._pending.pop(channel.label, []):
                channel.send(payload)

        if channel.readyState == "open":
            flush()
        else:
            channel.on("open", flush)

    def send(self, label: str, payload: bytes) -> None:
        """Send on `label`, or queue until it opens."""
        channel = self._channels.get(label)
        if channel is not None and channel.readyState == "open":
            channel.send(payload)
        elif channel is None or channel.readyState == "connecting":
            self._pending.setdefault(label, []).append(payload)


class SubscriberPeer:
    """The server-offered PeerConnection that carries other participants' tracks to one client.

    Offers are serialized: a change while an offer waits for its answer triggers a new offer after the answer.
    """

    def __init__(self, send_offer: SendOffer) -> None:
        self.pc = new_peer_connection()
        self.data = DataChannels()
        self._send_offer = send_offer
        self._needed = asyncio.Event()
        self._answered = asyncio.Event()
        self._answered.set()
        self.data.add(self.pc.createDataChannel(RELIABLE, ordered=True))
        self.data.add(self.pc.createDataChannel(LOSSY, ordered=False, maxRetransmits=0))
        self._needed.set()

    def add_track(self, track: PublishedTrack) -> None:
        """Send `track`, with the stream id `PA_…|TR_…` the client resolves it by; renegotiates.

        A track whose `mime_type` names a codec (the SIP phone's `audio/PCMU`) is offered in that codec only.
        """
        sender = self.pc.addTrack(track.media)
        codecs = [
            c
            for c in RTCRtpSender.getCapabilities(track.media.kind).codecs
            if c.mimeType == track.info.mime_type
        ]
        if codecs:
            next(t for t in self.pc.getTransceivers() if t.sender is sender).setCodecPreferences(codecs)
        # aiortc writes `a=msid:<stream id> <track id>` from these; the client SDK parses the stream id.
        sender._stream_id = f"{track.publisher.sid}|{track.sid}"
        sender._track_id = track.sid
        self._needed.set()

    async def negotiate_forever(self) -> None:
        """Offer whenever something changed and no offer is waiting for its answer (runs until cancelled)."""
        while True:
            await self._needed.wait()
            await self._answered.wait()
            self._needed.clear()
            self._answered.clear()
            offer = await self.pc.createOffer()
            await self.pc.setLocalDescription(offer)
            await self._send_offer(self.pc.localDescription.sdp)

    async def on_answer(self, sdp: str) -> None:
        """The client's answer to the last offer."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        self._answered.set()

    async def add_candidate(self, candidate: RTCIceCandidate) -> None:
        """A trickled candidate of the client's subscriber PC."""
        await self.pc.addIceCandidate(candidate)

    async def close(self) -> None:
        """Close the PeerConnection."""
        await self.pc.close()

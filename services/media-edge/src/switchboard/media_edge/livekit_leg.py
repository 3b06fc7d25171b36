"""A LiveKit call's phone leg: the edge in the call's room, with the SIP participant.

The edge joins the room (livekit `rtc`) as an agent participant, takes the SIP participant's microphone at the
agent's input rate (`AudioStream` resamples), and publishes the agent's audio from an `AudioSource` at the
agent's output rate (`SourcePlayback`). Key presses come as `sip_dtmf_received` and go out with
`publish_dtmf`. The participant's `sip.callStatus` is reported to call-control as `ctl.progress`, which keeps
the record. The leg ends when the SIP participant leaves, the room closes, or the edge closes it; when the edge
ends a call whose caller is still there, it asks call-control to hang up (`ctl.hangup`).

Calls run on the edge's event loop, like Twilio streams: no process per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from livekit import api, rtc

from switchboard.common.bus.formats import AudioFormat
from switchboard.common.bus.messages import CallProgress, Hangup
from switchboard.common.calls.record import CallStatus
from switchboard.common.profiles import PROVIDER_AUDIO, Profile
from switchboard.common.runtime.logs import bind_call
from switchboard.media_edge.call import EdgeCall
from switchboard.media_edge.call_setup import Refusal, claim_call
from switchboard.media_edge.edge import MediaEdge
from switchboard.media_edge.leg import LegIds
from switchboard.media_edge.livekit_events import own_frames_only, room_events_only
from switchboard.media_edge.livekit_playback import SourcePlayback

logger = logging.getLogger(__name__)

SIP_KIND = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
CALL_STATUS_ATTRIBUTE = "sip.callStatus"
SIP_CALL_ID_ATTRIBUTE = "sip.callID"
EDGE_IDENTITY = "switchboard-agent"
FRAME_MS = 20

#: `sip.callStatus` → the call's status.
SIP_CALL_STATUS = {
    "dialing": CallStatus.INITIATED,
    "ringing": CallStatus.RINGING,
    "active": CallStatus.IN_PROGRESS,
    "automation": CallStatus.IN_PROGRESS,
    "hangup": CallStatus.COMPLETED,
}

#: DTMF digits and their RFC 4733 event codes.
DTMF_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}


@dataclass(frozen=True, slots=True)
class LiveKitAccess:
    """Where the LiveKit server is and the key the edge signs its join tokens with."""

    url: str
    api_key: str
    api_secret: str

    def join_token(self, room: str, identity: str = EDGE_IDENTITY) -> str:
        """A token that joins `room` as the call's agent participant."""
        grants = api.VideoGrants(
            room_join=True, room=room, can_publish=True, can_subscribe=True, can_publish_data=True, agent=True
        )
        token = api.AccessToken(self.api_key, self.api_secret).with_identity(identity).with_name("agent")
        return token.with_kind("agent").with_grants(grants).to_jwt()


class LiveKitSession:
    """One LiveKit call from the join to the end; `run()` returns when it is over and nothing is left running."""

    transport = "livekit"

    def __init__(self, edge: MediaEdge, access: LiveKitAccess, call_id: str, room_name: str) -> None:
        self._edge = edge
        self._access = access
        self._metrics = edge.metrics
        self.call_id = call_id
        self.room_name = room_name
        self.caller_formats: tuple[AudioFormat, AudioFormat] | None = None
        self.end_reason = "room_closed"
        self.call: EdgeCall | None = None
        self._room = rtc.Room()
        self._ended = asyncio.Event()
        self._closing = False
        self._caller: rtc.RemoteParticipant | None = None
        self._caller_gone = False
        self._sequence = 0
        self._last_status: CallStatus | None = None
        self._profile: Profile | None = None
        self._answered = False
        self._connected = False
        self._mic: rtc.Track | None = None
        self._listening = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._log: logging.LoggerAdapter[logging.Logger] = logging.LoggerAdapter(logger, {"room": room_name})

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Join the room and serve the call until the caller leaves, the room closes or the edge ends it."""
        bind_call(self.call_id)
        source: rtc.AudioSource | None = None
        try:
            try:
                _, profile = await claim_call(
                    self._edge.calls,
                    self._edge.profiles,
                    self.call_id,
                    LegIds(self.room_name, ""),
                    self.transport,
                    edge_instance=self._edge.settings.instance_id,
                )
            except Refusal as refusal:
                self._refused(refusal.reason, refusal.detail)
                return
            agent_in, agent_out = PROVIDER_AUDIO[profile.provider]
            self.caller_formats = (agent_in, agent_out)
            self._wire_room()
            try:
                await self._room.connect(
                    self._access.url,
                    self._access.join_token(self.room_name),
                    rtc.RoomOptions(auto_subscribe=True),
                )
            except rtc.ConnectError as exc:
                self._refused("livekit_refused", str(exc))
                await self._hang_up("livekit_refused")
                return
            room_events_only(self._room)
            source = rtc.AudioSource(agent_out.rate, 1)
            track = rtc.LocalAudioTrack.create_audio_track("agent", source)
            await self._room.local_participant.publish_track(
                track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            )
            self.call = EdgeCall(
                self._edge,
                self,
                self.call_id,
                LegIds(self.room_name, ""),
                SourcePlayback(source, time.monotonic),
                self._log,
            )
            self._log.info("joined the room")
            self._profile = profile
            for participant in self._room.remote_participants.values():
                self._on_participant(participant)
            self._connect()
            self._listen_to_caller()
            await self._ended.wait()
        finally:
            await self._teardown(source)

    async def close(self, code: int, reason: str) -> None:
        """End the leg from this side; a caller still in the room is hung up through call-control."""
        if self._closing:
            return
        self._closing = True
        if self.call is not None:
            self.call.closing = True
        self.end_reason = reason
        if reason != "hangup" and self._caller is not None and not self._caller_gone:
            await self._hang_up(reason)
        self._ended.set()

    async def send_dtmf(self, digits: str) -> bool:
        """Publish each digit as SIP DTMF to the room (LiveKit plays it to the phone)."""
        if any(digit not in DTMF_CODES for digit in digits):
            return False
        for digit in digits:
            await self._room.local_participant.publish_dtmf(code=DTMF_CODES[digit], digit=digit)
        return True

    def _refused(self, reason: str, detail: str) -> None:
        self._metrics.refused.labels(reason).inc()
        self._log.warning("refused the call (%s): %s", reason, detail)
        self.end_reason = "refused"

    async def _hang_up(self, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self._edge.bus.publish_control(self.call_id, Hangup(reason=reason))

    async def _teardown(self, source: rtc.AudioSource | None) -> None:
        self._closing = True
        if self.call is not None:
            await self.call.teardown(self.end_reason)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._room.disconnect()
        if source is not None:
            with contextlib.suppress(Exception):
                await source.aclose()
        self._metrics.streams.labels(self.end_reason).inc()
        self._log.info("left the room (%s)", self.end_reason)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=f"{name}-{self.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the room --------------------------------------------------------------------------------

    def _wire_room(self) -> None:
        room = self._room
        room.on("participant_connected", self._on_participant)
        room.on("participant_attributes_changed", self._on_attributes)
        room.on("participant_disconnected", self._on_participant_left)
        room.on("track_subscribed", self._on_track)
        room.on("sip_dtmf_received", self._on_dtmf)
        room.on("disconnected", self._on_disconnected)

    def _is_caller(self, participant: rtc.RemoteParticipant) -> bool:
        if self._caller is not None:
            return participant.sid == self._caller.sid
        return participant.kind == SIP_KIND

    def _on_participant(self, participant: rtc.RemoteParticipant) -> None:
        if not self._is_caller(participant) or self._caller is not None:
            return
        self._caller = participant
        self._log.info("the caller is %s", participant.identity)
        self._follow_status(participant.attributes)
        for publication in participant.track_publications.values():
            if publication.track is not None:
                self._on_track(publication.track, publication, participant)

    def _on_attributes(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        if isinstance(participant, rtc.RemoteParticipant) and self._caller is not None:
            if participant.sid == self._caller.sid:
                # `changed` holds this change's values; the SDK may hand over attributes already newer than it
                # (ringing then active in quick succession would otherwise show `active` twice)
                self._follow_status({**participant.attributes, **changed})

    def _on_participant_left(self, participant: rtc.RemoteParticipant) -> None:
        if self._caller is None or participant.sid != self._caller.sid:
            return
        self._caller_gone = True
        if self._answered:  # unanswered: the dial's SIP status is the outcome (call-control has it)
            self._report(CallStatus.COMPLETED, "hangup")
        hung_up = self.call is not None and self.call.hangup_requested
        if not self._closing:
            self.end_reason = "hangup" if hung_up else "stop"
            self._closing = True
        self._ended.set()

    def _on_disconnected(self, reason: object) -> None:
        if not self._caller_gone and self._caller is not None:
            self._caller_gone = True
            if self._answered:
                self._report(CallStatus.COMPLETED, "room_closed")
        if not self._closing:
            hung_up = self.call is not None and self.call.hangup_requested
            self.end_reason = "hangup" if hung_up else "room_closed"
            self._closing = True
        self._ended.set()

    def _on_track(
        self, track: rtc.Track, publication: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO or not self._is_caller(participant):
            return
        if self._caller is None:
            self._on_participant(participant)
            return
        self._mic = track
        self._listen_to_caller()

    def _listen_to_caller(self) -> None:
        """Take the caller's microphone once there is one and the call is set up (whichever comes last)."""
        if self._mic is not None and self.call is not None and not self._listening:
            self._listening = True
            self._spawn(self._listen(self._mic), "mic")

    def _on_dtmf(self, dtmf: rtc.SipDTMF) -> None:
        if self.call is None or (dtmf.participant is not None and not self._is_caller(dtmf.participant)):
            return
        self.call.on_dtmf(dtmf.digit)

    def _follow_status(self, attributes: dict[str, str]) -> None:
        """Report the caller's status; once it answers, attach the agent (so the greeting is heard)."""
        provider_status = attributes.get(CALL_STATUS_ATTRIBUTE, "")
        status = SIP_CALL_STATUS.get(provider_status)
        if status is None or (status.final and not self._answered):
            return
        self._report(status, provider_status)
        if status == CallStatus.IN_PROGRESS and not self._answered:
            self._answered = True
            self._connect()

    def _connect(self) -> None:
        """Attach the agent once the caller has answered and the call is set up (whichever comes last)."""
        if self._answered and not self._connected and self.call is not None and self._profile is not None:
            self._connected = True
            self._spawn(self.call.connect(self._profile), "connect")

    def _report(self, status: CallStatus, provider_status: str) -> None:
        if status == self._last_status:
            return
        self._last_status = status
        self._sequence += 1
        self._log.info("caller %s", provider_status)
        self._spawn(
            self._edge.bus.publish_control(
                self.call_id,
                CallProgress(status=status.value, provider_status=provider_status, sequence=self._sequence),
            ),
            "progress",
        )

    # --- caller audio ----------------------------------------------------------------------------

    async def _listen(self, track: rtc.Track) -> None:
        """The caller's microphone at the agent's input rate, 20 ms a frame, into the call's uplink."""
        assert self.caller_formats is not None and self.call is not None
        uplink = self.call.uplink
        stream = rtc.AudioStream(
            track, sample_rate=self.caller_formats[0].rate, num_channels=1, frame_size_ms=FRAME_MS
        )
        started = time.monotonic()
        seq = 0
        try:
            own_frames_only(stream)
            async for event in stream:
                seq += 1
                frame = event.frame
                await uplink.on_audio(
                    bytes(frame.data), seq, round((time.monotonic() - started) * 1000), time.time_ns()
                )
        finally:
            await stream.aclose()

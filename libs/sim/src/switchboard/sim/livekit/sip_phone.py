"""The phone at the far end of a SIP call, as a participant of kind SIP in a room.

LiveKit's SIP service joins the room on the phone's behalf: the participant appears while the call is dialling
(`sip.callStatus` `dialing` → `ringing` → `active`, `hangup` at the end), publishes the caller's microphone,
subscribes to the room's audio, and turns RFC 4733 digits into `SipDTMF` data packets (both ways). This phone does
the same, in-process, and records the call like the Twilio simulated phone (`MediaStreamCall`): what the caller
said and heard on one timeline from the answer, and the same `CallReport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from livekit.protocol import models

from switchboard.common.audio.g711 import ulaw_decode
from switchboard.sim.livekit import ids
from switchboard.sim.livekit.participant import ParticipantState, PublishedTrack
from switchboard.sim.livekit.phone_media import Earpiece, Microphone
from switchboard.sim.livekit.room import Room
from switchboard.sim.phone.errors import CallEnded
from switchboard.sim.phone.heard import SILENCE_DBFS, HeardAudio, stereo_wav
from switchboard.sim.phone.messages import DTMF_DIGITS, SAMPLE_RATE
from switchboard.sim.phone.outbound import CallerAudio, Utterance, load_wav, to_ulaw
from switchboard.sim.phone.pacing import FrameSchedule, PacingStats
from switchboard.sim.phone.playout import PlayoutBuffer
from switchboard.sim.phone.report import CallReport, StreamCounters, StreamRecord, build_report
from switchboard.sim.speech import Voice, synthesize

logger = logging.getLogger(__name__)

POLL_S = 0.02
DTMF_CODES = {**{str(n): n for n in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}


class CallStatus(StrEnum):
    """The values of the `sip.callStatus` attribute."""

    DIALING = "dialing"
    RINGING = "ringing"
    ACTIVE = "active"
    HANGUP = "hangup"


class SipPhone:
    """A SIP call's far end in a room. Times in queries and reports are seconds since the call was answered."""

    def __init__(self, room: Room, state: ParticipantState, *, call_id: str | None = None) -> None:
        self.room = room
        self._state = state
        self.call_id = call_id or ids.new_sid(ids.SIP_CALL)
        self.counters = StreamCounters()
        self.dtmf_received: list[tuple[float, str]] = []
        self.transferred_to: str | None = None
        self._caller = CallerAudio()
        self._said = bytearray()
        self._buffer: PlayoutBuffer | None = None
        self._schedule: FrameSchedule | None = None
        self._microphone = Microphone()
        self._earpieces: list[Earpiece] = []
        self._before_answer: list[PublishedTrack] = []  # the room's tracks, kept until the call is answered
        self._tasks: set[asyncio.Task[None]] = set()
        self._ended = asyncio.Event()
        self._failures: list[BaseException] = []

    @property
    def state(self) -> ParticipantState:
        """The SIP participant's record."""
        return self._state

    @property
    def identity(self) -> str:
        """The participant identity (`sip_+1555…` unless the request named one)."""
        return self._state.identity

    @property
    def status(self) -> str:
        """The current `sip.callStatus`."""
        return self._state.attributes.get("sip.callStatus", "")

    @property
    def answered(self) -> bool:
        """Whether the call was answered (its media started)."""
        return self._buffer is not None

    @property
    def ended(self) -> bool:
        """Whether the call is over (either side hung up, or it was never answered)."""
        return self._ended.is_set()

    async def wait_ended(self) -> None:
        """Wait until the call is over; bound it with `asyncio.timeout`."""
        await self._ended.wait()

    # --- call progress (driven by the SIP service) ----------------------------------------------------

    async def set_status(self, status: CallStatus) -> None:
        """Change `sip.callStatus` and tell the room."""
        self._state.attributes["sip.callStatus"] = status.value
        await self.room.update(self._state)

    async def answer(self) -> None:
        """The call is answered: start the media, publish the microphone, become `active`."""
        origin = time.monotonic()
        self._buffer = PlayoutBuffer(origin=origin)
        self._schedule = FrameSchedule(origin)
        self._spawn(self._pace(self._schedule))
        track = models.TrackInfo(
            sid=ids.new_sid(ids.TRACK),
            type=models.TrackType.AUDIO,
            name="phone",
            source=models.TrackSource.MICROPHONE,
            mime_type="audio/PCMU",
        )
        await self.room.publish(self._state, track, self._microphone)
        await self.set_status(CallStatus.ACTIVE)
        waiting, self._before_answer = self._before_answer, []
        for published in waiting:
            await self.subscribe(published)

    async def fail(self, reason: models.DisconnectReason) -> None:
        """The call was not answered (busy, no answer, failure): `hangup`, then leave the room."""
        await self._finish(reason, announce=True)

    # --- what the caller does ------------------------------------------------------------------------

    async def say(
        self, speech: str | npt.NDArray[np.int16], *, language: str = "en", voice: Voice = "auto"
    ) -> Utterance:
        """Queue speech (text, or PCM16 at 8 kHz) after what the caller is already saying; returns when queued."""
        if isinstance(speech, str):
            samples = await asyncio.to_thread(synthesize, speech, SAMPLE_RATE, language=language, voice=voice)
            label = speech
        else:
            samples, label = speech, f"{speech.size} samples"
        return self._queue_speech(samples, label)

    async def play_wav(self, path: str | Path) -> Utterance:
        """Queue a PCM WAV file (any rate) as the caller's speech."""
        return self._queue_speech(await asyncio.to_thread(load_wav, path), str(path))

    def _queue_speech(self, samples: npt.NDArray[np.int16], label: str) -> Utterance:
        if self.ended or self._buffer is None:
            raise CallEnded("the call is not in progress: nothing can be said")
        utterance = Utterance(to_ulaw(samples), label)
        self._caller.queue(utterance)
        return utterance

    async def wait_spoken(self) -> None:
        """Wait until everything queued has been sent."""
        await self._caller.wait_idle()

    async def dtmf(self, digit: str) -> None:
        """Press a key: a `SipDTMF` data packet from this participant, as LiveKit's SIP service sends it."""
        if digit not in DTMF_DIGITS or len(digit) != 1:
            raise ValueError(f"not a DTMF digit: {digit!r}")
        packet = models.DataPacket(
            kind=models.DataPacket.RELIABLE, sip_dtmf=models.SipDTMF(code=DTMF_CODES[digit], digit=digit)
        )
        self.room.route_data(self._state, packet, reliable=True)
        self.counters.dtmf_sent += 1

    async def hang_up(self) -> None:
        """The caller hangs up: `hangup`, then the participant leaves the room."""
        await self._finish(models.DisconnectReason.CLIENT_INITIATED, announce=True)
        self.counters.closed_by = "phone"

    def note_clear(self) -> None:
        """Record that the agent's side flushes its audio now (for the report's audio heard after a clear).

        A SIP phone is never told of a flush: whoever sees it (a test on the bus) notes it here, at the moment
        the edge is told to flush. Nothing is dropped: what reached the server before that moment was in
        flight and plays out, as it would on a real line. The report counts, as heard after the clear, the
        audible audio whose packets reached the server after it (`PacketArrivals`): what the agent's side
        sent after it was told to flush. A flush that comes late, or never, lets its queued audio through and
        is counted in full; what had already reached the server before is not.
        """
        self.buffer.clear(drop=False)

    # --- what the caller heard -----------------------------------------------------------------------

    @property
    def buffer(self) -> PlayoutBuffer:
        """What played to the caller (segments and clears)."""
        if self._buffer is None:
            raise RuntimeError("the call has not been answered")
        return self._buffer

    @property
    def pacing(self) -> PacingStats:
        """How well the caller's frames kept to real time."""
        return PacingStats() if self._schedule is None else self._schedule.stats

    def elapsed_s(self) -> float:
        """Seconds since the answer (frozen once the call ended)."""
        return self.buffer.elapsed_s()

    def heard(self, since_s: float = 0.0) -> HeardAudio:
        """What the caller heard from `since_s` until now."""
        return self.buffer.heard(since_s)

    async def wait_for_audio(self, *, threshold_dbfs: float = -40.0, after_s: float | None = None) -> float:
        """Wait until the caller hears audio louder than `threshold_dbfs` after `after_s` (default now)."""
        since = self.elapsed_s() if after_s is None else after_s
        while True:
            onset = self.heard(since).first_energy_above(threshold_dbfs, after_s=since)
            if onset is not None:
                return onset
            if self.ended:
                raise CallEnded("the call ended before the caller heard any audio")
            await asyncio.sleep(POLL_S)

    async def wait_for_silence(
        self, duration_s: float = 1.0, *, threshold_dbfs: float = SILENCE_DBFS
    ) -> float:
        """Wait until the last `duration_s` were quiet; returns when the quiet began."""
        while True:
            now = self.elapsed_s()
            since = max(0.0, now - duration_s)
            if self.ended or (
                now >= duration_s and self.heard(since).audible_ms(threshold_dbfs=threshold_dbfs) == 0
            ):
                return since
            await asyncio.sleep(POLL_S)

    async def wait_for_dtmf(self, count: int = 1) -> str:
        """Wait until `count` digits arrived from the room; returns them all."""
        while len(self.dtmf_received) < count:
            if self.ended:
                raise CallEnded("the call ended before the digits arrived")
            await asyncio.sleep(POLL_S)
        return "".join(digit for _, digit in self.dtmf_received)

    def said(self) -> npt.NDArray[np.int16]:
        """Everything the caller sent since the answer (silence included), PCM16 at 8 kHz."""
        return ulaw_decode(bytes(self._said))

    def report(self, **options: float) -> CallReport:
        """The same measurements as the Twilio phone's (`build_report`); SIP has no marks."""
        buffer = self.buffer
        record = StreamRecord(
            stream_sid=self.call_id,
            call_sid=self._state.attributes.get("sip.callID", self.call_id),
            heard=buffer.heard(),
            segments=buffer.segments,
            clears=buffer.clears,
            marks=buffer.marks,
            overflow_samples=buffer.overflow_samples,
            caller_speech=self._caller.speech_intervals(),
            pacing=self._schedule.stats if self._schedule is not None else FrameSchedule(0).stats,
            counters=self.counters,
        )
        return build_report(record, **options)

    def conversation_wav(self) -> bytes:
        """Stereo PCM16 8 kHz WAV: the caller left, what the caller heard right."""
        return stereo_wav(self.said(), self.buffer.heard().pcm, SAMPLE_RATE)

    def save_conversation_wav(self, path: str | Path) -> None:
        """Write `conversation_wav()` to `path`."""
        Path(path).write_bytes(self.conversation_wav())

    # --- room member ---------------------------------------------------------------------------------

    async def participants_changed(self, infos: list[models.ParticipantInfo]) -> None:
        """Nothing to do: the gateway does not act on other participants."""

    async def subscribe(self, track: PublishedTrack) -> None:
        """Hear an audio track of the room."""
        if track.info.type != models.TrackType.AUDIO or self.ended:
            track.media.stop()
            return
        if self._buffer is None:  # not answered yet: the caller hears the room from the answer on
            self._before_answer.append(track)
            return
        earpiece = Earpiece(track.media, self._buffer, self._newest_speaks, track.arrivals)
        self._earpieces.append(earpiece)
        self.counters.media_received += 1
        self._spawn(earpiece.run())

    def _newest_speaks(self, newest: Earpiece) -> None:
        for earpiece in self._earpieces:
            earpiece.superseded = earpiece is not newest

    def receive_data(self, packet: models.DataPacket, *, reliable: bool) -> None:
        """DTMF from the room is played to the caller: recorded with its time."""
        if packet.WhichOneof("value") == "sip_dtmf":
            at = self._buffer.elapsed_s() if self._buffer is not None else 0.0
            self.dtmf_received.append((at, packet.sip_dtmf.digit))

    async def removed(self, reason: models.DisconnectReason) -> None:
        """The room removed the participant (RemoveParticipant, DeleteRoom): the gateway sends BYE."""
        self.counters.closed_by = "server"
        await self._finish(reason, announce=False)

    # --- internals -----------------------------------------------------------------------------------

    async def _pace(self, schedule: FrameSchedule) -> None:
        while not self.ended:
            await asyncio.sleep(schedule.delay(time.monotonic()))
            frame = self._caller.next_frame(schedule.offset_s)
            self._said.extend(frame)
            self._microphone.push(frame)
            schedule.sent(time.monotonic())

    async def _finish(self, reason: models.DisconnectReason, *, announce: bool) -> None:
        if self.ended:
            return
        self._ended.set()
        self._caller.cancel()
        if self._buffer is not None:
            self._buffer.hang_up()
        if announce and self.room.member(self.identity) is self:
            await self.set_status(CallStatus.HANGUP)
            await self.room.leave(self, reason)
        else:
            self._state.attributes["sip.callStatus"] = CallStatus.HANGUP.value
        self._microphone.stop()
        for waiting in self._before_answer:
            waiting.media.stop()
        for earpiece in self._earpieces:
            earpiece.stop()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*(t for t in self._tasks if t is not current), return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._failures.append(task.exception())  # type: ignore[arg-type]
            logger.error("SIP phone %s: task failed", self.identity, exc_info=task.exception())

"""A simulated phone call: Twilio's side of a bidirectional Media Stream, as a WebSocket client.

The call dials the media server exactly as Twilio does: a signed upgrade, `connected`, `start`, then a `media`
message every 20 ms for as long as the call lasts (silence when the caller says nothing), `dtmf` when a key is
pressed, and `stop` before closing. What the server sends back goes through an emulated Twilio playout buffer
(`PlayoutBuffer`), which echoes marks at the right time and records what the caller heard.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.protocol import State

from switchboard.common.audio.g711 import ulaw_decode
from switchboard.common.security.twilio_signature import SIGNATURE_HEADER, compute_signature
from switchboard.sim.phone import messages
from switchboard.sim.phone.downlink import Downlink, record_violation
from switchboard.sim.phone.errors import CallEnded, CallRejected, PhoneFailure
from switchboard.sim.phone.heard import SILENCE_DBFS, HeardAudio, stereo_wav
from switchboard.sim.phone.messages import SAMPLE_RATE, PhoneMessage, StreamIdentity
from switchboard.sim.phone.outbound import CallerAudio, Utterance, load_wav, to_ulaw
from switchboard.sim.phone.pacing import FrameSchedule, PacingStats
from switchboard.sim.phone.playout import PlayoutBuffer
from switchboard.sim.phone.report import CallReport, StreamCounters, StreamRecord, build_report
from switchboard.sim.speech import Voice, synthesize

logger = logging.getLogger(__name__)

USER_AGENT = "Twilio.TmeWs/1.0"  # what Twilio's media servers send on the upgrade
MAX_MESSAGE_BYTES = 2**24  # room for the 10 minutes of audio Twilio accepts in its buffer, base64-encoded
POLL_S = 0.02
CLOSE_TIMEOUT_S = 5.0


class MediaStreamCall:
    """One simulated call streaming to `url` (`ws://127.0.0.1:PORT/twilio/stream` locally).

    The upgrade carries `x-twilio-signature`: `signature` if given (to test a bad one), else the signature of
    `public_url` (the `wss://` URL of the TwiML, which differs from `url` behind a proxy; defaults to `url`)
    with `auth_token`, else no header at all. Use it as `async with MediaStreamCall(...) as call:`; leaving the
    block hangs up (`stop`, then close). Times in queries and reports are seconds since the `start` message.
    """

    def __init__(
        self,
        url: str,
        *,
        auth_token: str | None = None,
        public_url: str | None = None,
        signature: str | None = None,
        custom_parameters: Mapping[str, str] | None = None,
        identity: StreamIdentity | None = None,
        open_timeout: float = 10.0,
        late_after_ms: float = 20.0,
    ) -> None:
        self.url = url
        self.public_url = public_url or url
        self.identity = identity or StreamIdentity()
        self.custom_parameters = dict(custom_parameters or {})
        self.counters = StreamCounters()
        self._auth_token = auth_token
        self._signature = signature
        self._open_timeout = open_timeout
        self._late_after_ms = late_after_ms
        self._caller = CallerAudio()
        self._said = bytearray()  # every μ-law frame sent, speech and silence: the caller's side of the call
        self._ws: ClientConnection | None = None
        self._send_lock = asyncio.Lock()
        self._sequence = 0
        self._buffer: PlayoutBuffer | None = None
        self._schedule: FrameSchedule | None = None
        self._downlink: Downlink | None = None
        self._closed = asyncio.Event()
        self._stream_tasks: set[asyncio.Task[None]] = set()
        self._receiver: asyncio.Task[None] | None = None
        self._ending = False
        self._failures: list[BaseException] = []

    @property
    def stream_sid(self) -> str:
        """The stream's SID (`MZ…`)."""
        return self.identity.stream_sid

    @property
    def call_sid(self) -> str:
        """The call's SID (`CA…`)."""
        return self.identity.call_sid

    @property
    def signature_header(self) -> str | None:
        """The `x-twilio-signature` the upgrade carries, if any."""
        if self._signature is not None:
            return self._signature
        if self._auth_token is None:
            return None
        return compute_signature(self._auth_token, self.public_url, {})

    # Lifecycle.

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.hang_up(raise_failures=exc is None)

    async def open(self) -> None:
        """Connect and start the stream: `connected`, `start`, then paced `media`."""
        await self.connect()
        try:
            await self.start_stream()
        except BaseException:
            await self.hang_up(send_stop=False, raise_failures=False)
            raise

    async def connect(self) -> None:
        """Open the WebSocket only; raises `CallRejected` if the server refuses the upgrade."""
        signature = self.signature_header
        headers = {} if signature is None else {SIGNATURE_HEADER: signature}
        try:
            self._ws = await connect(
                self.url,
                additional_headers=headers,
                user_agent_header=USER_AGENT,
                compression=None,
                open_timeout=self._open_timeout,
                ping_interval=None,
                close_timeout=CLOSE_TIMEOUT_S,
                max_size=MAX_MESSAGE_BYTES,
            )
        except InvalidStatus as e:
            body = e.response.body.decode("utf-8", "replace") if e.response.body else ""
            raise CallRejected(e.response.status_code, body) from e
        self._receiver = self._spawn(self._receive(self._ws))

    async def start_stream(self) -> None:
        """Send `connected` and `start`, and begin the media stream and the playout of what comes back."""
        ws = self._require_ws()
        await ws.send(messages.encode(messages.connected()))
        origin = time.monotonic()
        self._buffer = PlayoutBuffer(origin=origin)
        self._schedule = FrameSchedule(origin, late_after_ms=self._late_after_ms)
        await self._send(partial(messages.start, ids=self.identity, custom_parameters=self.custom_parameters))
        self._stream_tasks.add(self._spawn(self._pace(self._schedule)))
        self._downlink = Downlink(self.stream_sid, self._buffer, self.counters, self._echo)
        self._stream_tasks.add(self._spawn(self._downlink.run()))

    async def hang_up(self, *, send_stop: bool = True, raise_failures: bool = True) -> None:
        """End the call: stop the media, send `stop` (unless told not to), close the socket.

        Raises `PhoneFailure` if one of the call's tasks failed, unless `raise_failures` is false.
        """
        if not self._ending:
            self._ending = True
            await self._end_stream()
            ws = self._ws
            if ws is not None and ws.state is State.OPEN:
                if send_stop and self._schedule is not None:
                    with contextlib.suppress(ConnectionClosed):
                        await self._send(partial(messages.stop, ids=self.identity))
                await ws.close()
            if self._receiver is not None:
                await asyncio.gather(self._receiver, return_exceptions=True)
        if raise_failures and self._failures:
            raise PhoneFailure(f"simulated call failed: {self._failures[0]!r}") from self._failures[0]

    async def wait_closed(self) -> None:
        """Wait until the socket is closed, by either side."""
        await self._closed.wait()

    @property
    def closed(self) -> bool:
        """Whether the socket is closed."""
        return self._closed.is_set()

    async def _end_stream(self) -> None:
        """Stop the media and the playout; holding the send lock, so no message is cut off half-sent."""
        self._caller.cancel()
        locked = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):  # a socket the server stopped reading never frees it
                await self._send_lock.acquire()
                locked = True
        try:
            tasks = list(self._stream_tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._buffer is not None:
                self._buffer.hang_up()
        finally:
            if locked:
                self._send_lock.release()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._stream_tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("simulated call %s: task failed", self.call_sid, exc_info=error)
            self._failures.append(error)

    async def _echo(self, name: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send(partial(messages.mark, stream_sid=self.stream_sid, name=name))

    def _require_ws(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("the call is not connected")
        return self._ws

    # Phone → server.

    async def _send(self, build: Callable[[int], PhoneMessage]) -> None:
        """Send a message numbered with the stream's next sequence number, in numbering order."""
        ws = self._require_ws()
        async with self._send_lock:
            self._sequence += 1
            await ws.send(messages.encode(build(self._sequence)))

    async def _pace(self, schedule: FrameSchedule) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                delay = schedule.delay(time.monotonic())
                if delay > 0:
                    await asyncio.sleep(delay)
                frame = self._caller.next_frame(schedule.offset_s)
                self._said += frame
                await self._send(
                    partial(
                        messages.media,
                        stream_sid=self.stream_sid,
                        chunk=schedule.index + 1,
                        timestamp_ms=round(schedule.offset_s * 1000),
                        payload=base64.b64encode(frame).decode("ascii"),
                    )
                )
                schedule.sent(time.monotonic())

    async def say(
        self, speech: str | npt.NDArray[np.int16], *, language: str = "en", voice: Voice = "auto"
    ) -> Utterance:
        """Queue speech (text, or PCM16 samples at 8 kHz) after what the caller is already saying.

        Returns once it is queued; `await utterance.wait()` waits until it has been sent.
        """
        if isinstance(speech, str):
            samples = await asyncio.to_thread(synthesize, speech, SAMPLE_RATE, language=language, voice=voice)
            label = speech
        else:
            samples, label = speech, f"{speech.size} samples"
        return self._queue_speech(samples, label)

    async def play_wav(self, path: str | Path) -> Utterance:
        """Queue a PCM WAV file (any rate, mono or stereo) as the caller's speech."""
        samples = await asyncio.to_thread(load_wav, path)
        return self._queue_speech(samples, str(path))

    def _queue_speech(self, samples: npt.NDArray[np.int16], label: str) -> Utterance:
        if self._ending:
            raise CallEnded("the call has ended: nothing more can be said")
        utterance = Utterance(to_ulaw(samples), label)
        self._caller.queue(utterance)
        return utterance

    @property
    def speaking(self) -> bool:
        """Whether the caller has speech queued or under way."""
        return self._caller.speaking

    async def wait_spoken(self) -> None:
        """Wait until everything queued with `say`/`play_wav` has been sent."""
        await self._caller.wait_idle()

    async def dtmf(self, digit: str) -> None:
        """Press a key (0-9, *, #, A-D)."""
        if digit not in messages.DTMF_DIGITS or len(digit) != 1:
            raise ValueError(f"not a DTMF digit: {digit!r}")
        await self._send(partial(messages.dtmf, stream_sid=self.stream_sid, digit=digit))
        self.counters.dtmf_sent += 1

    # Raw hooks for negative tests: they bypass every check.

    async def send_raw(self, data: str | bytes) -> None:
        """Send one frame exactly as given (text for str, binary for bytes); no sequence number is used."""
        await self._require_ws().send(data)
        self.counters.raw_sent += 1

    async def send_event(self, event: str, body: object = None) -> None:
        """Send `{event, sequenceNumber, streamSid, <event>: body}` with the next sequence number."""
        ws = self._require_ws()
        async with self._send_lock:
            self._sequence += 1
            message: dict[str, object] = {
                "event": event,
                "sequenceNumber": str(self._sequence),
                "streamSid": self.stream_sid,
            }
            if body is not None:
                message[event] = body
            await ws.send(json.dumps(message, separators=(",", ":")))
        self.counters.raw_sent += 1

    async def send_media_payload(self, payload: str, *, chunk: int = 0, timestamp_ms: int = 0) -> None:
        """Send a `media` message carrying `payload` as given (bad base64, oversized…), next sequence number."""
        await self._send(
            partial(
                messages.media,
                stream_sid=self.stream_sid,
                chunk=chunk,
                timestamp_ms=timestamp_ms,
                payload=payload,
            )
        )
        self.counters.raw_sent += 1

    # Server → phone.

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                if self._downlink is None:
                    record_violation(
                        self.counters, "before_start", repr(frame[:80]), stream_sid=self.stream_sid
                    )
                else:
                    await self._downlink.receive(frame)
        except ConnectionClosed:
            pass
        finally:
            self.counters.close_code = ws.close_code
            self.counters.closed_by = "phone" if self._ending else "server"
            self._closed.set()
            if not self._ending:
                # The server ended the stream: the call's media stops here, as on a real call.
                self._ending = True
                await self._end_stream()

    # What the caller heard.

    @property
    def buffer(self) -> PlayoutBuffer:
        """The emulated playout buffer (segments, marks, clears)."""
        if self._buffer is None:
            raise RuntimeError("the stream has not started")
        return self._buffer

    @property
    def pacing(self) -> PacingStats:
        """How well the caller's media kept to real time."""
        return PacingStats() if self._schedule is None else self._schedule.stats

    def elapsed_s(self) -> float:
        """Seconds since the stream started (frozen once the call ended)."""
        return self.buffer.elapsed_s()

    def heard(self, since_s: float = 0.0) -> HeardAudio:
        """What the caller heard from `since_s` until now."""
        return self.buffer.heard(since_s)

    def heard_between(self, start_s: float, end_s: float) -> npt.NDArray[np.int16]:
        """PCM16 8 kHz of what the caller heard between two stream times (up to now)."""
        return self.buffer.heard(start_s).between(start_s, end_s)

    def first_energy_above(self, threshold_dbfs: float, *, after_s: float = 0.0) -> float | None:
        """When the audio the caller heard first got louder than `threshold_dbfs` after `after_s`."""
        return self.buffer.heard(after_s).first_energy_above(threshold_dbfs, after_s=after_s)

    async def wait_for_audio(self, *, threshold_dbfs: float = -40.0, after_s: float | None = None) -> float:
        """Wait until the caller hears audio louder than `threshold_dbfs` after `after_s` (default: now).

        Returns its stream time. Bound the wait with `asyncio.timeout`; raises `CallEnded` if the call ends first.
        """
        since = self.elapsed_s() if after_s is None else after_s
        while True:
            onset = self.first_energy_above(threshold_dbfs, after_s=since)
            if onset is not None:
                return onset
            if self.closed:
                raise CallEnded("the call ended before the caller heard any audio")
            await asyncio.sleep(POLL_S)

    async def wait_for_silence(
        self, duration_s: float = 1.0, *, threshold_dbfs: float = SILENCE_DBFS
    ) -> float:
        """Wait until nothing is queued and the last `duration_s` were quiet; returns when the quiet began.

        Useful to speak once the agent has finished its turn. Bound the wait with `asyncio.timeout`.
        """
        while True:
            now = self.elapsed_s()
            since = max(0.0, now - duration_s)
            quiet = self.heard(since).audible_ms(threshold_dbfs=threshold_dbfs) == 0.0
            if self.closed or (quiet and now >= duration_s and self.buffer.queued_samples == 0):
                return since
            await asyncio.sleep(POLL_S)

    def report(self, **options: float) -> CallReport:
        """The call's measurements; `options` go to `build_report` (leak_window_s, underrun_max_s…)."""
        buffer = self.buffer
        record = StreamRecord(
            stream_sid=self.stream_sid,
            call_sid=self.call_sid,
            heard=buffer.heard(),
            segments=buffer.segments,
            clears=buffer.clears,
            marks=buffer.marks,
            overflow_samples=buffer.overflow_samples,
            caller_speech=self._caller.speech_intervals(),
            pacing=self.pacing,
            counters=self.counters,
        )
        return build_report(record, **options)

    def save_heard_wav(self, path: str | Path) -> None:
        """Write what the caller heard as a PCM16 8 kHz WAV."""
        self.buffer.heard().save_wav(path)

    def said(self) -> npt.NDArray[np.int16]:
        """Everything the caller sent since `start` (silence included), as PCM16 at 8 kHz."""
        return ulaw_decode(bytes(self._said))

    def said_ulaw(self) -> bytes:
        """Everything the caller sent since `start` (silence included), the μ-law bytes as sent."""
        return bytes(self._said)

    def conversation_wav(self) -> bytes:
        """The whole conversation as a stereo PCM16 8 kHz WAV: the caller left, what the caller heard right."""
        return stereo_wav(self.said(), self.buffer.heard().pcm, SAMPLE_RATE)

    def save_conversation_wav(self, path: str | Path) -> None:
        """Write `conversation_wav()` to `path`."""
        Path(path).write_bytes(self.conversation_wav())

"""What Twilio does with a call once it exists: dial, ring, answer, run the TwiML, hang up, report each step.

Outbound: `initiated` → `ringing` → `in-progress` (or `busy`, `no-answer`, `failed`, `canceled`), then the TwiML
(inline `Twiml`, or fetched from `Url`) runs until it ends, a REST update ends or replaces it, the time limit
passes, or the callee hangs up → `completed` with `CallDuration`. Inbound: `ringing`, the number's voice webhook
is asked what to do (a first `<Reject>` refuses the call), then the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from websockets.exceptions import WebSocketException

from switchboard.sim.phone import CallRejected, MediaStreamCall, StreamIdentity
from switchboard.sim.phone.messages import SAMPLE_RATE
from switchboard.sim.twilio_rest.behaviour import EmulatorTiming
from switchboard.sim.twilio_rest.call import MACHINE_DETECTION_MS, EmulatedCall, Interrupt, StreamSession
from switchboard.sim.twilio_rest.twiml import (
    Dial,
    Hangup,
    Pause,
    Redirect,
    Reject,
    Say,
    Stream,
    TwimlError,
    Unsupported,
    Verb,
    parse_twiml,
)
from switchboard.sim.twilio_rest.webhooks import WebhookClient

logger = logging.getLogger(__name__)

BEEP_HZ = 1000.0
BEEP_S = 0.5


def beep() -> npt.NDArray[np.int16]:
    """An answering machine's beep: 1 kHz for half a second, at the phone's 8 kHz."""
    t = np.arange(int(BEEP_S * SAMPLE_RATE)) / SAMPLE_RATE
    return (8000 * np.sin(2 * np.pi * BEEP_HZ * t)).astype(np.int16)


ASYNC_AMD_DELAY_S = 0.05
"""How long the emulated detection takes before an asynchronous verdict is posted (it reports Twilio's typical
duration, `MACHINE_DETECTION_MS`, without making the caller wait that long)."""
ERROR_HTTP_RETRIEVAL = 11200
ERROR_DOCUMENT_PARSE = 12100
ERROR_STREAM_HANDSHAKE = 31920


@dataclass(frozen=True, slots=True)
class MediaRoutes:
    """Where the emulator really connects a `<Stream url>`: a public URL prefix → a local one.

    Twilio dials the public `wss://` URL; locally the media server listens on `ws://127.0.0.1:PORT`. The stream
    is still signed with the URL of the TwiML, as Twilio signs it behind an ingress.
    """

    routes: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, url: str) -> str:
        """The URL to connect for a `<Stream url>`."""
        for public, local in self.routes.items():
            if url.startswith(public):
                return local + url[len(public) :]
        return url


class CallRunner:
    """Runs one call to its end; owned (as a task) by the emulator."""

    def __init__(
        self,
        call: EmulatedCall,
        *,
        webhooks: WebhookClient,
        media: MediaRoutes,
        auth_token: str,
        timing: EmulatorTiming,
        voice_url: str = "",
        voice_method: str = "POST",
    ) -> None:
        self.call = call
        self._webhooks = webhooks
        self._media = media
        self._auth_token = auth_token
        self._timing = timing
        self._voice_url = voice_url
        self._voice_method = voice_method
        self._open: StreamSession | None = None

    async def run(self) -> None:
        """Take the call from creation to a final status."""
        try:
            if self.call.direction == "inbound":
                await self._inbound()
            else:
                await self._outbound()
        finally:
            await self._close_stream()
            if not self.call.final:  # cancelled with the emulator: end as Twilio would on a crash
                self.call.set_status("failed")

    # --- status --------------------------------------------------------------------------------------

    def _move(self, status: str) -> None:
        self.call.set_status(status)
        self.call.callbacks.notify(status, self.call.status_params())

    async def _ring(self, seconds: float) -> bool:
        """Wait `seconds`; True when the call was ended meanwhile."""
        if self.call.interrupted.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, seconds)):
                await self.call.interrupted.wait()
            return True
        return False

    def _answer(self) -> None:
        self.call.answered_by = self.call.callee.answered_by
        self._move("in-progress")

    # --- the two directions --------------------------------------------------------------------------

    async def _outbound(self) -> None:
        call, callee = self.call, self.call.callee
        self._move("initiated")
        if callee.outcome == "failed":
            self._move("failed")
            return
        if callee.outcome == "busy":
            self._move("canceled" if await self._ring(callee.ring_s) else "busy")
            return
        self._move("ringing")
        timeout = float(call.options.timeout_s)
        if callee.outcome == "no-answer":
            ring = timeout if callee.no_answer_after_s is None else callee.no_answer_after_s
        else:
            ring = min(callee.ring_s, timeout)
        if await self._ring(ring):
            call.take_interrupt()
            self._move("canceled")
            return
        if callee.outcome == "no-answer" or callee.ring_s > timeout:
            self._move("no-answer")
            return
        self._answer()
        verdict = asyncio.create_task(self._async_amd_verdict())
        try:
            if call.options.twiml:
                verbs = self._parse(call.options.twiml)
            else:
                verbs = await self._fetch(call.options.url, call.options.method, call.amd_params())
            await self._converse(verbs)
        finally:
            await verdict

    async def _async_amd_verdict(self) -> None:
        """With `AsyncAmd=true`, the verdict goes to `AsyncAmdStatusCallback` while the call runs its document."""
        call = self.call
        options = call.options
        if not (options.machine_detection and options.async_amd and options.async_amd_callback):
            return
        await asyncio.sleep(ASYNC_AMD_DELAY_S)
        params = {
            "AccountSid": call.account_sid,
            "CallSid": call.sid,
            "AnsweredBy": call.answered_by or "unknown",
            "MachineDetectionDuration": str(MACHINE_DETECTION_MS),
        }
        delivery = await self._webhooks.send(
            options.async_amd_callback, params, options.async_amd_callback_method
        )
        call.log.webhooks.append(delivery)

    async def _inbound(self) -> None:
        self._move("ringing")
        verbs = await self._fetch(self._voice_url, self._voice_method)
        if self.call.interrupted.is_set():
            self.call.take_interrupt()
            self._move("canceled")
            return
        if verbs and isinstance(verbs[0], Reject):
            self.call.log.verbs.append(verbs[0])
            self._move("busy" if verbs[0].reason == "busy" else "no-answer")
            return
        self._answer()
        await self._converse(verbs)

    # --- running documents ---------------------------------------------------------------------------

    async def _converse(self, verbs: list[Verb] | None) -> None:
        """Run documents until one ends or the call is ended; then `completed`."""
        loop = asyncio.get_running_loop()
        limits = [loop.time() + self.call.options.time_limit_s]
        if self.call.callee.hang_up_after_s is not None:
            limits.append(loop.time() + self.call.callee.hang_up_after_s)
        deadline = min(limits)
        while verbs is not None:
            execution = loop.create_task(self._execute(verbs))
            interrupted = loop.create_task(self.call.interrupted.wait())
            done, _ = await asyncio.wait(
                {execution, interrupted},
                timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            interrupted.cancel()
            if execution in done:
                verbs = execution.result()
                continue
            await self._stop(execution)
            interrupt = self.call.take_interrupt()
            if interrupt is None:  # the time limit, or the callee hung up
                self.call.ended_by = self.call.ended_by or (
                    "time-limit" if deadline == limits[0] else "callee"
                )
                break
            if interrupt.end:
                break
            verbs = await self._load(interrupt)
        self._move("completed")

    async def _stop(self, execution: asyncio.Task[list[Verb] | None]) -> None:
        execution.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await execution
        await self._close_stream()

    async def _load(self, interrupt: Interrupt) -> list[Verb] | None:
        if interrupt.twiml:
            return self._parse(interrupt.twiml)
        return await self._fetch(interrupt.url, interrupt.method)

    async def _execute(self, verbs: list[Verb]) -> list[Verb] | None:
        """Run one document; returns the next one (`<Redirect>`, an `action`), or None when the call is over."""
        log = self.call.log
        for verb in verbs:
            log.verbs.append(verb)
            if isinstance(verb, Stream):
                await self._stream(verb)
                if verb.action:
                    return await self._fetch(verb.action, "POST")
            elif isinstance(verb, Say):
                log.said.append(verb.text)
                await asyncio.sleep(self._timing.say_s)
            elif isinstance(verb, Pause):
                await asyncio.sleep(min(verb.length_s, self._timing.max_pause_s))
            elif isinstance(verb, Dial):
                log.dialed.extend(verb.numbers)
                self.call.changed()
                await asyncio.sleep(self._timing.dial_talk_s)
                if verb.action:
                    return await self._fetch(verb.action, "POST", {"DialCallStatus": "completed"})
            elif isinstance(verb, Redirect):
                return await self._fetch(verb.url, verb.method)
            elif isinstance(verb, Hangup | Reject):
                return None
            elif isinstance(verb, Unsupported):
                logger.info("call %s: <%s> is not emulated; skipped", self.call.sid, verb.name)
        return None

    async def _stream(self, verb: Stream) -> None:
        """Connect the simulated phone to the `<Stream>` and stay until the server closes it."""
        session = StreamSession(verb, self._media.resolve(verb.url))
        self.call.log.streams.append(session)
        phone = MediaStreamCall(
            session.url,
            auth_token=self._auth_token,
            public_url=verb.url,
            custom_parameters=verb.parameters,
            identity=StreamIdentity(account_sid=self.call.account_sid, call_sid=self.call.sid),
        )
        try:
            await phone.open()
        except asyncio.CancelledError:
            await phone.hang_up(send_stop=False, raise_failures=False)
            raise
        except (CallRejected, OSError, TimeoutError, WebSocketException) as e:
            session.error = f"{type(e).__name__}: {e}"
            self.call.log.errors.append((ERROR_STREAM_HANDSHAKE, session.error))
            logger.warning(
                "call %s: media stream to %s failed: %s", self.call.sid, session.url, session.error
            )
            await phone.hang_up(send_stop=False, raise_failures=False)
            return
        session.phone = phone
        self._open = session
        self.call.changed()
        if self._greets_as_a_machine():
            await phone.say(self.call.callee.machine_greeting)
            await phone.say(beep())
        await phone.wait_closed()
        await phone.hang_up(raise_failures=False)
        self._open = None

    def _greets_as_a_machine(self) -> bool:
        """An answering machine's greeting is heard unless Twilio held the document until its beep."""
        options = self.call.options
        waited = options.machine_detection == "DetectMessageEnd" and not options.async_amd
        return self.call.direction == "outbound-api" and self.call.callee.is_machine and not waited

    async def _close_stream(self) -> None:
        """End the open stream as Twilio does when the call ends or moves on: `stop`, then close."""
        session, self._open = self._open, None
        if session is not None and session.phone is not None:
            await session.phone.hang_up(raise_failures=False)

    # --- documents -----------------------------------------------------------------------------------

    def _parse(self, document: str) -> list[Verb] | None:
        self.call.log.documents.append(document)
        try:
            return parse_twiml(document)
        except TwimlError as e:
            self.call.log.errors.append((ERROR_DOCUMENT_PARSE, str(e)))
            logger.warning("call %s: TwiML rejected: %s", self.call.sid, e)
            return None

    async def _fetch(
        self, url: str, method: str, extra: Mapping[str, str] | None = None
    ) -> list[Verb] | None:
        """Ask a webhook for the next document (signed, with the call's parameters)."""
        if not url:
            self.call.log.errors.append((ERROR_HTTP_RETRIEVAL, "no URL to fetch TwiML from"))
            return None
        delivery = await self._webhooks.send(url, {**self.call.call_params(), **(extra or {})}, method)
        self.call.log.webhooks.append(delivery)
        if not delivery.ok:
            detail = delivery.error or f"HTTP {delivery.status}"
            self.call.log.errors.append((ERROR_HTTP_RETRIEVAL, f"{url}: {detail}"))
            return None
        return self._parse(delivery.body)

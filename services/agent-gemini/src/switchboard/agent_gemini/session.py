"""One Gemini Live session per call: the connection, its receive loop, and resumption across connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google import genai
from google.genai import live, types
from websockets.exceptions import ConnectionClosed

from switchboard.agent_gemini import mapping
from switchboard.agent_gemini._pending import ClientMessage, PendingInput
from switchboard.agent_gemini.mapping import (
    CallerText,
    GoAway,
    Interrupted,
    ModelAudio,
    ModelEvent,
    ModelText,
    ResumptionUpdate,
    ToolCalls,
    ToolCallsCancelled,
    TurnComplete,
    Usage,
)
from switchboard.agent_gemini.settings import AgentGeminiSettings
from switchboard.common.agent.model_session import HeardReport, SessionEvents, ToolCall
from switchboard.common.agent.tools import ToolSpec
from switchboard.common.errors import ErrorCategory, SwitchboardError
from switchboard.common.profiles import Profile

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GeminiSessionOptions:
    """How a session holds on to its model connection."""

    connect_timeout_s: float = 10.0
    reconnect_attempts: int = 5
    reconnect_backoff_s: float = 0.1
    reconnect_backoff_max_s: float = 2.0
    reconnect_buffer_ms: int = 3000
    go_away_margin_s: float = 1.0

    @classmethod
    def from_settings(cls, settings: AgentGeminiSettings) -> GeminiSessionOptions:
        """The options the service's settings ask for."""
        return cls(
            connect_timeout_s=settings.connect_timeout_s,
            reconnect_attempts=settings.reconnect_attempts,
            reconnect_backoff_s=settings.reconnect_backoff_s,
            reconnect_backoff_max_s=settings.reconnect_backoff_max_s,
            reconnect_buffer_ms=settings.reconnect_buffer_ms,
            go_away_margin_s=settings.go_away_margin_s,
        )

    def backoff_s(self, failures: int) -> float:
        """The wait before attempt `failures + 1`: none for the first retry, then doubling, with jitter."""
        if failures <= 1:
            return 0.0
        delay = min(self.reconnect_backoff_max_s, self.reconnect_backoff_s * 2.0 ** (failures - 2))
        return delay * random.uniform(0.5, 1.0)


class GeminiSession:
    """A `ModelSession` on Gemini Live, for one call.

    The session owns one task, which holds the connection: it opens it (`start()` returns at `setupComplete`),
    reads every server message and turns it into `SessionEvents`, and when the connection ends — announced by
    `goAway`, or dropped — opens a new one that resumes the session with the latest resumption handle, so the
    conversation goes on. Caller audio that arrives while there is no connection is kept (up to
    `reconnect_buffer_ms`) and sent once the session is resumed. Gemini has no response ids: each model turn
    that speaks gets one here.
    """

    def __init__(
        self,
        client: genai.Client,
        profile: Profile,
        events: SessionEvents,
        *,
        call_id: str,
        options: GeminiSessionOptions | None = None,
        tools: Sequence[ToolSpec] = (),
    ) -> None:
        self._client = client
        self._profile = profile
        self._events = events
        self._call_id = call_id
        self._options = options or GeminiSessionOptions()
        self._tools = list(tools)
        self._runner: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._live: live.AsyncSession | None = None
        """The connection caller audio goes to; None while there is none (or it is being replaced)."""
        self._connected_once = False
        self._closing = False
        self._failures = 0
        self._handle: str | None = None
        # The model's turns.
        self._turns = 0
        self._response_id: str | None = None
        self._last_response_id: str | None = None
        self._caller_text: list[str] = []
        self._caller_reported = False
        # Replacing the connection.
        self._busy = False
        """A model turn is under way: asked for (greeting, tool result, caller words) and not yet complete."""
        self._handle_fresh = False
        """The latest handle was issued while the model was quiet, so resuming with it loses nothing."""
        self._go_away = False
        self._rotate_at: float | None = None
        """Loop time at which to stop waiting for the model and replace the connection (after `goAway`)."""
        self._rotate = False
        self._disconnected_at = 0.0
        self._pending = PendingInput(self._options.reconnect_buffer_ms)
        # Figures, for logs and tests.
        self.reconnects = 0
        self.reconnect_gaps_s: list[float] = []
        """Per replaced connection: from the old one closed (or lost) to the new one's `setupComplete`."""
        self.tokens = {"prompt": 0, "response": 0, "total": 0}

    @property
    def audio_dropped_ms(self) -> float:
        """Caller audio lost because a reconnection outlasted `reconnect_buffer_ms`."""
        return self._pending.dropped_ms

    # --- ModelSession -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (retrying what can be retried); return at `setupComplete`, or raise a `SwitchboardError`."""
        self._ready = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run(), name=f"gemini-session-{self._call_id}")
        await self._ready

    async def speak_first(self, prompt: str) -> None:
        """Ask the model to speak first, as `prompt` asks."""
        self._busy = True
        await self._send(ClientMessage(content=mapping.opening_turn(prompt), turn_complete=True))

    async def push_audio(self, pcm: bytes) -> None:
        """Send caller audio (PCM16 16 kHz); kept for the next connection while there is none."""
        live_session = self._live
        if live_session is not None:
            try:
                await live_session.send_realtime_input(
                    audio=types.Blob(data=pcm, mime_type=mapping.INPUT_MIME_TYPE)
                )
                return
            except ConnectionClosed:
                pass  # the receive loop sees the close too and reconnects; keep this piece for then
        if self._connected_once and not self._closing:
            # (Before the first connection nobody has been greeted yet: there is nothing to answer.)
            self._pending.keep_audio(pcm)

    async def interrupt(self) -> None:
        """Nothing to send: Gemini stops its answer by itself when it hears the caller (interrupting mode)."""

    async def reconcile_heard(self, report: HeardReport) -> None:
        """Tell the model, as a context note that asks for no answer, what the caller heard of its answer."""
        await self._send(ClientMessage(content=mapping.heard_note(report), turn_complete=False))

    async def send_tool_result(self, call: ToolCall, result: dict[str, Any], *, respond: bool) -> None:
        """Answer a function call by its id.

        Gemini's blocking function calls always continue the model's turn: `respond` cannot be passed on, so
        the result itself says what happens next (e.g. that the call ends after the goodbye).
        """
        self._busy = True
        await self._send(ClientMessage(response=mapping.function_response(call, result)))

    async def aclose(self) -> None:
        """Close the connection and stop the session's task."""
        self._closing = True
        self._live = None
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        if self._ready is not None and not self._ready.done():
            self._ready.cancel()
        await self._flush_caller_transcript()
        if self.tokens["total"]:
            logger.info(
                "model session closed: %d prompt and %d response tokens",
                self.tokens["prompt"],
                self.tokens["response"],
                extra={"tokens_total": self.tokens["total"], "reconnects": self.reconnects},
            )

    # --- the connection -----------------------------------------------------------------------------------

    async def _run(self) -> None:
        """Hold a connection until the session is closed or fails for good."""
        try:
            while not self._closing:
                try:
                    await self._connection()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the connection's loop boundary: every failure is classified here
                    if self._closing:
                        return
                    error = mapping.error_from(exc)
                    if error.category is ErrorCategory.PROVIDER:
                        logger.exception("the model session failed unexpectedly")
                    if not await self._after_failure(error):
                        return
        finally:
            self._live = None
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(
                    SwitchboardError(
                        "the model session ended", category=ErrorCategory.INTERNAL, retryable=False
                    )
                )

    async def _connection(self) -> None:
        """One connection, from the handshake to its end: returns when it is replaced after `goAway`."""
        config = mapping.live_config(self._profile, self._tools, handle=self._handle)
        async with contextlib.AsyncExitStack() as stack:
            async with asyncio.timeout(self._options.connect_timeout_s):
                live_session = await stack.enter_async_context(
                    self._client.aio.live.connect(model=self._profile.model, config=config)
                )
            await self._connected(live_session)
            try:
                await self._receive(live_session)
            finally:
                self._live = None
                self._disconnected_at = time.perf_counter()
            await self._abandon_turn()
            # Leaving the stack closes the old connection, before the new one resumes the session.

    async def _connected(self, live_session: live.AsyncSession) -> None:
        self._failures = 0
        self._go_away = self._rotate = self._busy = self._handle_fresh = False
        self._rotate_at = None
        if not self._connected_once:
            self._connected_once = True
            self._live = live_session
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            return
        self._busy = await self._pending.replay(live_session)
        self._live = live_session  # no await since the replay ended: nothing kept can be overtaken now
        gap = time.perf_counter() - self._disconnected_at
        self.reconnects += 1
        self.reconnect_gaps_s.append(gap)
        logger.info(
            "model session %s after %.0f ms without a connection",
            "resumed" if self._handle else "restarted (no resumption handle yet)",
            gap * 1000,
            extra={"reconnect_gap_ms": round(gap * 1000, 1)},
        )
        await self._events.session_reconnected()

    async def _receive(self, live_session: live.AsyncSession) -> None:
        """Read server messages until the connection fails (raises) or is to be replaced (returns).

        After `goAway` the wait for the next message is bounded by the rotation deadline; handling a message
        never is, so a turn's events are never cut in the middle.
        """
        while True:  # `receive()` ends its iteration after each `turnComplete`
            messages = aiter(live_session.receive())
            while True:
                try:
                    if self._rotate_at is None:
                        message = await anext(messages)
                    else:
                        async with asyncio.timeout_at(self._rotate_at):
                            message = await anext(messages)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    if self._rotate_at is None or asyncio.get_running_loop().time() < self._rotate_at:
                        raise
                    logger.info("goAway deadline reached with the model busy: replacing the connection now")
                    return
                for event in mapping.events_of(message):
                    await self._apply(event)
                if self._rotate:
                    return

    async def _after_failure(self, error: SwitchboardError) -> bool:
        """Decide after a failed or lost connection: True to try again, False when the session is over."""
        if not self._disconnected_at:
            self._disconnected_at = time.perf_counter()
        self._live = None
        await self._abandon_turn()
        if error.code == "resumption_expired" and self._handle is not None:
            # The conversation so far is lost to the model; a fresh session is still better than no call.
            self._handle = None
            await self._events.session_error(
                SwitchboardError(error.message, category=error.category, code=error.code, retryable=True)
            )
            return True
        if not error.retryable:
            await self._fail(error)
            return False
        self._failures += 1
        if self._failures > self._options.reconnect_attempts:
            await self._fail(
                SwitchboardError(
                    f"gave up after {self._failures - 1} reconnection attempts: {error.message}",
                    category=error.category,
                    code="reconnect_failed",
                    retryable=False,
                )
            )
            return False
        delay = self._options.backoff_s(self._failures)
        logger.warning(
            "model connection lost (%s); reconnecting in %.2f s (attempt %d)",
            error.message,
            delay,
            self._failures,
        )
        if delay:
            await asyncio.sleep(delay)
        return True

    async def _fail(self, error: SwitchboardError) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(error)  # raised by `start()`
        else:
            await self._events.session_error(error)

    # --- server events ------------------------------------------------------------------------------------

    async def _apply(self, event: ModelEvent) -> None:
        match event:
            case ModelAudio(pcm=pcm):
                self._busy = True
                await self._events.response_audio(await self._response(), pcm)
                await self._flush_caller_transcript()  # after the first audio is out, not before
            case ModelText(text=text):
                response_id = self._response_id or self._last_response_id or await self._response()
                await self._events.response_text(response_id, text)
                await self._flush_caller_transcript()
            case Interrupted():
                await self._interrupted()
            case CallerText(text=text):
                await self._caller_words(text)
            case TurnComplete():
                await self._turn_complete()
            case ToolCalls(calls=calls):
                self._busy = True
                await self._flush_caller_transcript()
                for call in calls:
                    await self._events.tool_called(call)
            case ToolCallsCancelled(ids=ids):
                logger.info("the model cancelled tool calls %s", ", ".join(ids))
            case GoAway(time_left_s=time_left):
                self._on_go_away(time_left)
            case ResumptionUpdate(handle=handle):
                self._handle = handle or self._handle
                self._handle_fresh = bool(handle) and not self._busy
                self._maybe_rotate()
            case Usage(prompt_tokens=prompt, response_tokens=response, total_tokens=total):
                # Each report covers the turn just completed; the prompt is the whole context again.
                self.tokens["prompt"] += prompt
                self.tokens["response"] += response
                self.tokens["total"] += total

    async def _response(self) -> str:
        """The id of the model turn now speaking, starting one when none is."""
        if self._response_id is None:
            self._turns += 1
            self._response_id = f"turn-{self._turns}"
            self._caller_reported = False
            await self._events.response_started(self._response_id)
        return self._response_id

    async def _interrupted(self) -> None:
        """Barge-in: the clear goes out first, then the interrupted turn ends."""
        await self._events.caller_speech_started()
        self._caller_reported = True
        await self._end_response(interrupted=True)
        await self._flush_caller_transcript()  # words heard before belong to an earlier caller turn

    async def _caller_words(self, text: str) -> None:
        if not self._caller_reported and self._response_id is None:
            # Gemini interrupts only a turn it is still generating, and it generates faster than the caller
            # listens: audio it has finished sending may still be playing. The first words of a new caller
            # turn stop that too (the call agent clears only a generation still playing).
            self._caller_reported = True
            await self._events.caller_speech_started()
        self._busy = True
        self._caller_text.append(text)
        # Gemini reports no end of speech: the latest words recognised start the turn-latency clock.
        await self._events.caller_speech_stopped()

    async def _turn_complete(self) -> None:
        if self._response_id is not None:
            self._caller_reported = False
            await self._end_response(interrupted=False)
        self._busy = self._handle_fresh = False  # the next handle is issued after this turn

    async def _end_response(self, *, interrupted: bool) -> None:
        response_id, self._response_id = self._response_id, None
        if response_id is not None:
            self._last_response_id = response_id
            await self._events.response_done(response_id, interrupted=interrupted)

    async def _abandon_turn(self) -> None:
        """The connection ended in the middle of a model turn: that turn will not go on (it was cut short)."""
        await self._end_response(interrupted=True)

    async def _flush_caller_transcript(self) -> None:
        if self._caller_text:
            text = "".join(self._caller_text).strip()
            self._caller_text.clear()
            if text:
                await self._events.caller_transcript(text)

    def _on_go_away(self, time_left_s: float) -> None:
        """Move to a new connection once the model is quiet, or just before the service closes this one."""
        self._go_away = True
        logger.info("goAway: the model connection closes in %.1f s", time_left_s)
        when = asyncio.get_running_loop().time() + max(0.0, time_left_s - self._options.go_away_margin_s)
        self._rotate_at = when if self._rotate_at is None else min(self._rotate_at, when)
        self._maybe_rotate()

    def _maybe_rotate(self) -> None:
        """After `goAway`, replace the connection as soon as the model is quiet with a handle that covers it all.

        That is between turns, once the handle issued after the last turn has arrived: the caller hears no gap
        (the last answer is already sent), and the resumed session has the whole conversation.
        """
        if self._go_away and not self._busy and self._handle_fresh:
            self._rotate = True

    # --- helpers ------------------------------------------------------------------------------------------

    async def _send(self, message: ClientMessage) -> None:
        """Send a client message now, or first thing on the next connection when there is none."""
        live_session = self._live
        if live_session is not None:
            try:
                await message.send(live_session)
                return
            except ConnectionClosed:
                pass  # the receive loop sees the close too and reconnects
        self._pending.hold(message)

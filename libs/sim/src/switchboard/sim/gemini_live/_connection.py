"""One WebSocket connection to the emulated service: setup, the client's messages, barge-in and goAway."""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from switchboard.sim.gemini_live import _wire as wire
from switchboard.sim.gemini_live._hearing import detector
from switchboard.sim.gemini_live._turn import ModelTurn, Trigger
from switchboard.sim.gemini_live._wire import Json, camel, get_path, normalise
from switchboard.sim.gemini_live.config import GeminiLiveConfig
from switchboard.sim.gemini_live.recording import ConnectionRecord
from switchboard.sim.gemini_live.script import GeminiScript
from switchboard.sim.gemini_live.session import LiveSession, Role, Turn
from switchboard.sim.vad import EnergyVad, VadEvent

logger = logging.getLogger(__name__)

INVALID_ARGUMENT = 1007
POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011
BAD_KEY_REASON = "API key not valid. Please pass a valid API key."
INVALID_ARGUMENT_REASON = "Request contains an invalid argument."
SETUP_TIMEOUT_S = 30.0


class Host(Protocol):
    """What a connection needs from the emulator that accepted it."""

    config: GeminiLiveConfig
    script: GeminiScript

    def open_session(self, setup: Json) -> LiveSession: ...
    def find_session(self, handle: str) -> LiveSession | None: ...
    def issue_handle(self, session: LiveSession) -> str: ...
    def take_turn_failure(self) -> tuple[int, str] | None: ...
    def connections_of(self, session: LiveSession) -> list[Connection]: ...


class Connection:
    """Serves one client WebSocket until either side closes it."""

    def __init__(self, ws: ServerConnection, host: Host, record: ConnectionRecord) -> None:
        self.ws = ws
        self.record = record
        self.session: LiveSession | None = None
        self._host = host
        self._index = 0
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._turn: ModelTurn | None = None
        self._turn_task: asyncio.Task[None] | None = None
        self._vad: EnergyVad | None = None
        self._speaking = False

    @property
    def is_open(self) -> bool:
        """Whether the WebSocket is open."""
        return self.ws.state is State.OPEN

    async def serve(self) -> None:
        """Run the connection to its end."""
        try:
            session = await self._setup()
            if session is None:
                return
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                lifetime = self._host.config.connection_lifetime_s
                if lifetime is not None:
                    self._spawn(self._expire, lifetime)
                try:
                    await self._read(session)
                finally:
                    self._tg = None
                    for task in self._tasks:
                        task.cancel()
        finally:
            self.record.outcome = "aborted" if self.record.outcome == "aborted" else "closed"
            if self.record.close_code is None:
                self.record.close_code = self.ws.close_code
                self.record.close_reason = self.ws.close_reason or ""

    async def go_away(self, time_left_s: float, close_after_s: float | None = None) -> None:
        """Announce the end of this connection, and close it `close_after_s` (default `time_left_s`) later."""
        await self._send(wire.go_away(time_left_s))
        delay = time_left_s if close_after_s is None else close_after_s
        config = self._host.config
        self._spawn(self._close_later, delay, config.go_away_close_code, config.go_away_close_reason)

    async def close(self, code: int, reason: str) -> None:
        """Close the WebSocket with `code` and `reason`."""
        if self.record.close_code is None:
            self.record.close_code, self.record.close_reason = code, reason
        await self.ws.close(code, reason)

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (the client sees 1006)."""
        self.record.outcome = "aborted"
        self.ws.transport.abort()

    # Setup.

    async def _setup(self) -> LiveSession | None:
        try:
            async with asyncio.timeout(SETUP_TIMEOUT_S):
                raw = await self.ws.recv()
        except ConnectionClosed:
            return None
        except TimeoutError:
            await self.close(INVALID_ARGUMENT, INVALID_ARGUMENT_REASON)
            return None
        message = self._parse(raw)
        if message is None:
            await self.close(INVALID_ARGUMENT, "Invalid JSON payload received.")
            return None
        if not self._key_accepted():
            await self.close(INVALID_ARGUMENT, BAD_KEY_REASON)
            return None
        setup = message.get("setup")
        if not isinstance(setup, dict) or len(message) != 1:
            await self.close(INVALID_ARGUMENT, INVALID_ARGUMENT_REASON)
            return None
        models = self._host.config.models
        if models is not None and setup.get("model") not in models:
            await self.close(
                POLICY_VIOLATION,
                f"{setup.get('model')} is not found or is not supported for bidiGenerateContent.",
            )
            return None
        session = await self._attach(setup)
        if session is None:
            return None
        session.record("client", self._redact(message), self._index)
        await self._send(wire.setup_complete())
        if session.resumption_requested:
            await self._send(wire.session_resumption_update(self._host.issue_handle(session)))
        return session

    async def _attach(self, setup: Json) -> LiveSession | None:
        handle = get_path(setup, "sessionResumption", "handle")
        if not handle:
            session = self._host.open_session(setup)
        else:
            found = self._host.find_session(str(handle))
            if found is None:
                await self.close(INVALID_ARGUMENT, "Session resumption handle is invalid or has expired.")
                return None
            others = [c for c in self._host.connections_of(found) if c is not self and c.is_open]
            if others and not self._host.config.allow_concurrent_resume:
                await self.close(INTERNAL_ERROR, "The session is still in use by another connection.")
                return None
            session = found
            session.setup = setup
            session.resumptions += 1
            self.record.resumed = True
        self._index = session.connections
        session.connections += 1
        self.session = session
        self.record.session_id = session.id
        return session

    def _key_accepted(self) -> bool:
        request = self.ws.request
        if request is None:
            return False
        sent = request.headers.get("x-goog-api-key")
        if sent is None:
            sent = next(iter(parse_qs(urlsplit(request.path).query).get("key", [])), None)
        return sent == self._host.config.api_key

    # Client messages.

    async def _read(self, session: LiveSession) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                message = self._parse(raw)
                if message is None:
                    await self.close(INVALID_ARGUMENT, "Invalid JSON payload received.")
                    return
                session.record("client", self._redact(message), self._index)
                for kind, body in message.items():
                    if not await self._dispatch(session, kind, body if isinstance(body, dict) else {}):
                        return

    async def _dispatch(self, session: LiveSession, kind: str, body: Json) -> bool:
        if kind == "realtimeInput":
            await self._on_realtime_input(session, body)
        elif kind == "clientContent":
            await self._on_client_content(session, body)
        elif kind == "toolResponse":
            self._on_tool_response(session, body)
        elif kind == "contextUpdate":
            session.setup.update(
                {key: value for key, value in body.items() if key in ("systemInstruction", "tools")}
            )
        else:
            reason = f'Invalid JSON payload received. Unknown name "{kind}": Cannot find field.'
            await self.close(INVALID_ARGUMENT, reason if kind != "setup" else INVALID_ARGUMENT_REASON)
            return False
        return True

    async def _on_realtime_input(self, session: LiveSession, body: Json) -> None:
        blobs = [body["audio"]] if isinstance(body.get("audio"), dict) else []
        blobs += [chunk for chunk in body.get("mediaChunks") or [] if isinstance(chunk, dict)]
        for blob in blobs:
            mime_type = str(blob.get("mimeType", ""))
            if mime_type.startswith("audio/pcm"):
                await self._on_audio(session, blob.get("data"), wire.pcm_rate(mime_type))
        if body.get("activityStart") is not None:
            await self._caller_started(session)
        if body.get("activityEnd") is not None or body.get("audioStreamEnd"):
            await self._caller_stopped(session)
            self._vad = None
        if body.get("text"):
            await self._interrupt(session)
            await self._caller_turn(session, str(body["text"]), transcript_sent=False)

    async def _on_audio(self, session: LiveSession, data: Any, rate: int) -> None:
        try:
            pcm = wire.decode_bytes(str(data or ""))
        except binascii.Error:
            return
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.int16)
        session.audio_received_ms += samples.size * 1000 / rate
        detection = session.automatic_activity_detection
        if detection.get("disabled"):
            return
        if self._vad is None or self._vad.rate != rate:
            self._vad = detector(detection, rate)
        for event in self._vad.feed(samples):
            if event is VadEvent.SPEECH_STARTED:
                await self._caller_started(session)
            else:
                await self._caller_stopped(session)

    async def _caller_started(self, session: LiveSession) -> None:
        if self._speaking:
            return
        self._speaking = True
        if session.activity_handling != "NO_INTERRUPTION":
            await self._interrupt(session)

    async def _caller_stopped(self, session: LiveSession) -> None:
        if not self._speaking:
            return
        self._speaking = False
        vad = self._vad
        spoken_ms = 0.0
        if vad is not None:
            spoken_ms = (vad.audio_ms if vad.speaking else vad.speech_end_ms) - vad.speech_start_ms
        script = self._host.script.for_instructions(session.system_instruction)
        transcript = script.transcript_for(
            script.caller_turn_index(session.caller_turns, session.system_instruction)
        )
        await self._caller_turn(session, transcript, transcript_sent=True, audio_ms=max(0.0, spoken_ms))

    async def _caller_turn(
        self, session: LiveSession, transcript: str, *, transcript_sent: bool, audio_ms: float = 0.0
    ) -> None:
        caller_turn = session.caller_turns
        session.caller_turns += 1
        session.history.append(Turn("user", transcript, "audio" if transcript_sent else "text", audio_ms))
        if transcript_sent and session.input_transcription:
            await self._send(wire.input_transcription(transcript))
        await self._start_turn(session, Trigger("caller", caller_turn, transcript))

    async def _on_client_content(self, session: LiveSession, body: Json) -> None:
        turns = body.get("turns") or []
        texts: list[str] = []
        for turn in [turns] if isinstance(turns, dict) else turns:
            if not isinstance(turn, dict):
                continue
            parts = turn.get("parts") or []
            text = "".join(str(part.get("text", "")) for part in parts if isinstance(part, dict))
            role: Role = "model" if turn.get("role") == "model" else "user"
            session.history.append(Turn(role, text, "text"))
            if text:
                texts.append(text)
        session.client_texts.extend(texts)
        if not body.get("turnComplete"):
            session.heard_notes.extend(texts)
            session.notify()
            return
        await self._interrupt(session)
        if not session.greeted:
            session.greeted = True
            await self._start_turn(session, Trigger("greeting", -1, "\n".join(texts)))
        else:
            caller_turn = session.caller_turns
            session.caller_turns += 1
            await self._start_turn(session, Trigger("caller", caller_turn, "\n".join(texts)))

    def _on_tool_response(self, session: LiveSession, body: Json) -> None:
        for response in body.get("functionResponses") or []:
            if isinstance(response, dict):
                session.tool_responses.append(response)
                if self._turn is not None:
                    self._turn.resolve(response)
        session.notify()

    # Model turns.

    async def _start_turn(self, session: LiveSession, trigger: Trigger) -> None:
        failure = self._host.take_turn_failure()
        if failure is not None:
            await self.close(*failure)
            return
        previous = self._turn_task if self._turn_task is not None and not self._turn_task.done() else None
        turn = ModelTurn(
            session=session,
            config=self._host.config,
            script=self._host.script.for_instructions(session.system_instruction),
            trigger=trigger,
            send=self._send,
        )
        self._turn = turn
        self._turn_task = self._spawn(self._run_turn, session, turn, previous)

    async def _run_turn(
        self, session: LiveSession, turn: ModelTurn, previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        await turn.run()
        await self._resumption_update(session)

    async def _interrupt(self, session: LiveSession) -> None:
        turn, task = self._turn, self._turn_task
        if turn is None or task is None or not turn.open:
            return
        task.cancel()
        await asyncio.wait({task})
        session.interruptions += 1
        ids = turn.pending_tool_ids
        if ids:
            session.cancelled_tool_call_ids.extend(ids)
            await self._send(wire.tool_call_cancellation(ids))
        await self._send(wire.interrupted())
        await self._send(wire.turn_complete(turn.usage()))
        await self._resumption_update(session)

    async def _resumption_update(self, session: LiveSession) -> None:
        if session.resumption_requested:
            await self._send(wire.session_resumption_update(self._host.issue_handle(session)))

    # Plumbing.

    async def _send(self, message: Json) -> None:
        if self.session is not None:
            self.session.record("server", self._redact(message), self._index)
        await self.ws.send(json.dumps(message))

    def _spawn(self, function: Callable[..., Awaitable[None]], *args: Any) -> asyncio.Task[None] | None:
        """Run `function(*args)` in the connection's task group; None once the connection is over.

        The coroutine is created inside the task, so a task cancelled before it starts leaves nothing behind.
        """
        if self._tg is None:
            return None
        task = self._tg.create_task(self._guarded(function, *args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _guarded(function: Callable[..., Awaitable[None]], *args: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            await function(*args)

    async def _expire(self, lifetime_s: float) -> None:
        notice = self._host.config.go_away_notice_s
        await asyncio.sleep(max(0.0, lifetime_s - notice))
        await self.go_away(notice)

    async def _close_later(self, delay_s: float, code: int, reason: str) -> None:
        await asyncio.sleep(delay_s)
        await self.close(code, reason)

    def _parse(self, raw: str | bytes) -> Json | None:
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(message, dict) or not message:
            return None
        return {camel(str(key)): normalise(value) for key, value in message.items()}

    def _redact(self, message: Json) -> Json:
        if self._host.config.record_audio:
            return message
        return {key: wire.without_audio(value) for key, value in message.items()}

"""One realtime WebSocket connection: the client events it handles and the server events it answers with."""

from __future__ import annotations

import asyncio
import binascii
import logging
import time
from collections.abc import Coroutine
from typing import Any, Literal

import msgspec
from aiohttp import WSMsgType, web

from switchboard.sim.openai_realtime import _audio
from switchboard.sim.openai_realtime._conversation import ItemError, find_item, insert_item
from switchboard.sim.openai_realtime._decoding import decode_client_event
from switchboard.sim.openai_realtime._input_buffer import InputBuffer
from switchboard.sim.openai_realtime._planner import AwaitOutput, plan_response, user_turn_number
from switchboard.sim.openai_realtime._response import ResponseRun, snapshot
from switchboard.sim.openai_realtime.behaviour import Behaviour
from switchboard.sim.openai_realtime.events import (
    AnyClientEvent,
    AudioDelta,
    Cleared,
    Committed,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    Error,
    ErrorBody,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    ItemAdded,
    ItemDeleted,
    ItemDone,
    ItemRetrieved,
    ResponseCancel,
    ResponseCreate,
    ResponseParams,
    ServerEvent,
    SessionCreated,
    SessionUpdate,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    TranscriptionCompleted,
    TranscriptionDelta,
    TranscriptionUsage,
    new_id,
)
from switchboard.sim.openai_realtime.items import (
    FunctionCallOutputItem,
    InputAudio,
    Item,
    MessageItem,
)
from switchboard.sim.openai_realtime.recording import EmulatedSession, RecordedEvent, ResponseRecord
from switchboard.sim.openai_realtime.script import Script
from switchboard.sim.openai_realtime.session_config import (
    SessionConfigError,
    input_format,
    merge_session,
    output_modality,
    transcription_enabled,
    turn_detection,
)
from switchboard.sim.openai_realtime.truncation import TruncationError, truncate
from switchboard.sim.vad import VadEvent

logger = logging.getLogger(__name__)

_MIN_COMMIT_MS = 100.0


class Connection:
    """Serves one session until the client leaves or the server closes it."""

    def __init__(self, ws: web.WebSocketResponse, session: EmulatedSession) -> None:
        self.ws = ws
        self.session = session
        self._conversation_id = new_id("conv")
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._active: ResponseRun | None = None
        self._awaiting_output: tuple[str, ResponseParams | None, str | None] | None = None
        self._auto_response_pending = False
        self._input = InputBuffer()
        self._input.configure(session.config)
        session.attach(self)

    @property
    def script(self) -> Script:
        """The session's script, read at each use so a test may swap it mid-call."""
        return self.session.script.for_instructions(self._session_instructions())

    def _session_instructions(self) -> str | None:
        instructions = self.session.config.get("instructions")
        return instructions if isinstance(instructions, str) else None

    @property
    def behaviour(self) -> Behaviour:
        """The session's knobs, read at each use."""
        return self.session.behaviour

    async def serve(self) -> None:
        """Send `session.created`, then handle client events until the socket closes."""
        await self.send(SessionCreated(session=self.session.config))
        self._spawn(self._expire())
        try:
            async for message in self.ws:
                if message.type == WSMsgType.TEXT:
                    try:
                        await self._handle_text(message.data)
                    except Exception:
                        logger.exception("emulated realtime session %s failed on an event", self.session.id)
                        await self.send_error(
                            "The server had an error processing the event.", code="server_error"
                        )
                elif message.type == WSMsgType.BINARY:
                    await self.send_error(
                        "Binary frames are not supported; send JSON text.", code="invalid_json"
                    )
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------------------------------ plumbing

    async def send(self, event: ServerEvent) -> None:
        """Send an event and record it; events to a closing socket are dropped."""
        if self.ws.closed:
            return
        data = msgspec.json.encode(event).decode()
        async with self._send_lock:
            try:
                await self.ws.send_str(data)
            except ConnectionResetError:
                return
        audio_bytes = 0
        body: ServerEvent = event
        if isinstance(event, AudioDelta):
            audio_bytes = len(event.delta) * 3 // 4
            if not self.behaviour.record_audio:
                body = msgspec.structs.replace(event, delta="")
        event_type = type(event).__struct_config__.tag
        self.session.record(RecordedEvent("server", str(event_type), time.monotonic(), body, audio_bytes))

    async def send_error(
        self,
        message: str,
        *,
        code: str | None,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        event_id: str | None = None,
    ) -> None:
        """Send an `error` event; the session stays open."""
        await self.send(
            Error(
                error=ErrorBody(type=error_type, code=code, message=message, param=param, event_id=event_id)
            )
        )

    async def close(self, code: int, reason: str = "") -> None:
        """Close the socket from the server side."""
        if self.session.close_code is None:
            self.session.close_code = code
        await self.ws.close(code=code, message=reason.encode())

    def append_item(self, item: Item) -> str | None:
        """Add an item at the end of the conversation; returns the id of the item before it."""
        previous = self.session.items[-1].id if self.session.items else None
        self.session.items.append(item)
        return previous

    async def response_finished(self, run: ResponseRun) -> None:
        """A response ended: start the one server VAD asked for meanwhile, if any."""
        if self._active is run:
            self._active = None
        if self._auto_response_pending:
            self._auto_response_pending = False
            await self._request_response(None, trigger="server_vad", event_id=None)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("emulated realtime session %s: a task failed", self.session.id, exc_info=error)

    async def _expire(self) -> None:
        await asyncio.sleep(self.behaviour.max_session_s)
        minutes = self.behaviour.max_session_s / 60
        await self.send_error(
            f"Your session hit the maximum duration of {minutes:g} minutes.", code="session_expired"
        )
        await self.close(1001, "session expired")

    # ------------------------------------------------------------------------------------------ client events

    async def _handle_text(self, raw: str) -> None:
        received = time.monotonic()
        frame = decode_client_event(raw)
        self._record_client(frame.json, raw, received)
        if frame.error is not None:
            await self.send(Error(error=frame.error))
        elif frame.event is not None:
            await self._dispatch(frame.event)

    def _record_client(self, decoded: dict[str, Any] | None, raw: str, received: float) -> None:
        if decoded is None:
            self.session.record(RecordedEvent("client", "", received, {"raw": raw[:2000]}))
            return
        audio_bytes = 0
        body = decoded
        if decoded.get("type") == "input_audio_buffer.append" and isinstance(decoded.get("audio"), str):
            audio_bytes = len(decoded["audio"]) * 3 // 4
            if not self.behaviour.record_audio:
                body = {**decoded, "audio": ""}
        self.session.record(RecordedEvent("client", str(decoded.get("type")), received, body, audio_bytes))

    async def _dispatch(self, event: AnyClientEvent) -> None:
        match event:
            case SessionUpdate():
                await self._session_update(event)
            case InputAudioBufferAppend():
                await self._append(event)
            case InputAudioBufferCommit():
                await self._commit(event)
            case InputAudioBufferClear():
                self._input.clear()
                await self.send(Cleared())
            case ConversationItemCreate():
                await self._item_create(event)
            case ConversationItemDelete():
                await self._item_delete(event)
            case ConversationItemRetrieve():
                await self._item_retrieve(event)
            case ConversationItemTruncate():
                await self._truncate(event)
            case ResponseCreate():
                await self._request_response(event.response, trigger="client", event_id=event.event_id)
            case ResponseCancel():
                await self._response_cancel(event)

    async def _session_update(self, event: SessionUpdate) -> None:
        try:
            merged = merge_session(
                self.session.config,
                event.session,
                assistant_audio=any(ms > 0 for ms in self.session.assistant_audio_ms.values()),
            )
        except SessionConfigError as e:
            await self.send_error(e.message, code=e.code, param=e.param, event_id=event.event_id)
            return
        self.session.config = merged
        self._input.configure(merged)
        await self.send(SessionUpdated(session=merged))

    async def _append(self, event: InputAudioBufferAppend) -> None:
        fmt = input_format(self.session.config)
        try:
            samples = _audio.decode(event.audio, fmt)
        except (binascii.Error, ValueError):
            await self.send_error(
                "Invalid 'audio'. Expected base64-encoded audio.",
                code="invalid_value",
                param="audio",
                event_id=event.event_id,
            )
            return
        self.session.audio_received_ms += _audio.duration_ms(samples.size, fmt.sample_rate)
        for change in self._input.append(samples, fmt.sample_rate):
            if change is VadEvent.SPEECH_STARTED:
                await self._speech_started()
            else:
                await self._speech_stopped()

    async def _speech_started(self) -> None:
        item_id = new_id("item")
        self._input.speech_item_id = item_id
        await self.send(SpeechStarted(audio_start_ms=int(self._input.speech_start_ms), item_id=item_id))
        detection = turn_detection(self.session.config)
        if detection is not None and detection.interrupt_response and self._active is not None:
            await self._active.cancel("turn_detected")

    async def _speech_stopped(self) -> None:
        item_id = self._input.speech_item_id or new_id("item")
        self._input.speech_item_id = None
        await self.send(SpeechStopped(audio_end_ms=int(self._input.speech_end_ms), item_id=item_id))
        await self._commit_user_audio(item_id)
        detection = turn_detection(self.session.config)
        if detection is not None and detection.create_response:
            await self._request_response(None, trigger="server_vad", event_id=None)

    async def _commit(self, event: InputAudioBufferCommit) -> None:
        buffered_ms = self._input.buffered_ms
        if buffered_ms < _MIN_COMMIT_MS:
            await self.send_error(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
                event_id=event.event_id,
            )
            return
        item_id = self._input.speech_item_id or new_id("item")
        self._input.clear()
        await self._commit_user_audio(item_id)

    async def _commit_user_audio(self, item_id: str) -> None:
        self._input.take()
        item = MessageItem(id=item_id, role="user", status="completed", content=[InputAudio(transcript=None)])
        previous = self.session.items[-1].id if self.session.items else None
        await self.send(Committed(item_id=item_id, previous_item_id=previous))
        self.append_item(item)
        await self.send(ItemAdded(item=snapshot(item), previous_item_id=previous))
        await self.send(ItemDone(item=snapshot(item), previous_item_id=previous))
        script = self.script
        number = script.caller_turn_number(user_turn_number(self.session.items), self._session_instructions())
        transcript = script.caller_transcript(number)
        if not transcription_enabled(self.session.config):
            return
        if self.behaviour.transcription_delay_s > 0:
            self._spawn(self._transcribe_later(item, transcript))
        else:
            await self._transcribe(item, transcript)

    async def _transcribe_later(self, item: MessageItem, transcript: str) -> None:
        await asyncio.sleep(self.behaviour.transcription_delay_s)
        await self._transcribe(item, transcript)

    async def _transcribe(self, item: MessageItem, transcript: str) -> None:
        words = transcript.split()
        for index, word in enumerate(words):  # gpt-4o-transcribe streams the words as it hears them
            await self.send(
                TranscriptionDelta(
                    item_id=item.id or "", content_index=0, delta=(" " if index else "") + word
                )
            )
        item.content = [InputAudio(transcript=transcript)]
        audio_tokens = 20
        await self.send(
            TranscriptionCompleted(
                item_id=item.id or "",
                content_index=0,
                transcript=transcript,
                usage=TranscriptionUsage(
                    total_tokens=audio_tokens + len(words),
                    input_tokens=audio_tokens,
                    output_tokens=len(words),
                ),
            )
        )

    async def _item_create(self, event: ConversationItemCreate) -> None:
        item = event.item
        try:
            previous = insert_item(self.session.items, item, event.previous_item_id)
        except ItemError as e:
            await self.send_error(e.message, code=e.code, param=e.param, event_id=event.event_id)
            return
        if isinstance(item, FunctionCallOutputItem):
            self.session.function_outputs[item.call_id] = item.output
        await self.send(ItemAdded(item=snapshot(item), previous_item_id=previous))
        await self.send(ItemDone(item=snapshot(item), previous_item_id=previous))
        if isinstance(item, FunctionCallOutputItem) and self._awaiting_output is not None:
            call_id, params, event_id = self._awaiting_output
            if call_id == item.call_id:
                self._awaiting_output = None
                await self._request_response(params, trigger="client", event_id=event_id)

    async def _item_delete(self, event: ConversationItemDelete) -> None:
        try:
            item = find_item(self.session.items, event.item_id)
        except ItemError as e:
            await self.send_error(e.message, code=e.code, param=e.param, event_id=event.event_id)
            return
        self.session.items.remove(item)
        await self.send(ItemDeleted(item_id=event.item_id))

    async def _item_retrieve(self, event: ConversationItemRetrieve) -> None:
        try:
            item = find_item(self.session.items, event.item_id)
        except ItemError as e:
            await self.send_error(e.message, code=e.code, param=e.param, event_id=event.event_id)
            return
        await self.send(ItemRetrieved(item=snapshot(item)))

    async def _truncate(self, event: ConversationItemTruncate) -> None:
        if self._active is not None and self._active.item_id == event.item_id:
            await self._active.cancel("client_cancelled")
        try:
            truncation, done = truncate(self.session, event.item_id, event.content_index, event.audio_end_ms)
        except TruncationError as e:
            await self.send_error(e.message, code=e.code, param=e.param, event_id=event.event_id)
            return
        self.session.truncations.append(truncation)
        await self.send(done)

    # ------------------------------------------------------------------------------------------ responses

    async def _request_response(
        self, params: ResponseParams | None, *, trigger: Literal["client", "server_vad"], event_id: str | None
    ) -> None:
        if self._active is not None or self._awaiting_output is not None:
            if trigger == "client":
                busy = self._active.id if self._active is not None else "pending"
                await self.send_error(
                    f"Conversation already has an active response in progress: {busy}. Wait until the "
                    "response is finished before creating a new one.",
                    code="conversation_already_has_active_response",
                    event_id=event_id,
                )
            else:
                self._auto_response_pending = True
            return
        try:
            modality = output_modality(
                params.output_modalities
                if params is not None and params.output_modalities is not None
                else self.session.config.get("output_modalities"),
                "response.output_modalities",
            )
        except SessionConfigError as e:
            await self.send_error(e.message, code=e.code, param=e.param, event_id=event_id)
            return
        instructions = params.instructions if params is not None else None
        plan = plan_response(self.session.items, self.script, instructions)
        if isinstance(plan, AwaitOutput):
            self._awaiting_output = (plan.call_id, params, event_id)
            return
        record = ResponseRecord(
            id=new_id("resp"),
            trigger=trigger,
            metadata=params.metadata if params is not None else None,
        )
        self.session.responses.append(record)
        run = ResponseRun(self, plan, record, self._conversation_id, modality)
        self._active = run
        run.task = self._spawn(run.run())

    async def _response_cancel(self, event: ResponseCancel) -> None:
        active = self._active
        if active is not None and event.response_id in (None, active.id):
            await active.cancel("client_cancelled")
            return
        if self._awaiting_output is not None and event.response_id is None:
            self._awaiting_output = None
            return
        await self.send_error(
            "Cancellation failed: no active response found",
            code="response_cancel_not_active",
            event_id=event.event_id,
        )

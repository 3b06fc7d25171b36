"""One call's conversation with OpenAI Realtime, through LiveKit's OpenAI plugin.

The plugin reports what happens through synchronous callbacks from its socket reader. Each callback only queues
the matching `SessionEvents` call on one of three lanes, each served in order by a task of its own, so a slow step
on one lane never holds up another:

- speech: the caller started or stopped speaking, and nothing else, so a barge-in reaches the call agent (which
  publishes `ctl.clear` first thing) one loop iteration after the plugin read it off the socket;
- responses: each generation in turn: its audio and transcript as they stream, its end, then the tools it called
  (run once the response is over, when the model accepts a function output and a new response);
- notices: caller transcripts, errors and reconnections (each a JetStream publish that waits for its ack).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from typing import Any, Literal

from livekit import rtc
from livekit.agents import APIError, llm
from livekit.agents.metrics import RealtimeModelMetrics
from livekit.plugins.openai.realtime import RealtimeModel, RealtimeSession

from switchboard.agent_openai import mapping
from switchboard.agent_openai.mapping import SpokenItem
from switchboard.agent_openai.settings import AgentOpenAISettings
from switchboard.common.agent.model_session import HeardReport, SessionEvents, ToolCall
from switchboard.common.agent.tools import ToolSpec
from switchboard.common.errors import ErrorCategory, SwitchboardError
from switchboard.common.profiles import Profile

logger = logging.getLogger(__name__)

Step = Callable[[], Awaitable[None]]

_TRUNCATE_MODALITIES: list[Literal["text", "audio"]] = ["audio", "text"]


class _Lane:
    """Runs queued steps one after another in a task of its own; a failing step is logged and the lane goes on."""

    def __init__(self, name: str, call_id: str) -> None:
        self.name = name
        self._task_name = f"openai-{name}-{call_id}"
        self._queue: asyncio.Queue[Step] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._serve(), name=self._task_name)

    def put(self, step: Step) -> None:
        self._queue.put_nowait(step)

    async def _serve(self) -> None:
        while True:
            step = await self._queue.get()
            try:
                await step()
            except Exception:
                logger.exception("the %s lane failed on a step", self.name)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait([task])


class OpenAISession:
    """A `ModelSession` on OpenAI Realtime: one `RealtimeModel` and its session per call.

    The plugin connects, configures (instructions, voice, tools, turn detection), sends caller audio (in 100 ms
    appends unless `input_batching` is off), reconnects after a dropped socket (replaying the conversation as
    text) and rotates the connection every `max_session_duration_s`. This class turns its events into the call agent's, remembers
    which assistant items each response spoke (to truncate them to what the caller heard), and returns tool
    results to the model.
    """

    def __init__(
        self,
        profile: Profile,
        events: SessionEvents,
        call_id: str,
        settings: AgentOpenAISettings,
        tools: Sequence[ToolSpec] = (),
    ) -> None:
        self._profile = profile
        self._tools = list(tools)
        self._events = events
        self._settings = settings
        self._model: RealtimeModel | None = None
        self._session: RealtimeSession | None = None
        self._speech = _Lane("speech", call_id)
        self._responses = _Lane("responses", call_id)
        self._notices = _Lane("notices", call_id)
        self._spoken: dict[str, list[SpokenItem]] = {}
        self._cancelled: dict[str, bool] = {}
        self._unnamed = itertools.count(1)
        self._failed: SwitchboardError | None = None
        self._closed = False

    # --- ModelSession ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the model session (the plugin connects in the background and queues what is sent meanwhile)."""
        self._model = RealtimeModel(**mapping.model_kwargs(self._profile, self._settings))
        session = self._session = self._model.session()
        for lane in (self._speech, self._responses, self._notices):
            lane.start()
        session.on("input_speech_started", self._on_speech_started)
        session.on("input_speech_stopped", self._on_speech_stopped)
        session.on("input_audio_transcription_completed", self._on_transcript)
        session.on("generation_created", self._on_generation)
        session.on("metrics_collected", self._on_metrics)
        session.on("session_reconnected", self._on_reconnected)
        session.on("error", self._on_error)
        await session.update_instructions(self._profile.instructions)
        await session.update_tools(mapping.tools(self._tools))

    async def speak_first(self, prompt: str) -> None:
        """Ask for the first response with `prompt` as its instructions (the plugin puts the session's before it).

        Returns once the model has created the response.
        """
        session = self._require()
        try:
            await session.generate_reply(instructions=prompt)
        except llm.RealtimeError as exc:
            if (
                self._failed is None
            ):  # else the fatal error that ended the session is reported, with its reason
                raise SwitchboardError(
                    f"OpenAI Realtime did not start the first response: {exc}",
                    category=ErrorCategory.PROVIDER,
                    code=exc.code or "first_response_failed",
                    retryable=True,
                ) from exc

    async def push_audio(self, pcm: bytes) -> None:
        """Send caller audio: through the plugin's 100 ms batching, or appended at once (`input_batching`)."""
        session = self._session
        if session is None or self._closed or self._failed is not None:
            return
        if self._settings.input_batching:
            session.push_audio(mapping.audio_frame(pcm))
        else:
            session.send_event(mapping.audio_append(pcm))

    async def interrupt(self) -> None:
        """Cancel the response in progress, if any (server VAD has usually cancelled it already)."""
        if self._session is not None and not self._closed:
            self._session.interrupt()

    async def reconcile_heard(self, report: HeardReport) -> None:
        """Truncate the response's assistant items to the audio the caller heard."""
        session = self._session
        spoken = self._spoken.get(report.response_id)
        if session is None or self._closed or not spoken:
            return
        for message_id, audio_end_ms in mapping.truncation_points(spoken, report.played_ms):
            session.truncate(
                message_id=message_id,
                modalities=_TRUNCATE_MODALITIES,
                audio_end_ms=audio_end_ms,
                audio_transcript=report.heard_text,
            )

    async def send_tool_result(self, call: ToolCall, result: dict[str, Any], *, respond: bool) -> None:
        """Add the function output to the conversation, then ask for a response if the model should answer."""
        session = self._require()
        chat_ctx = session.chat_ctx.copy()
        chat_ctx.items.append(mapping.tool_output(call, result))
        try:
            await session.update_chat_ctx(chat_ctx)
            if respond:
                await session.generate_reply()
        except llm.RealtimeError as exc:
            if self._failed is None:
                await self._events.session_error(
                    SwitchboardError(
                        f"OpenAI Realtime did not take the result of {call.name}: {exc}",
                        category=ErrorCategory.PROVIDER,
                        code=exc.code or "tool_result_failed",
                        retryable=True,
                    )
                )

    async def aclose(self) -> None:
        """Stop the lanes, then close the session and the model."""
        self._closed = True
        for lane in (self._speech, self._responses, self._notices):
            await lane.aclose()
        if self._session is not None:
            with contextlib.suppress(APIError):  # re-raised: the fatal error that ended the session
                await self._session.aclose()
        if self._model is not None:
            await self._model.aclose()

    def _require(self) -> RealtimeSession:
        if self._session is None:
            raise SwitchboardError(
                "the model session is not started", category=ErrorCategory.INTERNAL, code="not_started"
            )
        return self._session

    # --- plugin events (synchronous, from the plugin's socket reader) ----------------------------------

    def _on_speech_started(self, _: llm.InputSpeechStartedEvent) -> None:
        if not self._closed:
            self._speech.put(self._events.caller_speech_started)

    def _on_speech_stopped(self, _: llm.InputSpeechStoppedEvent) -> None:
        if not self._closed:
            self._speech.put(self._events.caller_speech_stopped)

    def _on_transcript(self, event: llm.InputTranscriptionCompleted) -> None:
        if event.is_final and event.transcript.strip() and not self._closed:
            self._notices.put(functools.partial(self._events.caller_transcript, event.transcript))

    def _on_generation(self, event: llm.GenerationCreatedEvent) -> None:
        if not self._closed:
            response_id = event.response_id or f"unnamed-{next(self._unnamed)}"
            self._responses.put(functools.partial(self._play, response_id, event))

    def _on_metrics(self, metrics: object) -> None:
        # one per `response.done`, emitted before the response's streams are seen closed
        if isinstance(metrics, RealtimeModelMetrics) and metrics.request_id:
            self._cancelled[metrics.request_id] = metrics.cancelled

    def _on_reconnected(self, _: llm.RealtimeSessionReconnectedEvent) -> None:
        if not self._closed:
            self._notices.put(self._events.session_reconnected)

    def _on_error(self, event: llm.RealtimeModelError) -> None:
        if self._closed:
            return
        error = mapping.session_error(event.error, recoverable=event.recoverable)
        if not error.retryable:
            self._failed = error
        self._notices.put(functools.partial(self._events.session_error, error))

    # --- responses -------------------------------------------------------------------------------------

    async def _play(self, response_id: str, generation: llm.GenerationCreatedEvent) -> None:
        """Forward one response as it streams, end it, then run the tools it called."""
        events = self._events
        await events.response_started(response_id)
        spoken = self._spoken.setdefault(response_id, [])
        async for message in generation.message_stream:
            item = SpokenItem(message.message_id)
            spoken.append(item)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._forward_text(response_id, message.text_stream))
                await self._forward_audio(response_id, item, message.audio_stream)
        calls = [call async for call in generation.function_stream]
        # as its `response.done` said; none came when the plugin dropped the response (reconnection, close)
        interrupted = self._cancelled.pop(response_id, True)
        await events.response_done(response_id, interrupted=interrupted)
        for call in calls:
            await events.tool_called(mapping.tool_call(call, response_id))

    async def _forward_audio(
        self, response_id: str, item: SpokenItem, frames: AsyncIterable[rtc.AudioFrame]
    ) -> None:
        async for frame in frames:
            item.received_ms += mapping.duration_ms(frame)
            await self._events.response_audio(response_id, mapping.pcm(frame))

    async def _forward_text(self, response_id: str, deltas: AsyncIterable[str]) -> None:
        async for delta in deltas:
            await self._events.response_text(response_id, str(delta))

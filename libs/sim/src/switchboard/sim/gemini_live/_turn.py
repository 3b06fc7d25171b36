"""One model turn: optional tool calls, then the scripted answer streamed as audio (or text) with transcripts."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from switchboard.sim.flow_following import conversation_over, flow_output, next_tool, resumed_opening
from switchboard.sim.gemini_live import _wire as wire
from switchboard.sim.gemini_live._wire import Json
from switchboard.sim.gemini_live.config import GeminiLiveConfig
from switchboard.sim.gemini_live.script import GeminiScript, ReplyRequest, ScriptedToolCall
from switchboard.sim.gemini_live.session import LiveSession, Turn
from switchboard.sim.speech import synthesize

Send = Callable[[Json], Awaitable[None]]
_MAX_REPEATS = 50
_TEXT_WORDS_PER_CHUNK = 3


@dataclass(frozen=True, slots=True)
class Trigger:
    """What the model is answering: the greeting request or caller turn `caller_turn`."""

    kind: Literal["greeting", "caller"]
    caller_turn: int
    transcript: str


class ModelTurn:
    """Plays one turn through `send`. Cancelling the task running `run()` is how the caller interrupts it."""

    def __init__(
        self,
        *,
        session: LiveSession,
        config: GeminiLiveConfig,
        script: GeminiScript,
        trigger: Trigger,
        send: Send,
    ) -> None:
        self._session = session
        self._config = config
        self._script = script
        self._trigger = trigger
        self._send = send
        self._pending: dict[str, asyncio.Future[Json]] = {}
        self.open = True
        """True until `turnComplete` has been handed to the socket."""
        self.audio_sent_ms = 0.0
        self.text_sent = ""

    @property
    def pending_tool_ids(self) -> list[str]:
        """Ids of function calls still waiting for their response."""
        # A call interrupted while awaited has a cancelled future: it is still unanswered.
        return [
            call_id for call_id, future in self._pending.items() if future.cancelled() or not future.done()
        ]

    def resolve(self, response: Json) -> bool:
        """Hand a `functionResponse` to the call waiting for it; False if no pending call has its id."""
        future = self._pending.get(str(response.get("id")))
        if future is None or future.done():
            return False
        future.set_result(response)
        return True

    async def run(self) -> None:
        """Answer the trigger; the turn enters the history whether it completes or is cut short."""
        self._session.model_turns += 1
        completed = False
        try:
            await asyncio.sleep(self._config.time_to_first_chunk_s)
            if self._script.follows_flow:
                await self._follow_flow()
                return
            responses = await self._call_tools()
            if self._trigger.kind == "greeting":
                text = self._script.greeting
            else:
                request = ReplyRequest(
                    self._trigger.caller_turn, self._trigger.transcript, responses, self._session
                )
                text = self._script.reply_for(request)
            if "AUDIO" in self._session.response_modalities:
                await self._speak(text)
            else:
                await self._write(text)
            await self._complete()
            completed = True
        finally:
            self._session.history.append(
                Turn("model", self.text_sent, "audio", self.audio_sent_ms, interrupted=not completed)
            )
            self._session.notify()

    async def _complete(self) -> None:
        await self._send(wire.generation_complete())
        self.open = False
        await self._send(wire.turn_complete(self.usage()))
        self._session.completed_turns += 1

    async def _follow_flow(self) -> None:
        """A turn of a model following the flow: the caller's words to the flow tool, then its `say`.

        When the flow is over the model says goodbye, then calls end_call in the same turn.
        """
        if self._trigger.kind == "greeting":
            text = resumed_opening(self._trigger.transcript) or self._script.greeting
            await self._say(text)
            await self._complete()
            return
        outputs = [out for r in self._session.tool_responses if (out := flow_output(r.get("response") or {}))]
        tool = next_tool(outputs[-1] if outputs else None)
        words = {"caller_words": self._trigger.transcript}
        (response,) = await self._call(ScriptedToolCall(tool, words))
        result = flow_output(response.get("response") or {}) or {}
        if result.get("ok") is False and next_tool(result) != tool:  # the wrong tool for where the flow is
            (response,) = await self._call(ScriptedToolCall(next_tool(result), words))
            result = flow_output(response.get("response") or {}) or {}
        await self._say(str(result.get("say", "")))
        if conversation_over(result):
            await self._call(ScriptedToolCall("end_call", {"reason": "flow_done"}))
        await self._complete()

    async def _say(self, text: str) -> None:
        if not text:
            return
        if "AUDIO" in self._session.response_modalities:
            await self._speak(text)
        else:
            await self._write(text)

    async def _call(self, *scripted: ScriptedToolCall) -> tuple[Json, ...]:
        calls = [
            {"id": f"function-call-{secrets.randbits(63)}", "name": call.name, "args": dict(call.args)}
            for call in scripted
        ]
        loop = asyncio.get_running_loop()
        self._pending = {str(call["id"]): loop.create_future() for call in calls}
        self._session.tool_calls.extend(calls)
        await self._send(wire.tool_call(calls))
        responses = tuple([await future for future in self._pending.values()])
        await asyncio.sleep(self._config.time_to_first_chunk_s)
        return responses

    def usage(self) -> Json:
        """Token counts for this turn, estimated from the session's context."""
        prompt_text = wire.text_tokens(self._session.system_instruction) + sum(
            wire.text_tokens(turn.text) for turn in self._session.history if turn.source == "text"
        )
        model_audio_ms = sum(turn.audio_ms for turn in self._session.history if turn.role == "model")
        prompt_audio = wire.audio_tokens(self._session.audio_received_ms + model_audio_ms)
        if "AUDIO" in self._session.response_modalities:
            return wire.usage_metadata(
                prompt_text=prompt_text,
                prompt_audio=prompt_audio,
                response_tokens=wire.audio_tokens(self.audio_sent_ms),
                response_modality="AUDIO",
            )
        return wire.usage_metadata(
            prompt_text=prompt_text,
            prompt_audio=prompt_audio,
            response_tokens=wire.text_tokens(self.text_sent),
            response_modality="TEXT",
        )

    async def _call_tools(self) -> tuple[Json, ...]:
        if self._trigger.kind != "caller":
            return ()
        scripted = self._script.tool_calls_for(self._trigger.caller_turn)
        if not scripted:
            return ()
        return await self._call(*scripted)

    async def _speak(self, text: str) -> None:
        text, pcm = await asyncio.to_thread(self._render, text)
        words = text.split()
        per_chunk = max(1, wire.OUTPUT_RATE * self._config.chunk_ms // 1000)
        words_sent = 0
        started = time.monotonic()
        for index, start in enumerate(range(0, pcm.size, per_chunk)):
            chunk = pcm[start : start + per_chunk]
            self.audio_sent_ms += chunk.size * 1000 / wire.OUTPUT_RATE
            await self._send(wire.audio_chunk(chunk.astype("<i2").tobytes()))
            due = round(len(words) * (start + chunk.size) / pcm.size)
            if due > words_sent:
                piece = " ".join(words[words_sent:due])
                self.text_sent = " ".join(words[:due])
                if self._session.output_transcription:
                    await self._send(wire.output_transcription(piece if words_sent == 0 else " " + piece))
                words_sent = due
            await self._pace(started, index + 1)

    async def _write(self, text: str) -> None:
        words = text.split()
        started = time.monotonic()
        for index, start in enumerate(range(0, len(words), _TEXT_WORDS_PER_CHUNK)):
            piece = " ".join(words[start : start + _TEXT_WORDS_PER_CHUNK])
            self.text_sent = " ".join(words[: start + _TEXT_WORDS_PER_CHUNK])
            await self._send(wire.text_chunk(piece if start == 0 else " " + piece))
            await self._pace(started, index + 1)

    async def _pace(self, started: float, chunks_sent: int) -> None:
        interval = self._config.chunk_ms / 1000 / max(self._config.realtime_factor, 1e-6)
        await asyncio.sleep(max(0.0, started + chunks_sent * interval - time.monotonic()))

    def _render(self, text: str) -> tuple[str, npt.NDArray[np.int16]]:
        language = (self._session.language_code or self._script.language).split("-")[0]
        base = text
        pcm = synthesize(text, wire.OUTPUT_RATE, language=language, voice=self._config.voice)
        for _ in range(_MAX_REPEATS):
            if pcm.size >= self._config.min_reply_s * wire.OUTPUT_RATE:
                break
            text = f"{text} {base}"
            pcm = synthesize(text, wire.OUTPUT_RATE, language=language, voice=self._config.voice)
        if self._config.max_reply_s is not None:
            pcm = pcm[: max(1, int(self._config.max_reply_s * wire.OUTPUT_RATE))]
        return text, pcm

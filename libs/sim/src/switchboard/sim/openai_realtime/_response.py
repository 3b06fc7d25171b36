"""One response of the emulated model: its events from `response.created` to `response.done`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from typing import TYPE_CHECKING, Literal

import msgspec

from switchboard.sim.openai_realtime import _audio
from switchboard.sim.openai_realtime._planner import CallFunction, Speak
from switchboard.sim.openai_realtime.events import (
    ArgumentsDelta,
    ArgumentsDone,
    AudioDelta,
    AudioDone,
    ContentPartAdded,
    ContentPartDone,
    ItemAdded,
    ItemDone,
    OutputItemAdded,
    OutputItemDone,
    RateLimit,
    RateLimitsUpdated,
    ResponseCreated,
    ResponseDone,
    TextDelta,
    TextDone,
    TranscriptDelta,
    TranscriptDone,
    new_id,
)
from switchboard.sim.openai_realtime.items import (
    ContentPartRef,
    FunctionCallItem,
    InputTokenDetails,
    Item,
    MessageItem,
    OutputAudio,
    OutputText,
    OutputTokenDetails,
    Response,
    ResponseAudio,
    ResponseAudioOutput,
    StatusDetails,
    Usage,
)
from switchboard.sim.openai_realtime.recording import ResponseRecord
from switchboard.sim.openai_realtime.session_config import Modality, output_format, voice

if TYPE_CHECKING:
    from switchboard.sim.openai_realtime._connection import Connection

CancelReason = Literal["turn_detected", "client_cancelled"]

_TEXT_TOKENS_PER_WORD = 1.3
_INPUT_AUDIO_TOKENS_PER_S = 10.0
_OUTPUT_AUDIO_TOKENS_PER_S = 20.0


def snapshot(item: Item) -> Item:
    """A deep copy, so a recorded event keeps the item as it was when sent."""
    copied: Item = msgspec.json.decode(msgspec.json.encode(item), type=Item)
    return copied


class ResponseRun:
    """Streams one response; `cancel()` stops it the way a barge-in or `response.cancel` does."""

    def __init__(
        self,
        connection: Connection,
        plan: Speak | CallFunction,
        record: ResponseRecord,
        conversation_id: str,
        modality: Modality = "audio",
    ) -> None:
        self._connection = connection
        self._plan = plan
        self._modality: Modality = modality
        self.record = record
        self._conversation_id = conversation_id
        self._stop = asyncio.Event()
        self._reason: CancelReason | None = None
        self._output: list[Item] = []
        self.item_id: str | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        """The response id."""
        return self.record.id

    async def cancel(self, reason: CancelReason) -> None:
        """Stop streaming and wait until `response.done` (status `cancelled`) is sent."""
        if self._reason is None:
            self._reason = reason
        self._stop.set()
        if self.task is not None and self.task is not asyncio.current_task():
            await asyncio.shield(self.task)

    async def run(self) -> None:
        """Send the whole response, then tell the connection it is over."""
        await self._connection.send(ResponseCreated(response=self._response("in_progress")))
        await self._connection.send(
            RateLimitsUpdated(
                rate_limits=[
                    RateLimit(name="requests", limit=5000, remaining=4999, reset_seconds=0.012),
                    RateLimit(name="tokens", limit=400000, remaining=395000, reset_seconds=0.75),
                ]
            )
        )
        if isinstance(self._plan, CallFunction):
            await self._call(self._plan)
        elif self._modality == "text":
            await self._write(self._plan.text)
        else:
            await self._speak(self._plan.text)
        await self._finish()
        await self._connection.response_finished(self)

    async def _speak(self, text: str) -> None:
        behaviour = self._connection.behaviour
        fmt = output_format(self._connection.session.config)
        item = MessageItem(id=new_id("item"), role="assistant", status="in_progress", content=[])
        self.item_id = item.id
        self.record.item_id = item.id
        previous = self._connection.append_item(item)
        self._output = [item]
        rid, iid = self.id, item.id or ""
        await self._connection.send(OutputItemAdded(response_id=self.id, output_index=0, item=snapshot(item)))
        await self._connection.send(ItemAdded(item=snapshot(item), previous_item_id=previous))
        await self._connection.send(
            ContentPartAdded(
                response_id=rid,
                item_id=iid,
                output_index=0,
                content_index=0,
                part=ContentPartRef(type="audio", transcript=""),
            )
        )
        item.content = [OutputAudio(transcript="")]
        samples = _audio.reply_audio(
            text,
            fmt,
            language=self._connection.script.language,
            engine=behaviour.speech,
            length_ms=behaviour.reply_audio_ms,
        )
        rate = fmt.sample_rate
        step = max(1, int(rate * behaviour.chunk_ms / 1000))
        words = text.split()
        chunks = max(1, -(-samples.size // step))
        said = 0
        transcript = ""
        stopped = await self._wait(behaviour.first_delta_latency_s)
        started = time.monotonic()
        for index in range(chunks):
            if stopped:
                break
            due = -(-len(words) * (index + 1) // chunks)  # the transcript runs ahead of the audio
            if due > said:
                delta = (" " if said else "") + " ".join(words[said:due])
                said = due
                transcript += delta
                await self._connection.send(
                    TranscriptDelta(
                        response_id=rid, item_id=iid, output_index=0, content_index=0, delta=delta
                    )
                )
            chunk = samples[index * step : (index + 1) * step]
            payload = base64.b64encode(_audio.encode(chunk, fmt)).decode("ascii")
            await self._connection.send(
                AudioDelta(response_id=rid, item_id=iid, output_index=0, content_index=0, delta=payload)
            )
            self.record.audio_sent_ms += _audio.duration_ms(chunk.size, rate)
            self._connection.session.assistant_audio_ms[item.id or ""] = self.record.audio_sent_ms
            speed = self._connection.behaviour.send_speed
            ahead_s = (
                self.record.audio_sent_ms / 1000.0 / speed - (time.monotonic() - started) if speed else 0.0
            )
            stopped = await self._wait(max(0.0, ahead_s))
        self.record.text = transcript
        item.status = "incomplete" if self._reason else "completed"
        item.content = [OutputAudio(transcript=transcript)]
        await self._connection.send(AudioDone(response_id=rid, item_id=iid, output_index=0, content_index=0))
        await self._connection.send(
            TranscriptDone(
                response_id=rid, item_id=iid, output_index=0, content_index=0, transcript=transcript
            )
        )
        await self._connection.send(
            ContentPartDone(
                response_id=rid,
                item_id=iid,
                output_index=0,
                content_index=0,
                part=ContentPartRef(type="audio", transcript=transcript),
            )
        )
        await self._connection.send(OutputItemDone(response_id=self.id, output_index=0, item=snapshot(item)))
        await self._connection.send(ItemDone(item=snapshot(item), previous_item_id=previous))

    async def _write(self, text: str) -> None:
        """A text-only reply: `response.output_text.*` events, a `text` part, no audio at all."""
        item = MessageItem(id=new_id("item"), role="assistant", status="in_progress", content=[])
        self.item_id = item.id
        self.record.item_id = item.id
        previous = self._connection.append_item(item)
        self._output = [item]
        rid, iid = self.id, item.id or ""
        send = self._connection.send
        await send(OutputItemAdded(response_id=rid, output_index=0, item=snapshot(item)))
        await send(ItemAdded(item=snapshot(item), previous_item_id=previous))
        part = ContentPartRef(type="text", transcript=None, text="")
        await send(ContentPartAdded(response_id=rid, item_id=iid, output_index=0, content_index=0, part=part))
        written = ""
        stopped = await self._wait(self._connection.behaviour.first_delta_latency_s)
        for index, word in enumerate(text.split()):
            if stopped:
                break
            delta = (" " if index else "") + word
            written += delta
            await send(TextDelta(response_id=rid, item_id=iid, output_index=0, content_index=0, delta=delta))
            stopped = await self._wait(0)
        self.record.text = written
        item.status = "incomplete" if self._reason else "completed"
        item.content = [OutputText(text=written)]
        await send(TextDone(response_id=rid, item_id=iid, output_index=0, content_index=0, text=written))
        part = ContentPartRef(type="text", transcript=None, text=written)
        await send(ContentPartDone(response_id=rid, item_id=iid, output_index=0, content_index=0, part=part))
        await send(OutputItemDone(response_id=rid, output_index=0, item=snapshot(item)))
        await send(ItemDone(item=snapshot(item), previous_item_id=previous))

    async def _call(self, plan: CallFunction) -> None:
        self.record.kind = "function_call"
        if await self._wait(self._connection.behaviour.first_delta_latency_s):
            return
        item = FunctionCallItem(
            id=new_id("item"), call_id=new_id("call"), name=plan.name, arguments="", status="in_progress"
        )
        self.item_id = item.id
        self.record.item_id = item.id
        previous = self._connection.append_item(item)
        self._output = [item]
        rid, iid, call_id = self.id, item.id or "", item.call_id
        await self._connection.send(OutputItemAdded(response_id=self.id, output_index=0, item=snapshot(item)))
        await self._connection.send(ItemAdded(item=snapshot(item), previous_item_id=previous))
        half = len(plan.arguments) // 2
        for piece in (plan.arguments[:half], plan.arguments[half:]):
            if piece:
                await self._connection.send(
                    ArgumentsDelta(response_id=rid, item_id=iid, output_index=0, call_id=call_id, delta=piece)
                )
        await self._connection.send(
            ArgumentsDone(
                response_id=rid,
                item_id=iid,
                output_index=0,
                call_id=call_id,
                name=plan.name,
                arguments=plan.arguments,
            )
        )
        item.arguments = plan.arguments
        item.status = "completed"
        self.record.text = f"{plan.name}({plan.arguments})"
        await self._connection.send(OutputItemDone(response_id=self.id, output_index=0, item=snapshot(item)))
        await self._connection.send(ItemDone(item=snapshot(item), previous_item_id=previous))

    async def _finish(self) -> None:
        if self._reason is None:
            status: Literal["completed", "cancelled"] = "completed"
            details = None
        else:
            status = "cancelled"
            details = StatusDetails(type="cancelled", reason=self._reason)
        self.record.status = status
        self.record.reason = self._reason
        response = self._response(status, details=details, usage=self._usage())
        await self._connection.send(ResponseDone(response=response))

    async def _wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True as soon as the response is cancelled."""
        if seconds <= 0:
            await asyncio.sleep(0)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    def _response(
        self,
        status: Literal["in_progress", "completed", "cancelled"],
        *,
        details: StatusDetails | None = None,
        usage: Usage | None = None,
    ) -> Response:
        config = self._connection.session.config
        return Response(
            id=self.id,
            status=status,
            status_details=details,
            output=[snapshot(item) for item in self._output],
            conversation_id=self._conversation_id,
            output_modalities=[self._modality],
            max_output_tokens=config.get("max_output_tokens", "inf"),
            audio=ResponseAudio(
                output=ResponseAudioOutput(
                    format=dict((config.get("audio") or {}).get("output", {}).get("format") or {}),
                    voice=voice(config),
                )
            ),
            usage=usage,
            metadata=self.record.metadata,
        )

    def _usage(self) -> Usage:
        """Rough token counts: ~1.3 tokens a word, 10 tokens per second of input audio, 20 of output audio."""
        session = self._connection.session
        context_words = sum(
            len(item.text().split()) for item in session.items if isinstance(item, MessageItem)
        )
        text_in = int(context_words * _TEXT_TOKENS_PER_WORD) + 50
        audio_in = int(session.audio_received_ms / 1000.0 * _INPUT_AUDIO_TOKENS_PER_S)
        text_out = int(len(self.record.text.split()) * _TEXT_TOKENS_PER_WORD)
        audio_out = int(self.record.audio_sent_ms / 1000.0 * _OUTPUT_AUDIO_TOKENS_PER_S)
        input_tokens = text_in + audio_in
        output_tokens = text_out + audio_out
        return Usage(
            total_tokens=input_tokens + output_tokens,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            input_token_details=InputTokenDetails(text_tokens=text_in, audio_tokens=audio_in),
            output_token_details=OutputTokenDetails(text_tokens=text_out, audio_tokens=audio_out),
        )

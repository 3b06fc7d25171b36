"""The emulator as the agent service uses it: through LiveKit's unmodified OpenAI realtime plugin."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pytest
from livekit import rtc
from livekit.agents import NOT_GIVEN, APIConnectOptions, APIError, llm
from livekit.agents.metrics import RealtimeModelMetrics
from livekit.plugins.openai.realtime import RealtimeModel, RealtimeSession
from openai.types.realtime.realtime_audio_input_turn_detection import ServerVad

from switchboard.sim.openai_realtime import (
    FunctionCallSpec,
    OpenAIRealtimeEmulator,
    OutputText,
    Script,
    Turn,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

RATE = 24000
T = TypeVar("T")


class Plugin:
    """A plugin session with its events collected by name."""

    def __init__(self, model: RealtimeModel, session: RealtimeSession) -> None:
        self.model = model
        self.session = session
        self.events: dict[str, list[Any]] = defaultdict(list)
        self._arrived: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        for name in (
            "input_speech_started",
            "input_speech_stopped",
            "input_audio_transcription_completed",
            "generation_created",
            "session_reconnected",
            "metrics_collected",
            "error",
        ):
            session.on(name, self._collector(name))

    def _collector(self, name: str) -> Callable[[Any], None]:
        def collect(event: Any) -> None:
            self.events[name].append(event)
            self._arrived[name].set()

        return collect

    async def final_transcript(self) -> Any:
        """The first final input transcription (the plugin reports the streamed deltas as partial ones)."""
        count = 1
        while not (event := await self.next("input_audio_transcription_completed", count)).is_final:
            count += 1
        return event

    async def next(self, name: str, count: int = 1) -> Any:
        async with asyncio.timeout(10):
            while len(self.events[name]) < count:
                self._arrived[name].clear()
                await self._arrived[name].wait()
        return self.events[name][count - 1]

    def push(self, samples: npt.NDArray[np.int16], *, frame_ms: int = 20) -> None:
        step = RATE * frame_ms // 1000
        for start in range(0, samples.size, step):
            chunk = samples[start : start + step]
            self.session.push_audio(rtc.AudioFrame(chunk.tobytes(), RATE, 1, chunk.size))


@contextlib.asynccontextmanager
async def plugin(emulator: OpenAIRealtimeEmulator, **options: Any) -> AsyncIterator[Plugin]:
    options.setdefault(
        "turn_detection",
        ServerVad(type="server_vad", threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500),
    )
    options.setdefault("api_key", "test")
    model = RealtimeModel(model="gpt-realtime", base_url=emulator.base_url, voice="marin", **options)
    session = model.session()
    try:
        yield Plugin(model, session)
    finally:
        with contextlib.suppress(APIError):
            await session.aclose()
        await model.aclose()


async def hear(generation: llm.GenerationCreatedEvent) -> tuple[str, str, list[rtc.AudioFrame]]:
    """The message id, text and audio of a generation's (single) message."""
    message = await anext(aiter(generation.message_stream))
    frames, text = await asyncio.gather(_collect(message.audio_stream), _collect(message.text_stream))
    return message.message_id, "".join(text), frames


async def _collect(stream: AsyncIterable[T]) -> list[T]:
    return [item async for item in stream]


def audio_ms(frames: list[rtc.AudioFrame]) -> float:
    return sum(frame.samples_per_channel for frame in frames) * 1000 / RATE


async def test_the_greeting_is_heard(emulator: OpenAIRealtimeEmulator) -> None:
    async with plugin(emulator) as p:
        generation = await asyncio.wait_for(p.session.generate_reply(instructions="greet"), 10)
        message_id, text, frames = await hear(generation)
        await p.next("metrics_collected", count=2)  # the connection's, then the response's

    session = emulator.sessions[0]
    assert generation.user_initiated
    assert text == emulator.script.greeting
    assert {frame.sample_rate for frame in frames} == {RATE} and audio_ms(frames) > 1000
    assert generation.response_id == session.responses[0].id
    assert message_id == session.responses[0].item_id
    assert audio_ms(frames) == pytest.approx(session.assistant_audio_ms[message_id])
    assert session.config["audio"]["output"]["voice"] == "marin"
    [metrics] = [
        m for m in p.events["metrics_collected"] if isinstance(m, RealtimeModelMetrics) and m.request_id
    ]
    assert metrics.request_id == generation.response_id and not metrics.cancelled
    assert metrics.output_tokens > 0 and metrics.output_token_details.audio_tokens > 0 and metrics.ttft > 0


@pytest.mark.parametrize(
    "turn_detection",
    [
        pytest.param(NOT_GIVEN, id="plugin-default-semantic-vad"),
        pytest.param(ServerVad(type="server_vad", silence_duration_ms=400), id="server-vad"),
    ],
)
async def test_caller_speech_is_transcribed_and_answered(
    emulator: OpenAIRealtimeEmulator, speech, turn_detection: Any
) -> None:
    async with plugin(emulator, turn_detection=turn_detection) as p:
        p.push(speech("Hi, I would like to book a cleaning next week."))
        await p.next("input_speech_started")
        transcript = await p.final_transcript()
        generation = await p.next("generation_created")
        _, reply, frames = await hear(generation)

    partials = [e for e in p.events["input_audio_transcription_completed"] if not e.is_final]
    caller_says = emulator.script.turns[0].caller_says
    assert (
        partials and caller_says.startswith(partials[0].transcript) and partials[-1].transcript == caller_says
    )
    assert transcript.transcript == caller_says
    assert not generation.user_initiated
    assert reply == emulator.script.turns[0].reply and audio_ms(frames) > 500
    user_turn = emulator.sessions[0].messages("user")[0]
    assert transcript.item_id == user_turn.id


async def test_speaking_over_a_reply_cancels_it_and_truncate_is_recorded(
    emulator: OpenAIRealtimeEmulator, speech
) -> None:
    emulator.behaviour.send_speed = 1.0
    emulator.behaviour.reply_audio_ms = 6000
    async with plugin(emulator) as p:
        generation = await asyncio.wait_for(p.session.generate_reply(instructions="greet"), 10)
        message = await anext(aiter(generation.message_stream))
        heard: list[rtc.AudioFrame] = []
        async for frame in message.audio_stream:
            heard.append(frame)
            if audio_ms(heard) >= 800:
                break
        p.push(speech("Sorry, one question."))
        await p.next("input_speech_started")
        heard += await _collect(message.audio_stream)
        session = emulator.sessions[0]
        async with asyncio.timeout(5):
            await session.wait_for("response.done")
        p.session.truncate(
            message_id=message.message_id,
            modalities=["audio", "text"],
            audio_end_ms=700,
            audio_transcript="Thank",
        )
        truncated = await asyncio.wait_for(session.wait_for("conversation.item.truncated"), 5)

    response = session.responses[0]
    assert (response.status, response.reason) == ("cancelled", "turn_detected")
    assert audio_ms(heard) < 6000
    assert truncated.payload["audio_end_ms"] == 700
    [truncation] = session.truncations
    assert (truncation.item_id, truncation.audio_end_ms) == (message.message_id, 700)
    assert truncation.audio_sent_ms == pytest.approx(response.audio_sent_ms)
    greeting = emulator.script.greeting
    assert greeting.startswith(truncation.full_transcript) and len(truncation.full_transcript) < len(greeting)
    assert truncation.full_transcript.startswith(truncation.transcript)


async def test_interrupt_cancels_the_reply(emulator: OpenAIRealtimeEmulator) -> None:
    emulator.behaviour.send_speed = 1.0
    async with plugin(emulator) as p:
        generation = await asyncio.wait_for(p.session.generate_reply(instructions="greet"), 10)
        message = await anext(aiter(generation.message_stream))
        first = await anext(aiter(message.audio_stream))
        p.session.interrupt()
        rest = await asyncio.wait_for(_collect(message.audio_stream), 5)
        done = await asyncio.wait_for(emulator.sessions[0].wait_for("response.done"), 5)

    assert done.payload["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    response = emulator.sessions[0].responses[0]
    assert (response.status, response.reason) == ("cancelled", "client_cancelled")
    assert audio_ms([first, *rest]) == pytest.approx(response.audio_sent_ms) and response.audio_sent_ms < 2000


async def test_truncating_past_the_audio_sent_is_an_error(emulator: OpenAIRealtimeEmulator) -> None:
    async with plugin(emulator) as p:
        generation = await asyncio.wait_for(p.session.generate_reply(instructions="greet"), 10)
        message_id, _, frames = await hear(generation)
        p.session.truncate(
            message_id=message_id, modalities=["audio", "text"], audio_end_ms=int(audio_ms(frames)) + 2000
        )
        error = await p.next("error")

    assert error.recoverable
    assert isinstance(error.error, APIError) and error.error.body.code == "invalid_value"
    assert error.error.body.message.startswith("Audio content of")
    assert emulator.sessions[0].truncations == []


async def test_a_scripted_function_call_reaches_the_function_stream_and_its_output_flows_back(
    emulator: OpenAIRealtimeEmulator, speech
) -> None:
    emulator.script = Script(
        greeting="Hello.",
        turns=(
            Turn(
                "Can you book me on Tuesday?",
                "Done.",
                FunctionCallSpec(
                    "book_appointment", {"day": "tuesday"}, reply_after=lambda out: f"Booked: {out}."
                ),
            ),
        ),
    )

    @llm.function_tool
    async def book_appointment(day: str) -> str:
        """Book a dental appointment on a day of the week."""
        return "Tuesday 9:30"

    async with plugin(emulator) as p:
        await p.session.update_tools([book_appointment])
        p.push(speech("Can you book me on Tuesday?"))
        generation = await p.next("generation_created")
        messages, calls = await asyncio.gather(
            _collect(generation.message_stream), _collect(generation.function_stream)
        )
        [call] = calls
        chat_ctx = p.session.chat_ctx.copy()
        chat_ctx.items.append(
            llm.FunctionCallOutput(
                call_id=call.call_id, name=call.name, output="Tuesday 9:30", is_error=False
            )
        )
        await p.session.update_chat_ctx(chat_ctx)
        follow_up = await asyncio.wait_for(p.session.generate_reply(), 10)
        _, reply, _ = await hear(follow_up)

    session = emulator.sessions[0]
    assert messages == []
    assert (call.name, call.arguments) == ("book_appointment", '{"day": "tuesday"}')
    assert session.config["tools"][0]["name"] == "book_appointment"
    assert session.function_outputs == {call.call_id: "Tuesday 9:30"}
    assert reply == "Booked: Tuesday 9:30."


async def test_after_the_socket_drops_the_plugin_reconnects_and_the_call_goes_on(
    emulator: OpenAIRealtimeEmulator, speech
) -> None:
    async with plugin(emulator) as p:
        greeting = await asyncio.wait_for(p.session.generate_reply(instructions="greet"), 10)
        await hear(greeting)
        await emulator.close_sessions(1011, "upstream crash")
        await p.next("session_reconnected")
        replacement = await asyncio.wait_for(emulator.wait_for_session(1), 5)
        p.push(speech("Hi, I would like to book a cleaning next week."))
        generation = await p.next("generation_created", count=2)
        _, reply, frames = await hear(generation)

    assert emulator.sessions[0].close_code == 1011
    replayed = replacement.messages("assistant")[0]
    assert replayed.content == [OutputText(text=emulator.script.greeting)]
    assert reply == emulator.script.turns[0].reply and audio_ms(frames) > 500
    first_error = p.events["error"][0]
    assert first_error.recoverable


async def test_refused_connections_are_retried(emulator: OpenAIRealtimeEmulator) -> None:
    emulator.fail_next_connections(1, status=503)
    async with plugin(emulator) as p:
        generation = await asyncio.wait_for(p.session.generate_reply(instructions="greet"), 10)
        _, text, _ = await hear(generation)

    assert text == emulator.script.greeting
    assert [error.recoverable for error in p.events["error"]] == [True]
    assert len(emulator.sessions) == 1


async def test_a_wrong_api_key_is_a_non_recoverable_error(emulator: OpenAIRealtimeEmulator) -> None:
    async with plugin(emulator, api_key="sk-wrong") as p:
        error = await p.next("error")

    assert not error.recoverable
    assert error.error.body.code == "invalid_api_key"
    assert emulator.rejected_connections == 1 and emulator.sessions == []


async def test_a_wrong_api_key_refused_with_http_401_ends_after_the_retries(
    emulator: OpenAIRealtimeEmulator,
) -> None:
    emulator.auth_failure = "http_401"
    options = APIConnectOptions(max_retry=1, retry_interval=0.1)
    async with plugin(emulator, api_key="sk-wrong", conn_options=options) as p:
        final = await p.next("error", count=2)

    assert [error.recoverable for error in p.events["error"]] == [True, False]
    assert not final.recoverable
    assert emulator.rejected_connections == 2

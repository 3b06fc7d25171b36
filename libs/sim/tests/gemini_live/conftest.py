from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import numpy as np
import pytest
from google import genai
from google.genai import types

from switchboard.sim.gemini_live import GeminiLiveConfig, GeminiLiveEmulator, GeminiScript
from switchboard.sim.speech import silence, synthesize

MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
CALLER_RATE = 16_000


class Live:
    """Helpers for driving the emulator through the real SDK (a fixture, as tests cannot import conftest)."""

    model = MODEL
    rate = CALLER_RATE

    @staticmethod
    def fast_config(**overrides: object) -> GeminiLiveConfig:
        """Quick turns, so the suite stays fast; tests that need real-time pacing override it."""
        config = GeminiLiveConfig(
            api_key="test-key", time_to_first_chunk_s=0.02, realtime_factor=50.0, voice="synthetic"
        )
        for name, value in overrides.items():
            setattr(config, name, value)
        return config

    @staticmethod
    def make_client(
        base_url: str, api_key: str = "test-key", ssl_context: ssl.SSLContext | None = None
    ) -> genai.Client:
        options = types.HttpOptions(base_url=base_url, api_version="v1beta")
        if ssl_context is not None:
            options.async_client_args = {"ssl": ssl_context}
        return genai.Client(api_key=api_key, http_options=options)

    @staticmethod
    def live_config(
        *, handle: str | None = None, tools: bool = False, language: str = "en-US"
    ) -> types.LiveConnectConfig:
        declarations = [
            types.FunctionDeclaration(
                name="check_availability",
                description="Free appointment slots on a day.",
                parameters_json_schema={"type": "object", "properties": {"day": {"type": "string"}}},
            )
        ]
        return types.LiveConnectConfig(
            response_modalities=[types.Modality.AUDIO],
            speech_config=types.SpeechConfig(
                voice_config=types.VoiceConfig(
                    prebuilt_voice_config=types.PrebuiltVoiceConfig(voice_name="Kore")
                ),
                language_code=language,
            ),
            system_instruction="You are Ava, the receptionist of Northwind Dental.",
            tools=[types.Tool(function_declarations=declarations)] if tools else None,
            realtime_input_config=types.RealtimeInputConfig(
                automatic_activity_detection=types.AutomaticActivityDetection(
                    disabled=False, prefix_padding_ms=200, silence_duration_ms=400
                ),
                activity_handling=types.ActivityHandling.START_OF_ACTIVITY_INTERRUPTS,
            ),
            input_audio_transcription=types.AudioTranscriptionConfig(),
            output_audio_transcription=types.AudioTranscriptionConfig(),
            session_resumption=types.SessionResumptionConfig(handle=handle),
            context_window_compression=types.ContextWindowCompressionConfig(
                sliding_window=types.SlidingWindow()
            ),
        )

    @staticmethod
    def caller_speech(text: str, *, trailing_silence_s: float = 0.8) -> bytes:
        """What a caller says, as 16 kHz PCM16 LE, followed by enough silence to end the utterance."""
        samples = np.concatenate(
            [synthesize(text, CALLER_RATE, voice="synthetic"), silence(trailing_silence_s, CALLER_RATE)]
        )
        return samples.astype("<i2").tobytes()

    @staticmethod
    async def send_audio(session: genai.live.AsyncSession, pcm: bytes, *, chunk_ms: int = 20) -> None:
        step = CALLER_RATE * 2 * chunk_ms // 1000
        for start in range(0, len(pcm), step):
            blob = types.Blob(data=pcm[start : start + step], mime_type=f"audio/pcm;rate={CALLER_RATE}")
            await session.send_realtime_input(audio=blob)

    @staticmethod
    async def receive_turn(session: genai.live.AsyncSession) -> list[types.LiveServerMessage]:
        """Messages up to and including the next `turn_complete` (one pass of `session.receive()`)."""
        return [message async for message in session.receive()]

    @staticmethod
    def audio_of(messages: list[types.LiveServerMessage]) -> list[types.Blob]:
        return [
            part.inline_data
            for message in messages
            if message.server_content and message.server_content.model_turn
            for part in message.server_content.model_turn.parts or []
            if part.inline_data
        ]

    @staticmethod
    def spoken_text(messages: list[types.LiveServerMessage]) -> str:
        return "".join(
            m.server_content.output_transcription.text or ""
            for m in messages
            if m.server_content and m.server_content.output_transcription
        )

    @staticmethod
    def heard_text(messages: list[types.LiveServerMessage]) -> str:
        return "".join(
            m.server_content.input_transcription.text or ""
            for m in messages
            if m.server_content and m.server_content.input_transcription
        )


@pytest.fixture
def script() -> GeminiScript:
    return GeminiScript.english_receptionist()


@pytest.fixture
def config() -> GeminiLiveConfig:
    return Live.fast_config()


@pytest.fixture
async def gemini(script: GeminiScript, config: GeminiLiveConfig) -> AsyncIterator[GeminiLiveEmulator]:
    async with GeminiLiveEmulator(script, config) as emulator:
        yield emulator


@pytest.fixture
async def client(gemini: GeminiLiveEmulator) -> AsyncIterator[genai.Client]:
    sdk = Live.make_client(gemini.base_url, gemini.api_key, gemini.client_ssl_context())
    yield sdk
    await sdk.aio.aclose()
    sdk.close()


@pytest.fixture
def live() -> type[Live]:
    return Live

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiohttp
import numpy as np
import numpy.typing as npt
import pytest
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from switchboard.sim.openai_realtime import Behaviour, OpenAIRealtimeEmulator
from switchboard.sim.speech import silence, synthesize

_SERVER_EVENT = TypeAdapter(RealtimeServerEvent)


def caller_speech(text: str, rate: int = 24000, *, trailing_silence_s: float = 1.0) -> npt.NDArray[np.int16]:
    """The caller saying `text` after a short pause, then silent long enough for server VAD to end the turn."""
    return np.concatenate(
        [silence(0.2, rate), synthesize(text, rate, voice="synthetic"), silence(trailing_silence_s, rate)]
    )


def assert_protocol_shapes(emulator: OpenAIRealtimeEmulator) -> None:
    """Every event the emulator sent parses as the `openai` SDK's GA server event of the same type."""
    for session in emulator.sessions:
        for event in session.server_events:
            parsed = _SERVER_EVENT.validate_python(event.payload)
            assert parsed.type == event.type, event.payload


Speech = Callable[..., npt.NDArray[np.int16]]


@pytest.fixture
def speech() -> Speech:
    return caller_speech


@pytest.fixture
def fast() -> Behaviour:
    return Behaviour(first_delta_latency_s=0.02, send_speed=None, speech="synthetic")


@pytest.fixture
async def emulator(fast: Behaviour) -> AsyncIterator[OpenAIRealtimeEmulator]:
    async with OpenAIRealtimeEmulator(behaviour=fast) as running:
        yield running
    assert_protocol_shapes(running)


class RawClient:
    """A bare GA-protocol client over aiohttp."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(event))

    async def append(self, samples: npt.NDArray[np.int16], *, chunk: int = 2400) -> None:
        for start in range(0, samples.size, chunk):
            audio = base64.b64encode(samples[start : start + chunk].astype("<i2").tobytes()).decode()
            await self.send({"type": "input_audio_buffer.append", "audio": audio})

    async def recv(self) -> dict[str, Any]:
        message = await self.ws.receive()
        assert message.type == aiohttp.WSMsgType.TEXT, message
        event: dict[str, Any] = json.loads(message.data)
        self.received.append(event)
        return event

    async def until(self, event_type: str) -> dict[str, Any]:
        while True:
            event = await self.recv()
            if event["type"] == event_type:
                return event


Connect = Callable[..., AbstractAsyncContextManager[RawClient]]


@pytest.fixture
def connect(emulator: OpenAIRealtimeEmulator) -> Connect:
    @asynccontextmanager
    async def _connect(key: str = "test", model: str = "gpt-realtime") -> AsyncIterator[RawClient]:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(
                f"{emulator.ws_url}?model={model}", headers={"Authorization": f"Bearer {key}"}
            ) as ws,
        ):
            yield RawClient(ws)

    return _connect

"""What waits for the next model connection while there is none: client messages, and the caller's audio."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from google.genai import live, types

from switchboard.agent_gemini.mapping import INPUT_MIME_TYPE

_BYTES_PER_MS = 32  # PCM16 mono at 16 kHz
_CHUNK_BYTES = 200 * _BYTES_PER_MS  # kept audio is sent in pieces of up to 200 ms


@dataclass(frozen=True, slots=True)
class ClientMessage:
    """A `clientContent` turn or a tool response, to send now or on the next connection."""

    content: types.Content | None = None
    turn_complete: bool = False
    response: types.FunctionResponse | None = None

    @property
    def asks_for_a_turn(self) -> bool:
        """Whether the model answers it (a completed turn or a tool result)."""
        return self.response is not None or self.turn_complete

    async def send(self, live_session: live.AsyncSession) -> None:
        """Send it on `live_session`."""
        if self.response is not None:
            await live_session.send_tool_response(function_responses=[self.response])
        elif self.content is not None:
            await live_session.send_client_content(turns=self.content, turn_complete=self.turn_complete)


class PendingInput:
    """Client messages and the latest `limit_ms` of caller audio, kept in order for the next connection."""

    def __init__(self, limit_ms: int) -> None:
        self._limit_bytes = limit_ms * _BYTES_PER_MS
        self._messages: list[ClientMessage] = []
        self._audio: deque[bytes] = deque()
        self._audio_bytes = 0
        self.dropped_ms = 0.0
        """Caller audio let go because the wait outlasted `limit_ms`."""

    def hold(self, message: ClientMessage) -> None:
        """Keep a client message."""
        self._messages.append(message)

    def keep_audio(self, pcm: bytes) -> None:
        """Keep caller audio (PCM16 16 kHz), dropping the oldest beyond the limit."""
        if self._audio and len(self._audio[-1]) + len(pcm) <= _CHUNK_BYTES:
            self._audio[-1] += pcm
        else:
            self._audio.append(pcm)
        self._audio_bytes += len(pcm)
        while self._audio_bytes > self._limit_bytes and self._audio:
            dropped = self._audio.popleft()
            self._audio_bytes -= len(dropped)
            self.dropped_ms += len(dropped) / _BYTES_PER_MS

    async def replay(self, live_session: live.AsyncSession) -> bool:
        """Send everything kept, messages first; True if one of them asks the model for a turn.

        What is kept while this runs is sent too: when it returns, nothing is left that a new message could
        overtake.
        """
        asks = False
        while self._messages or self._audio:
            if self._messages:
                message = self._messages.pop(0)
                asks = asks or message.asks_for_a_turn
                await message.send(live_session)
            else:
                pcm = self._audio.popleft()
                self._audio_bytes -= len(pcm)
                await live_session.send_realtime_input(audio=types.Blob(data=pcm, mime_type=INPUT_MIME_TYPE))
        return asks

from typing import Any

import pytest
from google.genai import types

from switchboard.agent_gemini._pending import ClientMessage, PendingInput

pytestmark = pytest.mark.unit


class RecordingLive:
    """Stands in for the SDK's `AsyncSession`: records what would go on the socket."""

    def __init__(self, pending: PendingInput | None = None) -> None:
        self.sent: list[tuple[str, Any]] = []
        self._pending = pending

    async def send_realtime_input(self, *, audio: types.Blob) -> None:
        self.sent.append(("audio", audio.data))
        if self._pending is not None:  # a tool result arrives while the kept input is being sent
            self._pending.hold(ClientMessage(response=types.FunctionResponse(id="late", name="end_call")))
            self._pending = None

    async def send_client_content(self, *, turns: types.Content, turn_complete: bool) -> None:
        self.sent.append(("content", turn_complete))

    async def send_tool_response(self, *, function_responses: list[types.FunctionResponse]) -> None:
        self.sent.append(("tool", function_responses[0].id))


def note() -> ClientMessage:
    return ClientMessage(content=types.Content(role="user", parts=[types.Part(text="note")]))


async def test_kept_audio_is_the_latest_within_the_limit_in_200ms_pieces() -> None:
    pending = PendingInput(limit_ms=500)
    for index in range(40):  # 800 ms of 20 ms frames
        pending.keep_audio(bytes([index]) * 640)
    live = RecordingLive()
    assert await pending.replay(live) is False  # type: ignore[arg-type]
    pieces = [data for kind, data in live.sent if kind == "audio"]
    assert [len(p) for p in pieces] == [6400, 6400]  # 400 ms: the 200 ms pieces that fit the 500 ms limit
    assert pieces[-1][-1] == 39 and pending.dropped_ms == 400


async def test_messages_go_first_and_what_is_kept_during_the_replay_goes_too() -> None:
    pending = PendingInput(limit_ms=1000)
    pending.keep_audio(bytes(640))
    pending.hold(note())
    live = RecordingLive(pending)
    assert await pending.replay(live) is True  # type: ignore[arg-type]  # the tool result asks for a turn
    assert live.sent == [("content", False), ("audio", bytes(640)), ("tool", "late")]
    assert await pending.replay(RecordingLive()) is False  # type: ignore[arg-type]  # nothing left

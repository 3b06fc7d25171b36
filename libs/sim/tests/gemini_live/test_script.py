from __future__ import annotations

import pytest

from switchboard.sim.gemini_live import GeminiScript, ReplyRequest, ScriptedToolCall

pytestmark = pytest.mark.unit


def test_sequences_fall_back_when_exhausted() -> None:
    script = GeminiScript.english_receptionist()
    assert script.transcript_for(0) == script.caller_transcripts[0]
    assert script.transcript_for(99) == script.fallback_transcript
    request = ReplyRequest(99, "hm", (), session=None)  # type: ignore[arg-type]
    assert script.reply_for(request) == script.fallback_reply
    assert script.tool_calls_for(0) == ()


def test_replies_may_be_computed() -> None:
    script = GeminiScript(
        greeting="Hi.",
        replies=lambda request: f"You said {request.transcript!r} on turn {request.caller_turn}.",
        caller_transcripts=("hello",),
        tool_calls={0: (ScriptedToolCall("lookup", {"q": "x"}),)},
    )
    request = ReplyRequest(0, "hello", (), session=None)  # type: ignore[arg-type]
    assert script.reply_for(request) == "You said 'hello' on turn 0."
    assert [call.name for call in script.tool_calls_for(0)] == ["lookup"]


def test_spanish_receptionist_speaks_spanish() -> None:
    script = GeminiScript.spanish_receptionist()
    assert script.language == "es"
    assert "¿En qué puedo ayudarle?" in script.greeting
    assert len(script.replies) == len(script.caller_transcripts)

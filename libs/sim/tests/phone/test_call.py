from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from switchboard.common.errors import ErrorCategory
from switchboard.common.security.twilio_signature import compute_signature
from switchboard.sim.phone import CallRejected, MediaStreamCall, StreamIdentity
from switchboard.sim.phone.outbound import to_ulaw

if TYPE_CHECKING:
    from conftest import EdgeSession, FakeEdge

pytestmark = pytest.mark.integration

TOKEN = "test-auth-token"
PUBLIC_URL = "wss://edge.example.com/twilio/stream"
LOUD = base64.b64encode(b"\x20" * 160).decode()  # 20 ms of a loud μ-law code


def assert_all_strings(body: dict[str, Any]) -> None:
    for key, value in body.items():
        assert isinstance(value, str), f"{key} is {type(value).__name__}"


async def test_a_call_sends_twilio_messages_in_order_with_exact_shapes(edge: FakeEdge) -> None:
    ids = StreamIdentity()
    call = MediaStreamCall(edge.url, auth_token=TOKEN, identity=ids, custom_parameters={"token": "t-1"})
    async with call:
        (session,) = await edge.wait_for_sessions(1)
        await asyncio.sleep(0.3)
        await call.dtmf("5")
        await asyncio.sleep(0.1)
    await asyncio.wait_for(session.closed.wait(), 5)

    assert session.headers["User-Agent"] == "Twilio.TmeWs/1.0"
    messages = session.messages
    assert messages[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert messages[1] == {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": ids.stream_sid,
        "start": {
            "streamSid": ids.stream_sid,
            "accountSid": ids.account_sid,
            "callSid": ids.call_sid,
            "tracks": ["inbound"],
            "customParameters": {"token": "t-1"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    assert messages[-1] == {
        "event": "stop",
        "streamSid": ids.stream_sid,
        "sequenceNumber": messages[-1]["sequenceNumber"],
        "stop": {"accountSid": ids.account_sid, "callSid": ids.call_sid},
    }
    assert [int(m["sequenceNumber"]) for m in messages[1:]] == list(range(1, len(messages)))

    (dtmf,) = session.of("dtmf")
    assert dtmf == {
        "event": "dtmf",
        "streamSid": ids.stream_sid,
        "sequenceNumber": dtmf["sequenceNumber"],
        "dtmf": {"track": "inbound_track", "digit": "5"},
    }

    media = session.of("media")
    assert len(media) >= 15
    for chunk, message in enumerate(media, start=1):
        assert set(message) == {"event", "sequenceNumber", "streamSid", "media"}
        assert message["streamSid"] == ids.stream_sid
        assert set(message["media"]) == {"track", "chunk", "timestamp", "payload"}
        assert_all_strings(message["media"])
        assert message["media"]["track"] == "inbound"
        assert message["media"]["chunk"] == str(chunk)
        assert message["media"]["timestamp"] == str((chunk - 1) * 20)
        assert base64.b64decode(message["media"]["payload"]) == b"\xff" * 160  # nothing said: silence

    assert session.ws.close_code == 1000
    report = call.report()
    assert report.closed_by == "phone"
    assert report.media_sent == len(media)
    assert report.dtmf_sent == 1


async def test_media_is_paced_at_fifty_per_second(edge: FakeEdge) -> None:
    async with MediaStreamCall(edge.url) as call:
        (session,) = await edge.wait_for_sessions(1)
        await asyncio.sleep(2.0)
    start_arrival = session.arrivals[1]
    media = [
        (arrival, m)
        for arrival, m in zip(session.arrivals, session.messages, strict=True)
        if m.get("event") == "media"
    ]
    assert 97 <= len(media) <= 103
    # Each frame arrives close to its place in the schedule: no drift, no bursts.
    offsets = [arrival - start_arrival - int(m["media"]["timestamp"]) / 1000 for arrival, m in media]
    assert max(offsets) - min(offsets) < 0.06
    assert call.pacing.frames == len(media)
    assert call.pacing.late_frames <= 2


async def test_signature_is_computed_over_the_public_url(edge: FakeEdge) -> None:
    edge.auth_token, edge.public_url = TOKEN, PUBLIC_URL
    async with MediaStreamCall(edge.url, auth_token=TOKEN, public_url=PUBLIC_URL) as call:
        (session,) = await edge.wait_for_sessions(1)
    assert session.headers["x-twilio-signature"] == compute_signature(TOKEN, PUBLIC_URL, {})
    assert call.signature_header == compute_signature(TOKEN, PUBLIC_URL, {})


@pytest.mark.parametrize(
    "phone",
    [
        {"auth_token": TOKEN},  # signs the URL it dials, not the public one
        {"auth_token": "wrong-token", "public_url": PUBLIC_URL},
        {"signature": "bm90IGEgc2lnbmF0dXJl"},
        {},  # no header at all
    ],
)
async def test_a_bad_signature_is_rejected(edge: FakeEdge, phone: dict[str, Any]) -> None:
    edge.auth_token, edge.public_url = TOKEN, PUBLIC_URL
    with pytest.raises(CallRejected) as rejected:
        await MediaStreamCall(edge.url, **phone).open()
    assert rejected.value.status == 403
    assert rejected.value.category is ErrorCategory.UNAUTHORIZED
    assert not rejected.value.retryable
    assert edge.sessions == []


async def test_the_caller_speech_is_sent_in_real_time(edge: FakeEdge) -> None:
    speech = (np.sin(np.arange(4000) * 0.3) * 8000).astype(np.int16)  # 500 ms
    async with MediaStreamCall(edge.url) as call:
        await asyncio.sleep(0.1)
        utterance = await call.say(speech)
        await call.wait_spoken()
        assert utterance.done
        await asyncio.sleep(0.05)
    (session,) = edge.sessions
    audio = b"".join(base64.b64decode(m["media"]["payload"]) for m in session.of("media"))
    assert utterance.start_s is not None and utterance.end_s is not None
    begin = round(utterance.start_s * 8000)
    assert audio[begin : begin + 4000] == to_ulaw(speech)
    assert set(audio[:begin]) == {0xFF}
    assert set(audio[begin + 4000 :]) == {0xFF}
    assert utterance.end_s - utterance.start_s == pytest.approx(0.5)
    first_loud = next(
        m for m in session.of("media") if base64.b64decode(m["media"]["payload"]) != b"\xff" * 160
    )
    assert int(first_loud["media"]["timestamp"]) == round(utterance.start_s * 1000)


async def test_text_is_spoken_with_the_synthetic_voice(edge: FakeEdge) -> None:
    async with MediaStreamCall(edge.url) as call:
        utterance = await call.say("hello, I would like a table for two", voice="synthetic")
        await call.wait_spoken()
    assert utterance.done and utterance.duration_s > 1.0
    (session,) = edge.sessions
    spoken = [m for m in session.of("media") if base64.b64decode(m["media"]["payload"]) != b"\xff" * 160]
    assert len(spoken) == pytest.approx(utterance.duration_s * 50, abs=1)


async def answer_like_an_agent(session: EdgeSession) -> None:
    """500 ms of audio then mark a, 500 ms then mark b; clear 100 ms after a's echo; then a mark on empty."""
    await session.wait_for_event("start")
    sid = session.stream_sid
    for name in ("a", "b"):
        for _ in range(25):
            await session.send({"event": "media", "streamSid": sid, "media": {"payload": LOUD}})
        await session.send({"event": "mark", "streamSid": sid, "mark": {"name": name}})
    await session.wait_for(lambda m: m.get("event") == "mark" and m["mark"]["name"] == "a")
    await asyncio.sleep(0.1)
    await session.send({"event": "clear", "streamSid": sid})
    await session.wait_for(lambda m: m.get("event") == "mark" and m["mark"]["name"] == "b")
    await session.send({"event": "mark", "streamSid": sid, "mark": {"name": "empty"}})


async def test_marks_echo_when_played_and_a_clear_echoes_pending_marks(edge: FakeEdge) -> None:
    edge.script = answer_like_an_agent
    async with MediaStreamCall(edge.url) as call:
        (session,) = await edge.wait_for_sessions(1)
        await session.wait_for(lambda m: m.get("event") == "mark" and m["mark"]["name"] == "empty")
        await asyncio.sleep(0.1)

    echoes = {
        m["mark"]["name"]: (a, m)
        for a, m in zip(session.arrivals, session.messages, strict=True)
        if m.get("event") == "mark"
    }
    assert list(echoes) == ["a", "b", "empty"]
    start = session.arrivals[1]
    a_at, a_echo = echoes["a"]
    assert a_echo == {
        "event": "mark",
        "streamSid": call.stream_sid,
        "sequenceNumber": a_echo["sequenceNumber"],
        "mark": {"name": "a"},
    }
    # Timings under load are a benchmark's business; what holds however late the machine runs:
    assert a_at - start >= 0.5 - 0.02  # a's echo comes once its 500 ms of audio played, never before
    assert echoes["a"][0] <= echoes["b"][0] <= echoes["empty"][0]
    sequence = [int(m["sequenceNumber"]) for m in session.messages[1:]]
    assert sequence == list(range(1, len(sequence) + 1))

    report = call.report()
    assert report.marks_received == 3
    assert (report.marks_echoed, report.marks_echoed_by_clear, report.marks_unechoed) == (3, 1, 0)
    (clear,) = report.clears
    assert clear.echoed_marks == ("b",)  # b echoed at the clear, not after its audio
    assert clear.heard_after_ms == 0.0
    # a's 500 ms were heard before the clear; the rest of the 1000 ms sent was either heard or dropped by it.
    assert 500.0 <= report.heard_ms < 1000.0
    assert report.heard_ms + clear.dropped_ms == pytest.approx(1000.0, abs=20)
    assert clear.at_s >= 0.5 - 0.02
    assert report.time_to_first_audio_ms is not None
    assert 0 <= report.time_to_first_audio_ms <= (a_at - start) * 1000
    assert report.gaps == ()
    assert report.media_received == 50
    assert report.protocol_errors == ()

    heard = call.heard()
    assert heard.level_dbfs(0.1, 0.5) > -20
    assert heard.level_dbfs(clear.at_s + 0.01, heard.end_s) == -120.0
    onset = call.first_energy_above(-30.0)
    assert onset is not None and onset < 0.06
    assert call.heard_between(0.1, 0.2).size == 800


async def test_binary_and_invalid_server_messages_are_counted(edge: FakeEdge) -> None:
    async def misbehave(session: EdgeSession) -> None:
        await session.wait_for_event("start")
        await session.ws.send(b"\x00\x01")
        await session.ws.send("{oops")
        await session.send({"event": "media", "streamSid": "MZwrong", "media": {"payload": LOUD}})
        await session.send({"event": "media", "streamSid": session.stream_sid, "media": {"payload": "%%%"}})
        await session.send({"event": "transfer", "streamSid": session.stream_sid})

    edge.script = misbehave
    async with MediaStreamCall(edge.url) as call:
        await asyncio.sleep(0.3)
    report = call.report()
    assert report.binary_frames == 1
    kinds = [error.split(":")[0] for error in report.protocol_errors]
    assert kinds == ["binary_frame", "malformed_json", "wrong_stream_sid", "bad_base64", "unknown_event"]
    assert report.heard_ms == 0.0


async def test_raw_hooks_send_what_they_are_given(edge: FakeEdge) -> None:
    async with MediaStreamCall(edge.url) as call:
        (session,) = await edge.wait_for_sessions(1)
        await call.send_raw("{not json")
        await call.send_raw(b"\x01\x02")
        await call.send_event("surprise", {"x": 1})
        await call.send_media_payload("!!not base64!!")
        await call.send_media_payload(base64.b64encode(b"\xff" * 100_000).decode())
        await asyncio.sleep(0.05)
    assert "{not json" in session.raw
    assert b"\x01\x02" in session.raw
    (surprise,) = session.of("surprise")
    assert surprise["surprise"] == {"x": 1} and surprise["streamSid"] == call.stream_sid
    payloads = [m["media"]["payload"] for m in session.of("media")]
    assert "!!not base64!!" in payloads
    assert max(len(p) for p in payloads) > 100_000
    numbered = [int(m["sequenceNumber"]) for m in session.messages if "sequenceNumber" in m]
    assert numbered == list(range(1, len(numbered) + 1))


async def test_the_server_closing_ends_the_call(edge: FakeEdge) -> None:
    async def hang_up_early(session: EdgeSession) -> None:
        await session.wait_for_event("start")
        await asyncio.sleep(0.2)
        await session.ws.close(1000, "transfer")

    edge.script = hang_up_early
    async with MediaStreamCall(edge.url) as call:
        await asyncio.wait_for(call.wait_closed(), 5)
        sent = call.pacing.frames
        await asyncio.sleep(0.1)
        assert call.pacing.frames == sent
    (session,) = edge.sessions
    assert session.of("stop") == []
    report = call.report()
    assert (report.closed_by, report.close_code) == ("server", 1000)
    assert report.duration_s == pytest.approx(0.2, abs=0.1)


async def test_wait_for_audio_and_silence(edge: FakeEdge) -> None:
    async def greet(session: EdgeSession) -> None:
        await session.wait_for_event("start")
        await asyncio.sleep(0.2)
        for _ in range(10):
            await session.send(
                {"event": "media", "streamSid": session.stream_sid, "media": {"payload": LOUD}}
            )

    edge.script = greet
    async with MediaStreamCall(edge.url) as call:
        async with asyncio.timeout(5):
            onset = await call.wait_for_audio(threshold_dbfs=-30.0)
            quiet_from = await call.wait_for_silence(0.3)
    assert onset == pytest.approx(0.2, abs=0.06)
    assert quiet_from == pytest.approx(onset + 0.2, abs=0.06)
    assert call.report().time_to_first_audio_ms == pytest.approx(onset * 1000, abs=10)

"""A call through the whole platform, for each model provider, outbound and inbound."""

from __future__ import annotations

import asyncio

import pytest

from switchboard.devkit.dev_config import DEV_NUMBER
from switchboard.sim.phone import MediaStreamCall

from .conftest import CALLEE, Platform

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]


async def _converse(phone: MediaStreamCall) -> None:
    """Greeting, a turn, a barge-in over the long answer, then the goodbye turn that ends the call."""
    async with asyncio.timeout(15):
        greeting_at = await phone.wait_for_audio()
        await phone.wait_for_silence(1.0)
    assert phone.report().time_to_first_audio_ms is not None
    assert greeting_at < 5.0

    spoken = await phone.say("I would like to book a cleaning.")
    await spoken.wait()
    said_at = phone.elapsed_s()
    async with asyncio.timeout(15):
        answer_at = await phone.wait_for_audio(after_s=said_at)
    assert answer_at > said_at  # the answer came after the question

    await asyncio.sleep(1.5)  # well into the long answer, then talk over it
    interruption = await phone.say("Tuesday at nine, please.")
    await interruption.wait()
    interrupted_at = phone.elapsed_s()
    async with asyncio.timeout(15):
        await phone.wait_for_audio(after_s=interrupted_at)  # the answer to the interruption
        await phone.wait_for_silence(1.0)

    goodbye = await phone.say("That is all, thank you.")
    await goodbye.wait()
    async with asyncio.timeout(30):
        await phone.wait_closed()  # the agent hung up through end_call, after its goodbye


def _statuses(record: dict[str, object]) -> list[str]:
    timeline = record["timeline"]
    assert isinstance(timeline, list)
    return [entry["status"] for entry in timeline if entry["type"] == "status"]


def _types(record: dict[str, object]) -> list[str]:
    timeline = record["timeline"]
    assert isinstance(timeline, list)
    return [entry["type"] for entry in timeline]


@pytest.mark.parametrize("profile", ["receptionist-openai", "receptionist-gemini"])
async def test_an_outbound_call_greets_answers_stops_on_barge_in_and_ends_through_the_agent(
    platform: Platform, profile: str
) -> None:
    call_id = await platform.place_call(profile)
    phone = await platform.phone(call_id)
    await _converse(phone)

    report = phone.report()
    assert report.clears, "the barge-in cleared the agent's audio on the phone"
    assert all(clear.heard_after_ms <= 20 for clear in report.clears), report.summary()
    assert report.protocol_errors == ()

    record = await platform.wait_for_record(call_id, "completed")
    statuses = _statuses(record)
    assert statuses[-1] == "completed" and "in-progress" in statuses and "ringing" in statuses
    assert statuses.index("ringing") < statuses.index("in-progress") < statuses.index("completed")
    assert float(record["duration_s"]) > 3  # type: ignore[arg-type]
    assert "caller_done" in str(record["ended_reason"])
    timeline = record["timeline"]
    assert isinstance(timeline, list)
    turns = [(e["role"], e.get("interrupted", False)) for e in timeline if e["type"] == "transcript"]
    assert ("agent", False) in turns and ("caller", False) in turns
    assert ("agent", True) in turns, "the interrupted answer is recorded as interrupted"
    assert "barge_in" in _types(record) and "ended" in _types(record)
    tools = [e for e in timeline if e["type"] == "tool_call"]
    assert [t["name"] for t in tools] == ["end_call"]
    if profile == "receptionist-openai":  # the demo profile records its calls
        await _check_recording(platform, call_id)


async def _check_recording(platform: Platform, call_id: str) -> None:
    async with asyncio.timeout(20):
        while True:
            recording = (await platform.call(call_id)).get("recording")
            assert isinstance(recording, dict), "the record says the call is recorded"
            if recording["state"] != "recording":
                break
            await asyncio.sleep(0.1)
    assert recording["state"] == "complete" and recording["duration_s"] > 3
    url = f"{platform.api}/v1/calls/{call_id}/recording"
    async with platform.http.get(url, headers=platform.auth) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "audio/wav"
        wav = await response.read()
    assert wav[:4] == b"RIFF" and len(wav) == 44 + 2 * recording["size_bytes"]


async def test_an_inbound_call_is_answered_by_the_numbers_profile(platform: Platform) -> None:
    call = await platform.twilio.place_inbound_call(CALLEE, DEV_NUMBER)
    async with asyncio.timeout(20):
        phone = await call.wait_for_phone()
        await phone.wait_for_audio()
        await phone.wait_for_silence(1.0)
    spoken = await phone.say("I would like to book a cleaning.")
    await spoken.wait()
    said_at = phone.elapsed_s()
    async with asyncio.timeout(15):
        await phone.wait_for_audio(after_s=said_at)
    call.callee_hangs_up()
    call_id = phone.custom_parameters["call_id"]
    record = await platform.wait_for_record(call_id, "completed")
    assert record["direction"] == "inbound" and record["profile"] == "receptionist-openai"
    assert record["to"] == DEV_NUMBER and record["from"] == CALLEE
    assert "transcript" in _types(record)


async def test_a_call_nobody_answers_ends_no_answer_without_an_agent(platform: Platform) -> None:
    from switchboard.sim.twilio_rest.behaviour import Callee

    platform.twilio.next_callee(Callee.not_answering(after_s=1.0))
    call_id = await platform.place_call("receptionist-openai")
    record = await platform.wait_for_record(call_id, "no-answer")
    assert "attached" not in _types(record)
    assert "media_started" not in _types(record)

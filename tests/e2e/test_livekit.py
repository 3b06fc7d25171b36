"""LiveKit calls through the whole platform: call-control dials through the emulator's SIP service, an edge joins
the room with the real rtc SDK, and the emulator's SIP phone is the callee (or the caller, through a dispatch rule).
"""

from __future__ import annotations

import asyncio

import pytest

from switchboard.devkit.dev_config import DEV_NUMBER
from switchboard.sim.livekit import Callee, LiveKitEmulator, SipPhone

from .conftest import CALLEE, Platform

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]


def emulator(platform: Platform) -> LiveKitEmulator:
    assert platform.livekit is not None
    return platform.livekit


async def place_livekit_call(platform: Platform, profile: str, to: str = CALLEE) -> str:
    body = {"to": to, "profile": profile, "transport": "livekit"}
    async with platform.http.post(f"{platform.api}/v1/calls", json=body, headers=platform.auth) as response:
        assert response.status == 201, await response.text()
        return str((await response.json())["call_id"])


async def phone_of(platform: Platform, call_id: str, number: str = CALLEE) -> SipPhone:
    async with asyncio.timeout(20):
        while (phone := emulator(platform).sip.phone_in(f"call-{call_id}", f"sip_{number}")) is None:  # noqa: ASYNC110  # polling the emulator's phones
            await asyncio.sleep(0.05)
        while phone.status != "active":  # polling the phone's SIP status
            if phone.ended:
                raise AssertionError(f"the call ended {phone.status} before it was answered")
            await asyncio.sleep(0.05)
    return phone


def _types(record: dict[str, object]) -> list[str]:
    timeline = record["timeline"]
    assert isinstance(timeline, list)
    return [entry["type"] for entry in timeline]


@pytest.mark.parametrize("profile", ["receptionist-openai", "receptionist-gemini"])
async def test_an_outbound_livekit_call_greets_answers_takes_dtmf_and_ends_when_the_callee_hangs_up(
    platform: Platform, profile: str
) -> None:
    call_id = await place_livekit_call(platform, profile)
    phone = await phone_of(platform, call_id)
    async with asyncio.timeout(20):
        greeting_at = await phone.wait_for_audio()
        await phone.wait_for_silence(1.0)
    assert phone.report().time_to_first_audio_ms is not None and greeting_at < 5.0

    spoken = await phone.say("I would like to book a cleaning.")
    await spoken.wait()
    said_at = phone.elapsed_s()
    async with asyncio.timeout(15):
        answer_at = await phone.wait_for_audio(after_s=said_at)
    assert answer_at > said_at

    await phone.dtmf("5")
    record = await platform.wait_for_record(call_id, "in-progress")
    await phone.hang_up()
    record = await platform.wait_for_record(call_id, "completed")
    assert record["transport"] == "livekit" and record["direction"] == "outbound"
    types = _types(record)
    assert "dtmf" in types and "transcript" in types and "media_stopped" in types
    timeline = record["timeline"]
    assert isinstance(timeline, list)
    statuses = [entry["status"] for entry in timeline if entry["type"] == "status"]
    assert statuses.index("in-progress") < statuses.index("completed")  # ringing too, when the edge saw it


async def test_an_agents_hang_up_ends_the_livekit_call(platform: Platform) -> None:
    call_id = await place_livekit_call(platform, "receptionist-openai")
    phone = await phone_of(platform, call_id)
    async with asyncio.timeout(20):
        await phone.wait_for_audio()
    async with platform.http.post(
        f"{platform.api}/v1/calls/{call_id}/hangup", json={"reason": "operator"}, headers=platform.auth
    ) as response:
        assert response.status == 202, await response.text()
    async with asyncio.timeout(15):
        await phone.wait_ended()
    record = await platform.wait_for_record(call_id, "completed")
    assert record["ended_reason"] == "operator"


@pytest.mark.parametrize(
    ("callee", "status", "reason", "sip_status"),
    [
        (Callee.busy(), "busy", "busy", "486 Busy Here"),
        (Callee.unavailable(), "no-answer", "no-answer", "480 Temporarily Unavailable"),
        (Callee.failing(404), "failed", "invalid_number", "404 Not Found"),
        (Callee.failing(503), "failed", "failed", "503 Service Unavailable"),
    ],
)
async def test_a_livekit_call_that_does_not_connect_has_a_clear_outcome(
    platform: Platform, callee: Callee, status: str, reason: str, sip_status: str
) -> None:
    emulator(platform).sip.next_callee(callee)
    call_id = await place_livekit_call(platform, "receptionist-openai")
    record = await platform.wait_for_record(call_id, status)
    assert (record["ended_reason"], record["sip_status"]) == (reason, sip_status)
    assert "media_started" not in _types(record)


async def test_an_inbound_livekit_call_is_answered_by_the_numbers_profile(platform: Platform) -> None:
    phone = await emulator(platform).sip.place_inbound_call(CALLEE, DEV_NUMBER)
    async with asyncio.timeout(20):
        await phone.wait_for_audio()
        await phone.wait_for_silence(1.0)
    spoken = await phone.say("I would like to book a cleaning.")
    await spoken.wait()
    said_at = phone.elapsed_s()
    async with asyncio.timeout(15):
        await phone.wait_for_audio(after_s=said_at)
    await phone.hang_up()
    call_id = "lk_" + phone.call_id
    record = await platform.wait_for_record(call_id, "completed")
    assert record["direction"] == "inbound" and record["profile"] == "receptionist-openai"
    assert record["to"] == DEV_NUMBER and record["from"] == CALLEE and record["transport"] == "livekit"


async def test_a_livekit_call_is_transferred_with_a_sip_refer(platform: Platform) -> None:
    call_id = await place_livekit_call(platform, "receptionist-openai")
    phone = await phone_of(platform, call_id)
    async with asyncio.timeout(20):
        await phone.wait_for_audio()
    await platform.wait_for_record(call_id, "in-progress")
    human = "+14155550199"
    async with platform.http.post(
        f"{platform.api}/v1/calls/{call_id}/transfer", json={"to": human}, headers=platform.auth
    ) as response:
        assert response.status == 202, await response.text()
    async with asyncio.timeout(15):
        await phone.wait_ended()
    assert phone.transferred_to == f"tel:{human}"
    record = await platform.wait_for_record(call_id, "completed")
    assert record["ended_reason"] == "transferred" and "transferred" in _types(record)


async def test_a_barge_in_on_a_livekit_call_flushes_the_answer(platform: Platform) -> None:
    import nats

    from switchboard.common.bus import subjects

    call_id = await place_livekit_call(platform, "receptionist-openai")
    phone = await phone_of(platform, call_id)
    nc = await nats.connect(platform.nats.url)
    try:

        async def noted(_msg: object) -> None:  # the edge flushes on this same message
            phone.note_clear()

        clears = await nc.subscribe(subjects.control(call_id, "clear"), cb=noted)
        async with asyncio.timeout(20):
            await phone.wait_for_audio()
            await phone.wait_for_silence(1.0)
        spoken = await phone.say("I would like to book a cleaning.")
        await spoken.wait()
        async with asyncio.timeout(15):
            await phone.wait_for_audio(after_s=phone.elapsed_s())
        await asyncio.sleep(1.5)  # well into the long answer, then talk over it
        interruption = await phone.say("Tuesday at nine, please.")
        await interruption.wait()
        async with asyncio.timeout(15):
            await phone.wait_for_audio(after_s=phone.elapsed_s())
            await phone.wait_for_silence(1.0)
        await clears.unsubscribe()
    finally:
        await nc.close()
    report = phone.report()
    assert report.clears, "the barge-in cleared the agent's audio"
    heard = [clear.heard_after_ms for clear in report.clears]
    print(f"FIGURE LiveKit barge-in: audio heard after the clear {heard} ms")
    # Measured 50 ms here (what was already encoded and on its way through the emulator when the edge flushed);
    # Twilio's is under 20. This bound catches a flush that does not happen, not the 20 ms target.
    assert all(ms <= 100 for ms in heard), report.summary()
    await phone.hang_up()
    await platform.wait_for_record(call_id, "completed")

import asyncio

import numpy as np
import pytest
from livekit import api, rtc
from livekit.protocol import sip

from switchboard.sim.livekit import LiveKitEmulator
from switchboard.sim.livekit.sip import Callee
from switchboard.sim.livekit.sip_phone import SipPhone

from .conftest import join_token
from .test_media import dominant_frequency, heard, publish_tone

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

TRUNK_NUMBER = "+15550100000"
CALLEE = "+15557654321"


async def outbound_trunk(lkapi: api.LiveKitAPI) -> str:
    trunk = await lkapi.sip.create_outbound_trunk(
        api.CreateSIPOutboundTrunkRequest(
            trunk=api.SIPOutboundTrunkInfo(
                name="twilio", address="example.pstn.twilio.com", numbers=[TRUNK_NUMBER]
            )
        )
    )
    return trunk.sip_trunk_id


def dial_request(trunk_id: str, room: str, *, ringing_timeout_s: int = 5) -> api.CreateSIPParticipantRequest:
    request = api.CreateSIPParticipantRequest(
        sip_trunk_id=trunk_id,
        sip_call_to=CALLEE,
        room_name=room,
        participant_identity="phone",
        participant_attributes={"switchboard.call_id": "call-123"},
        wait_until_answered=True,
    )
    request.ringing_timeout.FromSeconds(ringing_timeout_s)
    return request


def tone_8k(frequency: float, seconds: float) -> np.ndarray:
    t = np.arange(int(8000 * seconds)) / 8000
    return (0.3 * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


async def test_an_answered_outbound_call_carries_audio_and_dtmf_both_ways(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    trunk_id = await outbound_trunk(lkapi)
    await lkapi.room.create_room(api.CreateRoomRequest(name="call-123"))
    agent = rtc.Room()
    await agent.connect(emulator.ws_url, join_token("call-123", "edge"))
    statuses: list[str] = []
    active = asyncio.Event()

    def on_attributes(_changed: dict[str, str], participant: rtc.Participant) -> None:
        statuses.append(participant.attributes.get("sip.callStatus", ""))
        if statuses[-1] == "active":
            active.set()

    agent.on("participant_attributes_changed", on_attributes)
    digits: asyncio.Queue[str] = asyncio.Queue()
    agent.on("sip_dtmf_received", lambda dtmf: digits.put_nowait(dtmf.digit))
    try:
        info = await lkapi.sip.create_sip_participant(dial_request(trunk_id, "call-123"))
        assert info.participant_identity == "phone" and info.room_name == "call-123"
        phone = emulator.sip.phone_in("call-123", "phone")
        assert isinstance(phone, SipPhone) and phone.status == "active"

        await asyncio.wait_for(active.wait(), 10)
        remote = agent.remote_participants["phone"]
        assert remote.kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP
        assert remote.attributes["sip.phoneNumber"] == CALLEE
        assert remote.attributes["sip.trunkPhoneNumber"] == TRUNK_NUMBER
        assert remote.attributes["switchboard.call_id"] == "call-123"
        assert remote.attributes["sip.callID"] == info.sip_call_id
        assert "ringing" in statuses

        _source, speaking = await publish_tone(agent, 440.0)
        try:
            async with asyncio.timeout(15):
                first = await phone.wait_for_audio(after_s=0.0)
            await phone.say(tone_8k(1000.0, 2.0))
            agent_hears = await heard(agent, "phone", 3.0)
        finally:
            speaking.cancel()
        assert abs(dominant_frequency(agent_hears) - 1000.0) < 20

        await phone.dtmf("7")
        assert await asyncio.wait_for(digits.get(), 10) == "7"
        await agent.local_participant.publish_dtmf(code=11, digit="#")
        async with asyncio.timeout(10):
            assert await phone.wait_for_dtmf() == "#"

        report = phone.report()
        assert report.time_to_first_audio_ms is not None and report.audible_ms > 500
        assert report.dtmf_sent == 1 and report.media_sent > 0
        heard_tone = phone.heard(first).between(first, first + 1.0)
        assert (
            abs(np.fft.rfftfreq(heard_tone.size, 1 / 8000)[np.argmax(np.abs(np.fft.rfft(heard_tone)))] - 440)
            < 20
        )

        left = asyncio.get_running_loop().create_future()
        agent.on("participant_disconnected", lambda p: left.done() or left.set_result(p.identity))
        await phone.hang_up()
        assert await asyncio.wait_for(left, 10) == "phone"
        assert statuses[-1] == "hangup"  # announced before the participant left
    finally:
        await agent.disconnect()


@pytest.mark.parametrize(
    ("callee", "status"),
    [
        (Callee.busy(), 486),
        (Callee.unavailable(ring_s=0.1), 480),
        (Callee.no_answer(), 408),
        (Callee.failing(503), 503),
    ],
)
async def test_an_unanswered_outbound_call_fails_with_its_sip_status(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI, callee: Callee, status: int
) -> None:
    trunk_id = await outbound_trunk(lkapi)
    emulator.sip.next_callee(callee)
    with pytest.raises(api.SipCallError) as raised:
        await lkapi.sip.create_sip_participant(dial_request(trunk_id, "call-unanswered", ringing_timeout_s=1))
    assert raised.value.sip_status_code == status
    assert emulator.rooms["call-unanswered"].member("phone") is None
    assert emulator.sip.phones[-1].status == "hangup"


async def test_a_number_the_carrier_cannot_route_fails_with_484(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    request = dial_request(await outbound_trunk(lkapi), "call-bad-number")
    request.sip_call_to = "12"
    with pytest.raises(api.SipCallError) as raised:
        await lkapi.sip.create_sip_participant(request)
    assert raised.value.sip_status_code == 484


async def test_removing_the_sip_participant_hangs_up_the_phone(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    trunk_id = await outbound_trunk(lkapi)
    await lkapi.sip.create_sip_participant(dial_request(trunk_id, "call-removed"))
    phone = emulator.sip.phone_in("call-removed", "phone")
    assert phone is not None
    await lkapi.room.remove_participant(api.RoomParticipantIdentity(room="call-removed", identity="phone"))
    async with asyncio.timeout(5):
        await phone.wait_ended()
    assert phone.report().closed_by == "server"


async def test_a_transfer_refers_the_call_and_the_phone_leaves(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    trunk_id = await outbound_trunk(lkapi)
    await lkapi.sip.create_sip_participant(dial_request(trunk_id, "call-transfer"))
    phone = emulator.sip.phone_in("call-transfer", "phone")
    assert phone is not None
    await lkapi.sip.transfer_sip_participant(
        api.TransferSIPParticipantRequest(
            room_name="call-transfer", participant_identity="phone", transfer_to="tel:+15550109999"
        )
    )
    assert phone.transferred_to == "tel:+15550109999" and phone.ended
    assert emulator.rooms["call-transfer"].member("phone") is None


async def test_an_inbound_call_follows_the_dispatch_rule_into_a_new_room(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    trunk = await lkapi.sip.create_inbound_trunk(
        api.CreateSIPInboundTrunkRequest(trunk=api.SIPInboundTrunkInfo(name="in", numbers=[TRUNK_NUMBER]))
    )
    await lkapi.sip.create_dispatch_rule(
        api.CreateSIPDispatchRuleRequest(
            dispatch_rule=sip.SIPDispatchRuleInfo(
                rule=sip.SIPDispatchRule(
                    dispatch_rule_individual=sip.SIPDispatchRuleIndividual(room_prefix="call-")
                ),
                trunk_ids=[trunk.sip_trunk_id],
                name="switchboard",
            )
        )
    )
    phone = await emulator.sip.place_inbound_call(CALLEE, TRUNK_NUMBER)
    assert phone.room.name.startswith(f"call-_{CALLEE}_")
    assert phone.state.attributes["sip.phoneNumber"] == CALLEE
    assert phone.state.attributes["sip.trunkPhoneNumber"] == TRUNK_NUMBER
    assert phone.status == "active"
    participants = await lkapi.room.list_participants(api.ListParticipantsRequest(room=phone.room.name))
    assert [p.kind for p in participants.participants] == [api.ParticipantInfo.Kind.SIP]
    await phone.hang_up()


async def test_the_phone_reports_audio_heard_after_the_agent_flushes(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    trunk_id = await outbound_trunk(lkapi)
    agent = rtc.Room()
    await agent.connect(emulator.ws_url, join_token("call-flush", "edge"))
    try:
        await lkapi.sip.create_sip_participant(dial_request(trunk_id, "call-flush"))
        phone = emulator.sip.phone_in("call-flush", "phone")
        assert phone is not None
        source, speaking = await publish_tone(agent, 440.0)  # seconds of tone, a second of it queued ahead
        async with asyncio.timeout(15):
            onset = await phone.wait_for_audio(after_s=0.0)
        await asyncio.sleep(max(0.0, onset + 0.5 - phone.elapsed_s()))
        speaking.cancel()
        source.clear_queue()
        phone.note_clear()
        cleared_at = phone.elapsed_s()
        await asyncio.sleep(1.5)
        await phone.hang_up()
        report = phone.report()
        (clear,) = report.clears
        assert clear.at_s == pytest.approx(cleared_at, abs=0.05)
        assert report.heard_ms > 400.0
        # The second of tone queued at the flush was never heard: only what was already on its way.
        assert phone.heard(cleared_at).audible_ms(cleared_at, cleared_at + 1.5) < 700.0
        # Counted after the clear: what reached the server after it, at most the packet libwebrtc had taken.
        assert clear.heard_after_ms <= 40.0
    finally:
        await agent.disconnect()


async def test_a_flush_that_does_not_happen_is_counted_in_full(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    trunk_id = await outbound_trunk(lkapi)
    agent = rtc.Room()
    await agent.connect(emulator.ws_url, join_token("call-no-flush", "edge"))
    try:
        await lkapi.sip.create_sip_participant(dial_request(trunk_id, "call-no-flush"))
        phone = emulator.sip.phone_in("call-no-flush", "phone")
        assert phone is not None
        _source, speaking = await publish_tone(agent, 440.0)
        async with asyncio.timeout(15):
            onset = await phone.wait_for_audio(after_s=0.0)
        await asyncio.sleep(max(0.0, onset + 0.5 - phone.elapsed_s()))
        speaking.cancel()  # the source still holds a second of tone, and nobody clears it
        phone.note_clear()
        await asyncio.sleep(1.0)
        await phone.hang_up()
        (clear,) = phone.report().clears
        assert clear.heard_after_ms >= 250.0  # the whole leak window (300 ms) of tone sent after the clear
    finally:
        await agent.disconnect()


async def test_the_phone_hears_a_track_published_before_it_was_dialled(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    trunk_id = await outbound_trunk(lkapi)
    agent = rtc.Room()
    await agent.connect(emulator.ws_url, join_token("call-early", "edge"))
    _source, speaking = await publish_tone(agent, 440.0)
    try:
        await lkapi.sip.create_sip_participant(dial_request(trunk_id, "call-early"))
        phone = emulator.sip.phone_in("call-early", "phone")
        assert phone is not None
        async with asyncio.timeout(15):
            await phone.wait_for_audio(after_s=0.0)
    finally:
        speaking.cancel()
        await agent.disconnect()


async def test_a_newer_track_replaces_the_older_one_in_the_phone(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    trunk_id = await outbound_trunk(lkapi)
    agent = rtc.Room()
    await agent.connect(emulator.ws_url, join_token("call-two", "edge"))
    try:
        await lkapi.sip.create_sip_participant(dial_request(trunk_id, "call-two"))
        phone = emulator.sip.phone_in("call-two", "phone")
        assert phone is not None
        _old, old_speaking = await publish_tone(agent, 440.0)
        async with asyncio.timeout(15):
            await phone.wait_for_audio(after_s=0.0)
        _new, new_speaking = await publish_tone(agent, 1000.0)
        await asyncio.sleep(3.0)
        old_speaking.cancel()
        new_speaking.cancel()
        now = phone.elapsed_s()
        last_second = phone.heard(now - 1.0).between(now - 1.0, now)
        spectrum = np.abs(np.fft.rfft(last_second.astype(np.float64)))
        assert abs(np.fft.rfftfreq(last_second.size, 1 / 8000)[int(np.argmax(spectrum))] - 1000.0) < 20
        assert (
            phone.buffer.queued_ms < 1000
        )  # played as it comes, not queued behind seconds of the older track
    finally:
        await agent.disconnect()

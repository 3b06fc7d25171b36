import aiohttp
import pytest
from livekit import api
from livekit.protocol import sip

from switchboard.sim.livekit import LiveKitEmulator
from switchboard.sim.livekit.control import callee_from

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_the_callee_set_over_http_meets_the_next_call(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    emulator.sip.add_outbound_trunk(sip.SIPOutboundTrunkInfo(sip_trunk_id="ST_out", numbers=["+15550100000"]))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emulator.http_url}/_emulator/callee", json={"behaviour": "busy"}) as response:
            assert response.status == 200
        async with http.post(
            f"{emulator.http_url}/_emulator/callee", json={"behaviour": "sleepy"}
        ) as response:
            assert response.status == 400
        request = api.CreateSIPParticipantRequest(
            sip_trunk_id="ST_out", sip_call_to="+15557654321", room_name="call-busy", wait_until_answered=True
        )
        with pytest.raises(api.SipCallError) as raised:
            await lkapi.sip.create_sip_participant(request)
        assert raised.value.sip_status_code == 486
        async with http.get(f"{emulator.http_url}/_emulator/calls") as response:
            (call,) = (await response.json())["calls"]
        assert call["status"] == "hangup" and call["room"] == "call-busy"


async def test_an_unknown_trunk_is_not_found(lkapi: api.LiveKitAPI) -> None:
    request = api.CreateSIPParticipantRequest(
        sip_trunk_id="ST_nope", sip_call_to="+15557654321", room_name="r"
    )
    with pytest.raises(api.TwirpError) as raised:
        await lkapi.sip.create_sip_participant(request)
    assert raised.value.code == "not_found"


@pytest.mark.unit
def test_callee_behaviours_map_to_sip_outcomes() -> None:
    assert callee_from({"behaviour": "fail", "status": 500}).status == 500
    assert callee_from({"behaviour": "unavailable"}).status == 480
    assert callee_from({"behaviour": "no_answer"}).never_answers
    with pytest.raises(ValueError, match="unknown behaviour"):
        callee_from({"behaviour": "x"})

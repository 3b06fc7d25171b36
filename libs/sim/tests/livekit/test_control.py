import asyncio

import aiohttp
import numpy as np
import pytest
from livekit import api, rtc
from livekit.protocol import sip

from switchboard.sim.livekit import LiveKitEmulator
from switchboard.sim.livekit.control import callee_from

from .conftest import join_token
from .test_media import heard

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
            (call,) = await response.json()
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


async def test_the_person_on_an_inbound_call_is_driven_over_http(emulator: LiveKitEmulator) -> None:
    emulator.sip.add_inbound_trunk(sip.SIPInboundTrunkInfo(numbers=["+15550100000"]))
    individual = sip.SIPDispatchRuleIndividual(room_prefix="call-")
    emulator.sip.add_dispatch_rule(
        sip.SIPDispatchRuleInfo(rule=sip.SIPDispatchRule(dispatch_rule_individual=individual))
    )
    async with aiohttp.ClientSession(base_url=emulator.http_url) as http:
        async with http.post(
            "/_emulator/inbound", json={"from": "+15557654321", "to": "+15550100000"}
        ) as response:
            assert response.status == 201
            call = await response.json()
        edge = rtc.Room()
        await edge.connect(emulator.ws_url, join_token(call["room"], "edge"))
        digits: asyncio.Queue[str] = asyncio.Queue()
        edge.on("sip_dtmf_received", lambda dtmf: digits.put_nowait(dtmf.digit))
        left = asyncio.get_running_loop().create_future()
        edge.on("participant_disconnected", lambda p: left.done() or left.set_result(p.identity))
        try:
            base = f"/_emulator/calls/{call['call_id']}"
            async with http.post(f"{base}/say", json={"text": "I would like to book a table"}) as response:
                assert response.status == 200
                assert (await response.json())["duration_s"] > 0.5
            caller = await heard(edge, call["identity"], 2.5)
            assert np.abs(caller.astype(np.int32)).max() > 1000  # the speech reached the room

            async with http.post(f"{base}/dtmf", json={"digits": "12#"}) as response:
                assert response.status == 200
            assert [await asyncio.wait_for(digits.get(), 10) for _ in range(3)] == ["1", "2", "#"]
            async with http.post(f"{base}/dtmf", json={"digits": "x"}) as response:
                assert response.status == 400

            async with http.post(f"{base}/clear") as response:
                assert response.status == 200
            async with http.get(f"{base}/report") as response:
                report = await response.json()
            assert report["dtmf_sent"] == 3 and len(report["clears"]) == 1
            async with http.get(f"{base}/conversation.wav") as response:
                assert response.content_type == "audio/wav" and len(await response.read()) > 44

            async with http.post(f"{base}/hangup") as response:
                assert (await response.json())["status"] == "hangup"
            assert await asyncio.wait_for(left, 10) == call["identity"]
            async with http.post("/_emulator/calls/SCL_none/say", json={"text": "hi"}) as response:
                assert response.status == 404
        finally:
            await edge.disconnect()

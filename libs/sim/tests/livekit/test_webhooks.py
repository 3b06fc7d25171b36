import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from livekit import api

from switchboard.sim.livekit import LiveKitEmulator

from .conftest import KEYS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, asyncio.Queue[api.WebhookEvent]]]:
    """A webhook endpoint that checks each event with livekit-api's `WebhookReceiver`, as a platform would."""
    events: asyncio.Queue[api.WebhookEvent] = asyncio.Queue()
    check = api.WebhookReceiver(api.TokenVerifier(KEYS.api_key, KEYS.api_secret))

    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        events.put_nowait(check.receive(body, request.headers["Authorization"]))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/livekit/webhook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/livekit/webhook", events
    finally:
        await runner.cleanup()


async def test_an_inbound_call_reports_room_started_and_participant_joined(
    receiver: tuple[str, asyncio.Queue[api.WebhookEvent]],
) -> None:
    url, events = receiver
    async with LiveKitEmulator(keys=KEYS, webhook_urls=[url]) as emulator:
        async with aiohttp.ClientSession() as http:
            # Trunk and rule through the real SDK, the call through the emulator's control API.
            lkapi = api.LiveKitAPI(emulator.http_url, KEYS.api_key, KEYS.api_secret, session=http)
            trunk = await lkapi.sip.create_inbound_trunk(
                api.CreateSIPInboundTrunkRequest(trunk=api.SIPInboundTrunkInfo(numbers=["+15550100000"]))
            )
            individual = api.SIPDispatchRuleIndividual(room_prefix="call-")
            await lkapi.sip.create_dispatch_rule(
                api.CreateSIPDispatchRuleRequest(
                    rule=api.SIPDispatchRule(dispatch_rule_individual=individual),
                    trunk_ids=[trunk.sip_trunk_id],
                )
            )
            async with http.post(
                f"{emulator.http_url}/_emulator/inbound", json={"from": "+15557654321", "to": "+15550100000"}
            ) as response:
                assert response.status == 201
                call = await response.json()
            started = await asyncio.wait_for(events.get(), 10)
            joined = await asyncio.wait_for(events.get(), 10)
            assert started.event == "room_started" and started.room.name == call["room"]
            assert joined.event == "participant_joined" and joined.room.name == call["room"]
            assert joined.participant.kind == api.ParticipantInfo.Kind.SIP
            assert joined.participant.attributes["sip.phoneNumber"] == "+15557654321"
            assert joined.participant.attributes["sip.trunkPhoneNumber"] == "+15550100000"

            async with http.post(
                f"{emulator.http_url}/_emulator/inbound", json={"from": "+15557654321", "to": "+15559999999"}
            ) as response:
                assert response.status == 404

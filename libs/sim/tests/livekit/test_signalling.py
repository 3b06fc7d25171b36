import argparse
import asyncio

import pytest
from livekit import api, rtc
from livekit.protocol import models

from switchboard.sim.livekit import ApiKeys, LiveKitEmulator
from switchboard.sim.livekit.__main__ import configure

from .conftest import KEYS, join_token

ACTIVE = models.ParticipantInfo.State.ACTIVE  # once its PeerConnection is up

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_the_rtc_sdk_joins_with_a_valid_token(emulator: LiveKitEmulator) -> None:
    room = rtc.Room()
    await room.connect(emulator.ws_url, join_token("lobby", "alice"))
    try:
        assert room.name == "lobby"
        assert room.local_participant.identity == "alice"
        assert room.local_participant.sid.startswith("PA_")
        async with asyncio.timeout(10):
            await emulator.rooms["lobby"].wait_for(lambda r: r.participants()[0].state == ACTIVE)
    finally:
        await room.disconnect()
    async with asyncio.timeout(10):
        await emulator.rooms["lobby"].wait_for(lambda r: not r.members)


async def test_a_token_signed_with_another_secret_is_refused(emulator: LiveKitEmulator) -> None:
    wrong = ApiKeys(api_key=emulator.keys.api_key, api_secret="not-the-secret-not-the-secret-xx")
    room = rtc.Room()
    with pytest.raises(rtc.ConnectError):
        await room.connect(emulator.ws_url, join_token("lobby", "mallory", keys=wrong))
    assert "lobby" not in emulator.rooms


async def test_participants_see_each_other_and_their_attributes(emulator: LiveKitEmulator) -> None:
    alice, bob = rtc.Room(), rtc.Room()
    await alice.connect(emulator.ws_url, join_token("lobby", "alice"))
    joined = asyncio.get_running_loop().create_future()
    alice.on("participant_connected", lambda p: joined.done() or joined.set_result(p.identity))
    changed: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    alice.on("participant_attributes_changed", lambda _changed, p: changed.put_nowait(dict(p.attributes)))
    await bob.connect(emulator.ws_url, join_token("lobby", "bob"))
    try:
        assert await asyncio.wait_for(joined, 10) == "bob"
        await bob.local_participant.set_attributes({"mood": "curious"})
        assert (await asyncio.wait_for(changed.get(), 10))["mood"] == "curious"
    finally:
        await bob.disconnect()
        await alice.disconnect()


async def test_a_client_whose_signalling_drops_joins_again(emulator: LiveKitEmulator) -> None:
    room = rtc.Room()
    await room.connect(emulator.ws_url, join_token("lobby", "alice"))
    reconnected = asyncio.Event()
    room.on("reconnected", reconnected.set)
    try:
        first = emulator.sessions[0]
        await first.ws.close()  # the resume that follows is refused with leave(RECONNECT): a full reconnect
        await asyncio.wait_for(reconnected.wait(), 30)
        async with asyncio.timeout(10):
            await emulator.rooms["lobby"].wait_for(lambda r: r.participants()[0].state == ACTIVE)
        assert len(emulator.sessions) >= 2
        assert emulator.rooms["lobby"].member("alice") is not first
    finally:
        await room.disconnect()


async def test_a_token_without_the_join_grant_is_refused(emulator: LiveKitEmulator) -> None:
    token = (
        api.AccessToken(KEYS.api_key, KEYS.api_secret)
        .with_identity("mallory")
        .with_grants(api.VideoGrants(room_list=True, room="lobby"))
        .to_jwt()
    )
    with pytest.raises(rtc.ConnectError):
        await rtc.Room().connect(emulator.ws_url, token)
    assert "lobby" not in emulator.rooms


@pytest.mark.unit
def test_the_command_line_creates_trunks_and_an_individual_dispatch_rule() -> None:
    emulator = LiveKitEmulator(keys=KEYS)
    arguments = argparse.Namespace(
        outbound_trunk=[("ST_out", "+15550100000")], inbound_number=["+15550100000"], room_prefix="call-"
    )
    configure(emulator, arguments)
    assert emulator.sip.outbound_trunks["ST_out"].numbers == ["+15550100000"]
    (rule,) = emulator.sip.dispatch_rules.values()
    assert rule.rule.dispatch_rule_individual.room_prefix == "call-"
    (trunk,) = emulator.sip.inbound_trunks.values()
    assert list(rule.trunk_ids) == [trunk.sip_trunk_id]

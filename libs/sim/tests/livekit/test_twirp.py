import asyncio

import pytest
from livekit import api, rtc

from switchboard.sim.livekit import LiveKitEmulator

from .conftest import KEYS, join_token

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_room_service_creates_lists_updates_removes_and_deletes(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    created = await lkapi.room.create_room(api.CreateRoomRequest(name="call-1", empty_timeout=60))
    assert created.name == "call-1" and created.sid.startswith("RM_")
    listed = await lkapi.room.list_rooms(api.ListRoomsRequest())
    assert [r.name for r in listed.rooms] == ["call-1"]

    edge = rtc.Room()
    await edge.connect(emulator.ws_url, join_token("call-1", "edge"))
    disconnected = asyncio.get_running_loop().create_future()
    edge.on("disconnected", lambda reason: disconnected.done() or disconnected.set_result(reason))
    try:
        participants = await lkapi.room.list_participants(api.ListParticipantsRequest(room="call-1"))
        assert [p.identity for p in participants.participants] == ["edge"]

        changed = asyncio.get_running_loop().create_future()
        edge.on(
            "participant_attributes_changed",
            lambda _c, p: changed.done() or changed.set_result(dict(p.attributes)),
        )
        updated = await lkapi.room.update_participant(
            api.UpdateParticipantRequest(room="call-1", identity="edge", attributes={"call_id": "c-1"})
        )
        assert updated.attributes["call_id"] == "c-1"
        assert (await asyncio.wait_for(changed, 10))["call_id"] == "c-1"

        await lkapi.room.remove_participant(api.RoomParticipantIdentity(room="call-1", identity="edge"))
        assert await asyncio.wait_for(disconnected, 10) == rtc.DisconnectReason.PARTICIPANT_REMOVED
    finally:
        await edge.disconnect()

    await lkapi.room.delete_room(api.DeleteRoomRequest(room="call-1"))
    assert (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms == []


async def test_an_unknown_room_is_not_found(lkapi: api.LiveKitAPI) -> None:
    with pytest.raises(api.TwirpError) as raised:
        await lkapi.room.list_participants(api.ListParticipantsRequest(room="nowhere"))
    assert raised.value.code == "not_found"


async def test_a_wrong_secret_is_unauthenticated(emulator: LiveKitEmulator) -> None:
    client = api.LiveKitAPI(emulator.http_url, KEYS.api_key, "another-secret-another-secret-xx")
    try:
        with pytest.raises(api.TwirpError) as raised:
            await client.room.list_rooms(api.ListRoomsRequest())
    finally:
        await client.aclose()
    assert raised.value.code == "unauthenticated"
    assert raised.value.status == 401


async def test_deleting_a_room_disconnects_its_participants(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    edge = rtc.Room()
    await edge.connect(emulator.ws_url, join_token("doomed", "edge"))
    disconnected = asyncio.get_running_loop().create_future()
    edge.on("disconnected", lambda reason: disconnected.done() or disconnected.set_result(reason))
    await lkapi.room.delete_room(api.DeleteRoomRequest(room="doomed"))
    assert await asyncio.wait_for(disconnected, 10) == rtc.DisconnectReason.ROOM_DELETED
    await edge.disconnect()


async def test_a_room_closes_after_its_last_participant_left(
    emulator: LiveKitEmulator, lkapi: api.LiveKitAPI
) -> None:
    await lkapi.room.create_room(api.CreateRoomRequest(name="brief", empty_timeout=30, departure_timeout=1))
    edge = rtc.Room()
    await edge.connect(emulator.ws_url, join_token("brief", "edge"))
    room = emulator.rooms["brief"]
    await edge.disconnect()
    async with asyncio.timeout(10):
        await room.wait_for(lambda r: r.closed)
    assert "brief" not in emulator.rooms


async def test_a_second_connection_with_the_same_identity_replaces_the_first(
    emulator: LiveKitEmulator,
) -> None:
    first, second = rtc.Room(), rtc.Room()
    await first.connect(emulator.ws_url, join_token("dup", "edge"))
    disconnected = asyncio.get_running_loop().create_future()
    first.on("disconnected", lambda reason: disconnected.done() or disconnected.set_result(reason))
    await second.connect(emulator.ws_url, join_token("dup", "edge"))
    try:
        assert await asyncio.wait_for(disconnected, 10) == rtc.DisconnectReason.DUPLICATE_IDENTITY
        assert [p.identity for p in emulator.rooms["dup"].participants()] == ["edge"]
    finally:
        await first.disconnect()
        await second.disconnect()

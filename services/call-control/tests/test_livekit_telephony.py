"""Placing LiveKit calls against the LiveKit emulator: the dial waits for the edge, and a wrong key is refused.

A stand-in edge takes the attach request and joins the call's room with the real rtc SDK, as media-edge does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
import pytest
from livekit import api, rtc
from livekit.protocol import sip
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from pydantic import SecretStr

from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachReply, decode_request
from switchboard.common.calls.record import CallStatus
from switchboard.sim.livekit import ApiKeys, Callee, LiveKitEmulator, SipPhone

from .conftest import RunCallControl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

KEYS = ApiKeys(api_key="cckey", api_secret="call-control-secret-call-control-secret")
TRUNK = "ST_test_outbound"
CALLEE = "+14155550100"


class StandInEdge:
    """Accepts `svc.edge.livekit.attach` and, `join_after_s` later, joins the room and publishes audio."""

    def __init__(self, emulator: LiveKitEmulator, join_after_s: float | None) -> None:
        self._emulator = emulator
        self._join_after_s = join_after_s
        self.room = rtc.Room()
        self.status_changes: list[str] = []
        """The phone's `sip.callStatus` changes the edge saw happen (not those before it was there)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.room.on("participant_attributes_changed", self._changed)

    def _changed(self, changed: dict[str, str], _participant: rtc.Participant) -> None:
        # `changed` holds the values of this change; the participant's attributes may already be newer ones
        if "sip.callStatus" in changed:
            self.status_changes.append(changed["sip.callStatus"])

    async def on_attach(self, msg: Msg) -> None:
        request = decode_request(msg.data)
        await msg.respond(msgspec.msgpack.encode(AttachReply(accepted=True, instance="edge-stand-in")))
        if self._join_after_s is not None:
            task = asyncio.create_task(self._join(f"call-{request.call_id}"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _join(self, room: str) -> None:
        assert self._join_after_s is not None
        await asyncio.sleep(self._join_after_s)
        token = (
            api.AccessToken(KEYS.api_key, KEYS.api_secret)
            .with_identity("switchboard-agent")
            .with_kind("agent")
            .with_grants(api.VideoGrants(room_join=True, room=room, agent=True))
        )
        await self.room.connect(self._emulator.ws_url, token.to_jwt())
        source = rtc.AudioSource(24000, 1)
        await self.room.local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("agent", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.room.disconnect()


@contextlib.asynccontextmanager
async def stand_in_edge(
    bus: NatsClient, emulator: LiveKitEmulator, *, join_after_s: float | None
) -> AsyncIterator[StandInEdge]:
    edge = StandInEdge(emulator, join_after_s)
    subscription = await bus.subscribe(subjects.edge_attach("livekit"), cb=edge.on_attach)
    try:
        yield edge
    finally:
        await subscription.unsubscribe()
        await edge.close()


@pytest.fixture
async def emulator() -> AsyncIterator[LiveKitEmulator]:
    async with LiveKitEmulator(keys=KEYS) as running:
        running.sip.add_outbound_trunk(sip.SIPOutboundTrunkInfo(sip_trunk_id=TRUNK, numbers=["+15550100100"]))
        running.sip.default_callee = Callee.answering(0.2)
        yield running


def livekit_settings(emulator: LiveKitEmulator, secret: str = KEYS.api_secret) -> dict[str, object]:
    return {
        "livekit_url": emulator.http_url,
        "livekit_api_key": KEYS.api_key,
        "livekit_api_secret": SecretStr(secret),
        "livekit_outbound_trunk_id": TRUNK,
        "livekit_edge_join_timeout_s": 1.0,
    }


async def answered_phone(emulator: LiveKitEmulator, call_id: str) -> SipPhone:
    """The callee of `call_id`, once it answered (the dial went out)."""
    async with asyncio.timeout(10):
        while not _answered(phone := emulator.sip.phone_in(f"call-{call_id}", f"sip_{CALLEE}")):  # noqa: ASYNC110  # polling the emulator's phones
            await asyncio.sleep(0.02)
    assert phone is not None
    return phone


def _answered(phone: SipPhone | None) -> bool:
    return phone is not None and phone.answered


def body() -> dict[str, str]:
    return {"to": CALLEE, "profile": "receptionist-openai", "transport": "livekit"}


async def test_the_callee_is_dialled_once_the_edge_is_in_the_room_so_it_sees_the_ringing(
    call_control: RunCallControl, emulator: LiveKitEmulator, bus: NatsClient
) -> None:
    async with (
        call_control(**livekit_settings(emulator)) as cc,
        stand_in_edge(bus, emulator, join_after_s=0.5) as edge,
    ):
        response = await cc.create(body())
        assert response.status_code == 201, response.text
        call_id = response.json()["call_id"]
        phone = await answered_phone(emulator, call_id)
        async with asyncio.timeout(10):
            while "active" not in edge.status_changes:  # noqa: ASYNC110  # polling what the stand-in saw
                await asyncio.sleep(0.02)
        assert phone.status == "active" and not (await cc.record(call_id)).status.final
        assert edge.status_changes[-2:] == ["ringing", "active"], edge.status_changes


async def test_an_edge_that_never_joins_delays_the_dial_by_the_join_timeout_only(
    call_control: RunCallControl, emulator: LiveKitEmulator, bus: NatsClient
) -> None:
    async with (
        call_control(**livekit_settings(emulator)) as cc,
        stand_in_edge(bus, emulator, join_after_s=None),
    ):
        response = await cc.create(body())
        assert response.status_code == 201, response.text
        await answered_phone(emulator, response.json()["call_id"])
        assert cc.control.metrics.livekit_errors.labels("edge_join", "timeout")._value.get() == 1


async def test_a_wrong_livekit_secret_is_refused_with_a_clear_error(
    call_control: RunCallControl, emulator: LiveKitEmulator
) -> None:
    async with call_control(**livekit_settings(emulator, "not-the-secret-not-the-secret-not-it")) as cc:
        response = await cc.create(body())
        error = response.json()["error"]
        assert (response.status_code, error["code"]) == (502, "provider_auth_failed"), response.text
        assert "LiveKit rejected call-control's key (unauthenticated)" in error["message"], error
        assert not emulator.rooms and not emulator.sip.phones
        call_id = error["message"].rsplit("(call ", 1)[1].split(" ")[0]
        record = await cc.record(call_id)
        assert record.status == CallStatus.FAILED and record.ended_reason == "provider_auth_failed"
        assert cc.control.metrics.livekit_errors.labels("create_room", "unauthenticated")._value.get() == 1

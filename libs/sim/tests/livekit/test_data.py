import asyncio

import pytest
from livekit import rtc

from switchboard.sim.livekit import LiveKitEmulator

from .conftest import join_token

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_dtmf_and_user_data_reach_the_other_participant(emulator: LiveKitEmulator) -> None:
    alice, bob = rtc.Room(), rtc.Room()
    await alice.connect(emulator.ws_url, join_token("keys", "alice"))
    await bob.connect(emulator.ws_url, join_token("keys", "bob"))
    digits: asyncio.Queue[tuple[int, str, str]] = asyncio.Queue()
    bob.on(
        "sip_dtmf_received",
        lambda dtmf: digits.put_nowait(
            (dtmf.code, dtmf.digit, dtmf.participant.identity if dtmf.participant else "")
        ),
    )
    payloads: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    bob.on("data_received", lambda packet: payloads.put_nowait((packet.data, packet.topic or "")))
    try:
        await alice.local_participant.publish_dtmf(code=5, digit="5")
        await alice.local_participant.publish_dtmf(code=11, digit="#")
        await alice.local_participant.publish_data(b"hello", reliable=True, topic="greeting")
        assert await asyncio.wait_for(digits.get(), 10) == (5, "5", "alice")
        assert await asyncio.wait_for(digits.get(), 10) == (11, "#", "alice")
        assert await asyncio.wait_for(payloads.get(), 10) == (b"hello", "greeting")
    finally:
        await alice.disconnect()
        await bob.disconnect()

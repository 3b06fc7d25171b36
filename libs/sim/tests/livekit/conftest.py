"""Fixtures for the LiveKit emulator's tests: a running emulator and tokens for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from livekit import api

from switchboard.sim.livekit import ApiKeys, LiveKitEmulator

KEYS = ApiKeys(api_key="testkey", api_secret="test-secret-test-secret-test-secret")


def join_token(room: str, identity: str, *, keys: ApiKeys = KEYS, kind: str = "standard") -> str:
    """A token that may join `room` as `identity`, signed with `keys`."""
    token = api.AccessToken(keys.api_key, keys.api_secret).with_identity(identity).with_name(identity)
    token = token.with_kind(kind)  # type: ignore[arg-type]
    return token.with_grants(api.VideoGrants(room_join=True, room=room)).to_jwt()


@pytest.fixture
async def emulator() -> AsyncIterator[LiveKitEmulator]:
    async with LiveKitEmulator(keys=KEYS) as running:
        yield running


@pytest.fixture
async def lkapi(emulator: LiveKitEmulator) -> AsyncIterator[api.LiveKitAPI]:
    client = api.LiveKitAPI(emulator.http_url, KEYS.api_key, KEYS.api_secret)
    try:
        yield client
    finally:
        await client.aclose()

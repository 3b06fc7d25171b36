"""Pytest fixtures for Switchboard: a real nats-server per test session, and a connected client per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from nats.aio.client import Client as NatsClient

from switchboard.common.bus.connection import BusOptions, connect, ensure_jetstream
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.nats_server import EmbeddedNats


@pytest.fixture(scope="session")
def nats_server() -> Iterator[EmbeddedNats]:
    """One real nats-server with JetStream for the whole test session."""
    with EmbeddedNats() as server:
        yield server


@pytest.fixture
def nats_url(nats_server: EmbeddedNats) -> str:
    """The URL of the session's nats-server."""
    return nats_server.url


@pytest.fixture
async def bus(nats_server: EmbeddedNats) -> AsyncIterator[NatsClient]:
    """A client connected to the session's nats-server, with the platform's JetStream resources in place."""
    client = await connect(BusOptions(url=nats_server.url, name="test"), BusMetrics(new_registry()))
    await ensure_jetstream(client.jetstream())
    yield client
    await client.drain()

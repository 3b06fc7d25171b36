import logging

import pytest

from switchboard.common.bus.connection import BusOptions, connect
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.eventually import eventually
from switchboard.devkit.nats_server import EmbeddedNats

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_a_drain_we_asked_for_is_no_warning_and_a_lost_server_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.common.bus.connection")
    with EmbeddedNats() as server:
        client = await connect(BusOptions(url=server.url, name="test"), BusMetrics(new_registry()))
        await client.drain()
        assert [r.levelno for r in caplog.records] == [logging.INFO]
        assert caplog.records[0].getMessage() == "nats connection closed"

        caplog.clear()
        client = await connect(BusOptions(url=server.url, name="test"), BusMetrics(new_registry()))
        server.restart()
        await eventually(lambda: client.is_connected and bool(caplog.records), 20, what="reconnected")
        assert "nats disconnected" in [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        await client.close()

"""The link watch says when this process's own NATS connection came back, so silence is judged from then."""

import pytest

from switchboard.common.bus.connection import BusOptions, connect
from switchboard.common.bus.link import LinkWatch
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.eventually import eventually
from switchboard.devkit.nats_server import EmbeddedNats

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


async def test_down_while_nats_is_away_and_up_since_the_first_look_after_it_is_back() -> None:
    with EmbeddedNats() as nats:
        nc = await connect(
            BusOptions(url=nats.url, name="link", reconnect_wait_s=0.1), BusMetrics(new_registry())
        )
        clock = FakeClock()
        link = LinkWatch(nc, clock)
        assert link.up_since() == 10.0
        clock.now = 11.0
        assert link.up_since() == 10.0
        nats.kill()
        await eventually(lambda: not nc.is_connected, what="the client to notice")
        assert link.up_since() is None
        nats.start()
        await eventually(lambda: nc.is_connected, what="the reconnect")
        clock.now = 12.0
        assert link.up_since() == 12.0
        clock.now = 13.0
        assert link.up_since() == 12.0
        await nc.close()

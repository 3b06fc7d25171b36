import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from switchboard.common.bus.client import Bus
from switchboard.common.runtime.ops_http import OpsServer
from switchboard.media_edge.drain_action import DRAIN_PATH, drain_action
from switchboard.sim.phone import CallRejected
from switchboard.sim.stand_in_agent import StandInAgent
from switchboard.transcoder.service import TranscoderService

from .conftest import RunningEdge, RunningEdgeFactory, seed_call, wait_for

pytestmark = pytest.mark.integration


@asynccontextmanager
async def ops_server(running: RunningEdge) -> AsyncIterator[str]:
    """The edge's ops port with its drain action, as main() serves it; yields its base URL."""
    ops = OpsServer(running.registry, running.edge.health, "127.0.0.1", 0)
    ops.add_action(DRAIN_PATH, drain_action(running.edge))
    await ops.start()
    try:
        yield f"http://127.0.0.1:{ops.port}"
    finally:
        await ops.stop()


@pytest.mark.timeout(30)
async def test_an_upgrade_without_a_valid_twilio_signature_is_refused_with_403(
    client: Bus, media_edge: RunningEdgeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await seed_call(client, "sig-1")
    async with media_edge() as running:
        for phone in (
            running.phone("sig-1", signature="bm90IGEgc2lnbmF0dXJl"),
            running.phone("sig-1", auth_token="another-accounts-token"),
        ):
            with pytest.raises(CallRejected) as refused:
                await phone.open()
            assert refused.value.status == 403
        assert running.metric("switchboard_edge_streams_refused_total", reason="bad_signature") == 2
        assert not running.edge.sessions
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "anyone can send these"
        warnings = [r for r in caplog.records if "refused a media stream upgrade" in r.getMessage()]
        assert len(warnings) == 1, "logged now and then, not once per refusal"
        record, _ = await running.edge.calls.get("sig-1")
        assert record.stream_id == ""


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("call_id", "token", "reason"),
    [
        ("token-1", "0" * 64, "bad_token"),
        ("token-2", None, "no_record"),
    ],
)
async def test_a_stream_without_a_valid_token_or_call_record_is_closed_with_1008(
    client: Bus, media_edge: RunningEdgeFactory, call_id: str, token: str | None, reason: str
) -> None:
    if reason != "no_record":
        await seed_call(client, call_id)
    async with media_edge() as running:
        call = running.phone(call_id, token=token)
        await call.open()
        await asyncio.wait_for(call.wait_closed(), 10)
        await call.hang_up()
        assert call.counters.close_code == 1008
        assert call.counters.closed_by == "server"
        assert running.metric("switchboard_edge_streams_refused_total", reason=reason) == 1
        await wait_for(lambda: not running.edge.sessions)
    assert await client.call_history(call_id) == []


@pytest.mark.timeout(60)
async def test_drain_refuses_new_streams_while_the_active_ones_finish(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService, agent: StandInAgent
) -> None:
    await seed_call(client, "drain-1")
    await seed_call(client, "drain-2")
    async with (
        media_edge(drain_deadline_s=30.0) as running,
        ops_server(running) as ops,
        aiohttp.ClientSession() as http,
    ):
        active = running.phone("drain-1")
        await active.open()
        answer = await agent.wait_for_call("drain-1")
        assert (
            await http.post(f"{running.http}/drain", headers={"X-Forwarded-For": "127.0.0.1"})
        ).status == 404
        assert not running.edge.health.draining, "the port Twilio reaches serves no drain"
        drain = asyncio.create_task(http.post(f"{ops}/drain"))
        await wait_for(lambda: running.edge.health.draining, what="readiness off")
        with pytest.raises(CallRejected) as refused:
            await running.phone("drain-2").open()
        assert refused.value.status == 503
        assert running.metric("switchboard_edge_streams_refused_total", reason="draining") == 1
        await answer.speak(0.5)
        await asyncio.wait_for(active.wait_for_audio(), 10)  # the active call goes on meanwhile
        assert not drain.done()
        await active.hang_up()
        response = await asyncio.wait_for(drain, 10)
        assert response.status == 200
        report = await response.json()
        assert report["drained"] is True and report["streams_at_start"] == 1 and report["streams_left"] == 0
        assert active.counters.close_code != 1012


@pytest.mark.timeout(60)
async def test_the_drain_deadline_closes_what_is_left_with_going_away(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService, agent: StandInAgent
) -> None:
    await seed_call(client, "drain-3")
    async with media_edge() as running:
        call = running.phone("drain-3")
        await call.open()
        await agent.wait_for_call("drain-3")
        result = await running.edge.drain(deadline_s=0.2)
        assert (result.streams_at_start, result.closed_at_deadline, result.streams_left) == (1, 1, 0)
        assert not result.drained
        record, _ = await running.edge.calls.get("drain-3")
        assert record.ended_reason == "drain_deadline"  # what the record ends with, not `completed`
        await asyncio.wait_for(call.wait_closed(), 5)
        await call.hang_up()
        assert call.counters.close_code == 1001


@pytest.mark.timeout(30)
async def test_the_stream_port_refuses_request_bodies_unread(media_edge: RunningEdgeFactory) -> None:
    async with media_edge() as running:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.server.port)
        writer.write(b"POST /twilio/stream HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert status_line.split()[1] == b"413"

"""An agent replica dies mid-call: the edge notices its heartbeats stop and another replica carries the call on."""

from __future__ import annotations

import asyncio

import pytest

from .conftest import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]


def _entries(record: dict[str, object], kind: str) -> list[dict[str, object]]:
    timeline = record["timeline"]
    assert isinstance(timeline, list)
    return [entry for entry in timeline if entry["type"] == kind]


async def test_a_call_survives_the_death_of_its_agent_replica(platform: Platform) -> None:
    call_id = await platform.place_call("receptionist-openai")
    phone = await platform.phone(call_id)
    async with asyncio.timeout(15):
        await phone.wait_for_audio()
        await phone.wait_for_silence(1.0)
    (first,) = [
        a for a in _entries(await platform.call(call_id), "attached") if a["component"] == "agent-openai"
    ]
    serving = str(first["instance"])

    await platform.kill_agent(serving)
    killed_at = phone.elapsed_s()
    async with asyncio.timeout(30):
        resumed_at = await phone.wait_for_audio(after_s=killed_at)  # the other replica speaks up
        await phone.wait_for_silence(1.0)
    print(f"FIGURE agent replica killed: agent audio back after {resumed_at - killed_at:.2f} s")
    assert resumed_at - killed_at < 15

    spoken = await phone.say("I would like to book a cleaning.")
    await spoken.wait()
    said_at = phone.elapsed_s()
    async with asyncio.timeout(15):
        await phone.wait_for_audio(after_s=said_at)  # the conversation goes on with the new replica

    async with platform.http.post(
        f"{platform.api}/v1/calls/{call_id}/hangup", json={"reason": "test_done"}, headers=platform.auth
    ) as response:
        assert response.status in (200, 202), await response.text()
    record = await platform.wait_for_record(call_id, "completed")
    agents = [a for a in _entries(record, "attached") if a["component"] == "agent-openai"]
    assert len(agents) == 2 and agents[0]["instance"] == serving, agents
    assert agents[1]["instance"] != serving
    assert agents[1]["detail"]["resumed"] is True  # type: ignore[index]
    lost = [e for e in _entries(record, "error") if e["code"] == "component_lost"]
    assert lost and lost[0]["component"] == "agent-openai" and lost[0]["retryable"] is True
    assert phone.report().protocol_errors == ()

"""NATS goes away under live calls and comes back: every call goes on with exactly one agent.

agent-openai runs two replicas. Nothing may take the outage for a dead agent: no re-attach, no second model
session, no duplicated turn in the record, no `component_lost`.
"""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest

from switchboard.sim.phone.heard import HeardAudio

from .conftest import Platform

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]

ASK = "I would like to book a cleaning."
NEXT = "Tuesday at nine, please."


def _entries(record: dict[str, object], kind: str) -> list[dict[str, object]]:
    timeline = record["timeline"]
    assert isinstance(timeline, list)
    return [entry for entry in timeline if entry["type"] == kind]


def _longest_gap_s(heard: HeardAudio, start_s: float, end_s: float) -> float:
    """The longest stretch between two times during which the phone had no agent audio to play."""
    played = heard.played[
        round((start_s - heard.start_s) * heard.rate) : round((end_s - heard.start_s) * heard.rate)
    ]
    gaps = np.diff(np.flatnonzero(np.concatenate(([True], played, [True])))) - 1
    return float(gaps.max(initial=0)) / heard.rate


@pytest.mark.parametrize(("outage_s", "calls"), [(2.0, 2), (6.0, 2), (15.0, 1)], ids=["2s", "6s", "15s"])
async def test_every_call_goes_on_with_one_model_session_through_a_nats_outage(
    platform: Platform, outage_s: float, calls: int
) -> None:
    baseline = len(platform.openai.live_sessions)
    call_ids = [await platform.place_call("receptionist-openai") for _ in range(calls)]
    phones = [await platform.phone(call_id) for call_id in call_ids]
    async with asyncio.timeout(20):
        for phone in phones:
            await phone.wait_for_audio()
        for phone in phones:
            await phone.wait_for_silence(1.0)
    assert len(platform.openai.live_sessions) == baseline + calls

    for phone in phones:
        await (await phone.say(ASK)).wait()
    async with asyncio.timeout(20):
        answering = [await phone.wait_for_audio(after_s=phone.elapsed_s() - 0.5) for phone in phones]
    await asyncio.sleep(1.0)  # the long answer is under way: NATS dies in the middle of it

    sessions: list[int] = []

    async def count_sessions() -> None:
        while True:
            sessions.append(len(platform.openai.live_sessions))
            await asyncio.sleep(0.05)

    platform.nats.kill()
    await asyncio.sleep(outage_s)
    platform.nats.start()
    sampler = asyncio.create_task(count_sessions())
    try:
        async with asyncio.timeout(40):
            for phone in phones:
                await phone.wait_for_silence(1.0)  # the answer played to its end
        answered = [phone.elapsed_s() - 1.0 for phone in phones]
        said_at: list[float] = []
        for phone in phones:
            await (await phone.say(NEXT)).wait()
            said_at.append(phone.elapsed_s())
        async with asyncio.timeout(20):
            for phone, at in zip(phones, said_at, strict=True):
                await phone.wait_for_audio(after_s=at)  # the agent answers again: the call goes on
        await asyncio.sleep(1.0)  # time for a second model session to show up, if any did
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
    for phone, start, end in zip(phones, answering, answered, strict=True):
        gap = _longest_gap_s(phone.heard(), start, end)
        print(
            f"FIGURE nats outage {outage_s:.0f} s: longest gap in the answer {gap:.2f} s, "
            f"{max(sessions) - baseline} model sessions for {calls} calls"
        )
    assert set(sessions) == {baseline + calls}, "one model session per call at every moment"

    for call_id in call_ids:
        async with platform.http.post(
            f"{platform.api}/v1/calls/{call_id}/hangup", json={"reason": "test_done"}, headers=platform.auth
        ) as response:
            assert response.status in (200, 202), await response.text()
    for call_id, phone in zip(call_ids, phones, strict=True):
        record = await platform.wait_for_record(call_id, "completed")
        agents = [a for a in _entries(record, "attached") if a["component"] == "agent-openai"]
        assert len(agents) == 1, agents  # never attached again
        assert not [e for e in _entries(record, "error") if e["code"] == "component_lost"]
        turns = _entries(record, "transcript")
        generations = [t.get("generation", 0) for t in turns if t["role"] == "agent"]
        assert len(generations) == len(set(generations)), turns  # no answer recorded twice
        assert len(generations) >= 3, turns  # the greeting, the answer across the outage, the one after
        assert phone.report().protocol_errors == ()
    await asyncio.sleep(1.0)
    assert len(platform.openai.live_sessions) == baseline

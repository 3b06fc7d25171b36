"""Conversation flows end to end: the carrier registration over Twilio, through the real flow tools of each agent.

The emulated models follow the flow (caller words to the flow tool the last result named, then its `say`), and
hear the callee's lines from the scenario the test sets; agent replies are cut short so a call of sixteen turns
stays quick.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

import pytest
import pytest_asyncio

from switchboard.sim.drivers import draw
from switchboard.sim.evaluation import Target, evaluate
from switchboard.sim.flow_following import carrier_registration
from switchboard.sim.openai_realtime.script import with_scenarios
from switchboard.sim.phone import MediaStreamCall

from .conftest import Platform, gemini_script, openai_script

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

REGISTRATION = carrier_registration()
FIELDS = {
    "driver_name": "Juan Pérez",
    "tractor_number": "123",
    "tractor_plates": "ABC1234",
    "trailer_number": "457",
    "trailer_plates": "XYZ9876",
    "eta": "14:30",
}
PROFILES = {"openai": "carrier-registration", "gemini": "carrier-registration-gemini"}


@pytest_asyncio.fixture(loop_scope="session")
async def flows(platform: Platform) -> AsyncIterator[Platform]:
    """Short agent replies while a flow test runs; the emulators as they were afterwards."""
    behaviour, config = platform.openai.behaviour, platform.gemini.config
    reply_ms, max_reply_s = behaviour.reply_audio_ms, config.max_reply_s
    behaviour.reply_audio_ms, config.max_reply_s = 500, 0.5
    try:
        yield platform
    finally:
        behaviour.reply_audio_ms, config.max_reply_s = reply_ms, max_reply_s
        platform.openai.script, platform.gemini.script = openai_script(), gemini_script()


def play(platform: Platform, lines: Sequence[str]) -> None:
    """The emulated models hear `lines`, in order, on calls of the carrier profiles."""
    scenario = replace(REGISTRATION, caller_lines=tuple(lines))
    platform.openai.script = with_scenarios(openai_script(), (scenario,))
    platform.gemini.script = gemini_script().with_scenarios((scenario,))


async def answer(phone: MediaStreamCall, line: str) -> None:
    """Say `line` once the agent is quiet, then wait for the agent's answer to start."""
    spoken = await phone.say(line, language="es")
    await spoken.wait()
    said_at = phone.elapsed_s()
    async with asyncio.timeout(20):
        await phone.wait_for_audio(after_s=said_at)
        await phone.wait_for_silence(0.6)


async def converse(platform: Platform, profile: str, lines: Sequence[str], *, last_ends: bool) -> str:
    """Place a call and say `lines`; with `last_ends`, the agent ends the call after the last one."""
    play(platform, lines)
    call_id = await platform.place_call(profile)
    phone = await platform.phone(call_id)
    async with asyncio.timeout(20):
        await phone.wait_for_audio()
        await phone.wait_for_silence(0.6)
    for line in lines[:-1] if last_ends else lines:
        await answer(phone, line)
    if last_ends:
        spoken = await phone.say(lines[-1], language="es")
        await spoken.wait()
    return call_id


def fields(record: dict[str, object]) -> dict[str, dict[str, object]]:
    listed = record["fields"]
    assert isinstance(listed, list)
    return {str(field["id"]): field for field in listed}


def entries(record: dict[str, object], kind: str) -> list[dict[str, object]]:
    timeline = record["timeline"]
    assert isinstance(timeline, list)
    return [entry for entry in timeline if entry["type"] == kind]


@pytest.mark.parametrize("provider", ["openai", "gemini"])
async def test_a_whole_registration_with_a_correction_fills_the_record_field_by_field(
    flows: Platform, provider: str
) -> None:
    call_id = await converse(flows, PROFILES[provider], REGISTRATION.caller_lines, last_ends=True)
    record = await flows.wait_for_record(call_id, "completed", within_s=30)
    assert record["outcome"] == "completed"
    got = fields(record)
    assert {name: got[name]["value"] for name in FIELDS} == FIELDS
    assert all(got[name]["confirmed"] is True for name in FIELDS)
    assert got["trailer_number"]["raw"] == [
        "El cuatro cinco seis.",
        "No, perdón, está mal.",
        "Cuatro cinco siete.",
    ]
    assert got["trailer_number"]["attempts"] == 2 and got["driver_name"]["attempts"] == 1
    assert record["captured"] == FIELDS
    captured = entries(record, "field_captured")
    assert [e["field"] for e in captured if e["confirmed"]] == list(FIELDS)
    tools = [e["name"] for e in entries(record, "tool_call")]
    assert tools[0] == "flow_permission" and tools[-1] == "end_call"
    heard = [str(e["text"]) for e in entries(record, "transcript") if e["role"] == "caller"]
    assert heard == list(REGISTRATION.caller_lines)  # what the model heard is what the callee said
    said = " ".join(str(e["text"]) for e in entries(record, "transcript") if e["role"] == "agent")
    assert "Le confirmo el registro" in said and "quedó guardado" in said


async def test_a_field_that_fails_three_times_is_kept_unconfirmed_and_the_flow_moves_on(
    flows: Platform,
) -> None:
    lines = ("Sí, dígame.", "Este...", "Pues...", "Eh... mmm...")
    call_id = await converse(flows, "carrier-registration", lines, last_ends=False)
    record = await flows.call(call_id)
    name = fields(record)["driver_name"]
    assert (name["value"], name["confirmed"], name["attempts"]) == (None, False, 3)
    assert name["raw"] == list(lines[1:])
    said = [str(e["text"]) for e in entries(record, "transcript") if e["role"] == "agent"]
    assert "lo dejo anotado así" in said[-1] and "número de tractor" in said[-1]
    await flows.http.post(f"{flows.api}/v1/calls/{call_id}/hangup", json={}, headers=flows.auth)
    record = await flows.wait_for_record(call_id, "completed")
    assert record["outcome"] == "incomplete"


@pytest.mark.parametrize(
    ("line", "outcome"),
    [
        ("No, ahorita no puedo, gracias.", "declined"),
        ("Mejor mándamelo por correo.", "email_requested"),
        ("Ahorita voy manejando, llámame en veinte minutos.", "call_back"),
    ],
)
async def test_answers_to_the_permission_question_end_the_call_with_their_outcome(
    flows: Platform, line: str, outcome: str
) -> None:
    call_id = await converse(flows, "carrier-registration", (line,), last_ends=True)
    record = await flows.wait_for_record(call_id, "completed", within_s=30)
    assert record["outcome"] == outcome
    assert fields(record)["driver_name"]["value"] is None
    if outcome == "call_back":
        assert record["call_back_at"]  # an absolute time, twenty minutes after the answer
    else:
        assert record["call_back_at"] is None


async def test_the_evaluation_scores_simulated_drivers_against_their_truth(flows: Platform) -> None:
    def hear(lines: Sequence[str]) -> None:
        play(flows, lines)

    async def phone(call_id: str) -> MediaStreamCall:
        return await flows.phone(call_id)

    target = Target(flows.api, flows.keys.api_key, flows.http, phone, hear)
    drivers = draw(2, seed=45)  # one who mumbles, corrects and asks to repeat; one who declines
    report = await evaluate(target, drivers, "carrier-registration")
    assert [r.outcome for r in report.results] == ["completed", "declined"]
    assert all(report.exact_match(field_id) == 1.0 for field_id in FIELDS)
    assert report.completeness() == 1.0 and report.confirmed() == 1.0
    assert report.attempts("tractor_plates") == 2.0 and report.attempts("tractor_number") == 2.0
    assert report.attempts("trailer_plates") == 1.0  # a repeat request is not an attempt
    table = report.table()
    assert "calls fully right     100%" in table and "outcomes              completed 1, declined 1" in table


async def test_a_replica_lost_mid_flow_is_taken_over_at_the_same_field(flows: Platform) -> None:
    lines = REGISTRATION.caller_lines
    play(flows, lines)
    call_id = await flows.place_call("carrier-registration")
    phone = await flows.phone(call_id)
    async with asyncio.timeout(20):
        await phone.wait_for_audio()
        await phone.wait_for_silence(0.6)
    for line in lines[:3]:  # permission, name, name confirmed: the agent asks for the tractor number
        await answer(phone, line)
    attached = [a for a in entries(await flows.call(call_id), "attached") if a["component"] == "agent-openai"]
    await flows.kill_agent(str(attached[0]["instance"]))
    killed_at = phone.elapsed_s()
    try:
        async with asyncio.timeout(40):
            resumed_at = await phone.wait_for_audio(after_s=killed_at)  # another replica takes the call over
    except TimeoutError:
        timeline = (await flows.call(call_id))["timeline"]
        assert isinstance(timeline, list)
        raise AssertionError(f"nothing heard after the take-over: {timeline[-8:]}") from None
    try:
        async with asyncio.timeout(20):
            await phone.wait_for_silence(0.6)
    except TimeoutError:
        heard = phone.heard(resumed_at)
        raise AssertionError(
            f"still hearing audio: {heard.audible_ms(threshold_dbfs=-45.0)} ms audible"
        ) from None
    await answer(phone, lines[3])  # the tractor number, and its read-back

    record = await flows.call(call_id)
    said = [str(e["text"]) for e in entries(record, "transcript") if e["role"] == "agent"]
    assert sum("Le habla Daisy" in text for text in said) == 1  # no second greeting
    assert sum("nombre completo" in text for text in said) == 1  # the name is not asked again
    assert "número de tractor" in said[-2]  # the new replica goes on with the field the call was at
    assert said[-1].startswith("Ciento veintitrés")
    got = fields(record)
    assert (got["driver_name"]["value"], got["driver_name"]["confirmed"]) == ("Juan Pérez", True)
    assert got["tractor_number"]["value"] == "123"
    await flows.http.post(f"{flows.api}/v1/calls/{call_id}/hangup", json={}, headers=flows.auth)
    await flows.wait_for_record(call_id, "completed")

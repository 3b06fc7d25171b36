"""Answering machines on outbound calls: Twilio's verdict at the answer URL decides, through the emulator."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
import yaml

from switchboard.common.calls.record import CallStatus
from switchboard.sim.twilio_rest import Callee

from .conftest import REPO, Edge, RunCallControl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CALLEE = "+14155550123"


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    shutil.copy(REPO / "profiles" / "receptionist-openai.yaml", tmp_path)
    base = yaml.safe_load((REPO / "profiles" / "receptionist-openai.yaml").read_text())
    for name, voicemail in (
        ("vm-hang-up", {"action": "hang_up"}),
        ("vm-message", {"action": "leave_message", "message": "Please call Bright Smile Dental back."}),
    ):
        profile = {
            **base,
            "name": name,
            "voicemail": voicemail,
            "retry": {"on": ["voicemail"], "max_attempts": 2, "delay_s": 3600},
        }
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(profile, allow_unicode=True))
    return tmp_path


async def test_a_machine_gets_a_hang_up_and_the_outcome_is_voicemail_which_is_retried(
    call_control: RunCallControl, profiles: Path
) -> None:
    async with call_control(profiles_dir=profiles) as cc:
        cc.twilio.next_callee(Callee.answering(answered_by="machine_end_beep"))
        call_id = (await cc.create({"to": CALLEE, "profile": "vm-hang-up"})).json()["call_id"]
        [create] = cc.twilio.requests_to("POST", "/Calls.json")
        assert create.get("MachineDetection") == "Enable" and "/twilio/answer?call_id=" in create.get("Url")
        record = await cc.wait_record(call_id, lambda r: r.status.final, within_s=20)
        assert record.answered_by == "machine_end_beep" and record.ended_reason == "voicemail"
        assert record.outcome_now() == "voicemail" and record.status == CallStatus.COMPLETED
        retry = await cc.wait_record(call_id, lambda r: bool(r.next_call_id), within_s=20)
        assert (await cc.record(retry.next_call_id)).status == CallStatus.SCHEDULED
        detail = (await cc.http.get(f"/v1/calls/{call_id}")).json()
        assert detail["outcome"] == "voicemail"
        assert cc.control.metrics.voicemail.labels("hang_up")._value.get() == 1
        await cc.http.post(f"/v1/calls/{retry.next_call_id}/cancel")


async def test_a_machine_gets_the_agent_after_the_beep_when_a_message_is_left(
    call_control: RunCallControl, profiles: Path, edge: Edge
) -> None:
    async with call_control(profiles_dir=profiles) as cc:
        cc.twilio.next_callee(Callee.answering(answered_by="machine_end_beep", hang_up_after_s=1.0))
        call_id = (await cc.create({"to": CALLEE, "profile": "vm-message"})).json()["call_id"]
        [create] = cc.twilio.requests_to("POST", "/Calls.json")
        assert create.get("MachineDetection") == "DetectMessageEnd"
        record = await cc.wait_record(call_id, lambda r: bool(r.answered_by), within_s=20)
        assert record.answered_by == "machine_end_beep"
        async with asyncio.timeout(10):
            while edge.for_call(call_id) is None:  # noqa: ASYNC110  # the stand-in edge's streams
                await asyncio.sleep(0.05)
        await cc.wait_record(call_id, lambda r: r.status.final, within_s=20)
        assert cc.control.metrics.voicemail.labels("leave_message")._value.get() == 1


async def test_a_person_gets_the_agent_as_usual(call_control: RunCallControl, profiles: Path) -> None:
    async with call_control(profiles_dir=profiles) as cc:
        cc.twilio.next_callee(Callee.answering(answered_by="human", hang_up_after_s=0.5))
        call_id = (await cc.create({"to": CALLEE, "profile": "vm-hang-up"})).json()["call_id"]
        record = await cc.wait_record(call_id, lambda r: r.status.final, within_s=20)
        assert record.answered_by == "human" and record.outcome_now() == "" and not record.next_call_id


async def test_the_answer_url_refuses_what_twilio_never_sends(call_control: RunCallControl) -> None:
    async with call_control() as cc:
        params = {"AccountSid": cc.twilio.account_sid, "AnsweredBy": "robot" * 50}
        response = await cc.signed_post("/twilio/answer?call_id=call_x", params)
        assert response.status_code == 400
        unsigned = await cc.http.post("/twilio/answer?call_id=call_x", data={"AnsweredBy": "human"})
        assert unsigned.status_code == 403

import asyncio

import pytest

from switchboard.common.bus.messages import CallEnded, StatusChanged
from switchboard.common.calls.record import CallStatus
from switchboard.common.security.twilio_signature import compute_signature
from switchboard.devkit.eventually import eventually
from switchboard.sim.twilio_rest import Callee, parse_twiml
from switchboard.sim.twilio_rest.twiml import Reject, Stream

from .conftest import AUTH_TOKEN, INBOUND_NUMBER, PUBLIC_STREAM_URL, Edge, RunCallControl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CALLEE = "+14155550100"


async def test_callbacks_out_of_order_end_in_the_right_status_with_the_duration(
    call_control: RunCallControl,
) -> None:
    async with call_control() as cc:
        cc.twilio.hold_callbacks = True
        cc.twilio.next_callee(Callee.answering(0.0, hang_up_after_s=1.2, answered_by="human"))
        call_id = (
            await cc.create({"to": CALLEE, "profile": "receptionist-openai", "machine_detection": True})
        ).json()["call_id"]
        call = await cc.twilio.wait_for_call()
        await asyncio.wait_for(call.wait_status("completed"), 10)
        assert (await cc.record(call_id)).status == CallStatus.QUEUED  # nothing delivered yet

        await call.callbacks.release([3, 1, 3, 0, 2, 2])  # completed first, duplicates, answered last
        record = await cc.record(call_id)
        assert record.status == CallStatus.COMPLETED and record.status_sequence == 3
        assert record.duration_s == float(call.duration_s or 0) == 1.0
        assert record.answered_by == "human" and record.ended_reason == "completed"
        await eventually(lambda: len(cc.events_of(call_id, CallEnded.type_name())) == 1)
        await asyncio.sleep(0.1)
        statuses = [
            e.status for e in cc.events_of(call_id, StatusChanged.type_name()) if isinstance(e, StatusChanged)
        ]
        assert statuses == ["completed"]
        ended = cc.events_of(call_id, CallEnded.type_name())
        assert len(ended) == 1 and isinstance(ended[0], CallEnded) and ended[0].duration_s == 1.0
        metrics = cc.control.metrics
        assert metrics.status_callbacks.labels("completed", "applied")._value.get() == 1
        assert metrics.status_callbacks.labels("completed", "stale")._value.get() == 1
        assert metrics.calls_ended.labels("completed")._value.get() == 1
        assert metrics.active_calls._value.get() == 0

        detail = (await cc.http.get(f"/v1/calls/{call_id}")).json()
        assert detail["duration_s"] == 1.0 and detail["answered_by"] == "human"
        assert [e["type"] for e in detail["timeline"]] == ["created", "status", "ended"]


async def test_unsigned_or_tampered_webhooks_are_refused_and_counted(call_control: RunCallControl) -> None:
    async with call_control() as cc:
        cc.twilio.next_callee(Callee.not_answering())
        call_id = (await cc.create({"to": CALLEE, "profile": "receptionist-openai"})).json()["call_id"]
        record = await cc.wait_record(call_id, lambda r: r.status == CallStatus.RINGING)
        path = f"/twilio/status?call_id={call_id}"
        genuine = {
            "AccountSid": cc.twilio.account_sid,
            "CallSid": record.provider_call_id,
            "CallStatus": "completed",
            "SequenceNumber": "9",
            "CallDuration": "0",
        }
        url = cc.base_url + path
        attempts = [
            await cc.http.post(path, data=genuine),  # no signature
            await cc.signed_post(path, genuine, signature="not-a-signature"),
            await cc.signed_post(
                path, {**genuine, "CallStatus": "busy"}, signature=compute_signature(AUTH_TOKEN, url, genuine)
            ),
            await cc.signed_post(path, genuine, signature=compute_signature("another-token", url, genuine)),
            await cc.signed_post(
                "/twilio/status?call_id=call_other",
                genuine,
                signature=compute_signature(AUTH_TOKEN, url, genuine),
            ),
            await cc.signed_post(path, {**genuine, "AccountSid": "AC" + "1" * 32}),
            await cc.signed_post(
                "/twilio/voice",
                {"AccountSid": cc.twilio.account_sid, "CallSid": "CA1", "To": INBOUND_NUMBER},
                signature="",
            ),
        ]
        assert [a.status_code for a in attempts] == [403] * 7
        assert {a.json()["error"]["code"] for a in attempts} == {"invalid_signature"}
        assert (await cc.record(call_id)).status == CallStatus.RINGING
        assert cc.control.metrics.signature_failures.labels("status")._value.get() == 6
        assert cc.control.metrics.signature_failures.labels("voice")._value.get() == 1

        applied = await cc.signed_post(path, genuine)
        assert applied.status_code == 204
        assert (await cc.record(call_id)).status == CallStatus.COMPLETED


async def test_only_the_configured_public_url_is_checked(call_control: RunCallControl) -> None:
    async with call_control(public_base_url="https://calls.example.com") as cc:
        cc.twilio.next_callee(Callee.not_answering())
        call_id = (await cc.create({"to": CALLEE, "profile": "receptionist-openai"})).json()["call_id"]
        [create] = cc.twilio.requests_to("POST", "/Calls.json")
        assert create.get("StatusCallback").startswith("https://calls.example.com/twilio/status?call_id=")
        params = {
            "AccountSid": cc.twilio.account_sid,
            "CallSid": "CA" + "2" * 32,
            "CallStatus": "busy",
            "SequenceNumber": "5",
        }
        path = f"/twilio/status?call_id={call_id}"
        signed_for_public = compute_signature(AUTH_TOKEN, f"https://calls.example.com{path}", params)
        assert (await cc.signed_post(path, params, signature=signed_for_public)).status_code == 204
        assert (await cc.record(call_id)).status == CallStatus.BUSY
        # Signed by Twilio for another host of the same account: replayed here with forwarding headers, or
        # with a Host header naming that host, it is refused.
        replayed = {**params, "CallStatus": "completed", "SequenceNumber": "6"}
        signed_elsewhere = compute_signature(AUTH_TOKEN, f"https://other.example.org{path}", replayed)
        for headers in (
            {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other.example.org"},
            {"Host": "other.example.org", "X-Forwarded-Proto": "https"},
        ):
            answer = await cc.http.post(
                path, data=replayed, headers={"X-Twilio-Signature": signed_elsewhere, **headers}
            )
            assert answer.status_code == 403
        assert (await cc.record(call_id)).status == CallStatus.BUSY
        assert cc.control.metrics.signature_failures.labels("status")._value.get() == 2


async def test_an_inbound_call_gets_the_stream_twiml_and_a_record(
    call_control: RunCallControl, edge: Edge
) -> None:
    async with call_control() as cc:
        cc.twilio.add_number(
            INBOUND_NUMBER, f"{cc.base_url}/twilio/voice", status_callback=f"{cc.base_url}/twilio/status"
        )
        call = await cc.twilio.place_inbound_call("+14155550199", INBOUND_NUMBER)
        phone = await asyncio.wait_for(call.wait_for_phone(), 10)
        [document] = call.log.documents
        [stream] = parse_twiml(document)
        assert isinstance(stream, Stream) and stream.url == PUBLIC_STREAM_URL
        assert stream.parameters["call_id"] == call.sid
        record = await cc.record(call.sid)
        assert (record.direction, record.from_number, record.to_number) == (
            "inbound",
            "+14155550199",
            INBOUND_NUMBER,
        )
        assert (record.profile, record.status, record.provider_call_id) == (
            "receptionist-openai",
            CallStatus.RINGING,
            call.sid,
        )
        edge_stream = edge.for_call(call.sid)
        assert edge_stream is not None and edge_stream.signature_valid and edge_stream.token_valid

        await asyncio.sleep(1.1)
        await phone.hang_up()  # the caller hangs up
        call.callee_hangs_up()
        record = await cc.wait_record(call.sid, lambda r: r.status.final)
        assert record.status == CallStatus.COMPLETED and record.duration_s >= 1.0
        await eventually(
            lambda: (
                [e.type_name() for e in cc.events_of(call.sid)] == ["created", "status", "status", "ended"]
            )
        )

        # Twilio retries a webhook it got no answer from: the same call, the same TwiML, one record
        params = {k: v for k, v in call.log.webhooks[0].params.items()}
        again = await cc.signed_post("/twilio/voice", params)
        assert again.status_code == 200 and again.headers["content-type"].startswith("text/xml")
        assert len(cc.events_of(call.sid, "created")) == 1


async def test_a_number_without_a_profile_is_rejected(call_control: RunCallControl) -> None:
    async with call_control() as cc:
        cc.twilio.add_number("+12025550199", f"{cc.base_url}/twilio/voice")
        call = await cc.twilio.place_inbound_call("+14155550199", "+12025550199")
        assert await asyncio.wait_for(call.wait_status(), 10) == "no-answer"
        assert isinstance(call.log.verbs[0], Reject)
        assert await cc.store.find(call.sid) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"SequenceNumber": "²"},
        {"SequenceNumber": "-1"},
        {"SequenceNumber": "1" * 11},
        {"SequenceNumber": "１"},
        {"CallDuration": "100000000000"},
        {"CallDuration": "4.5"},
        {"AnsweredBy": "x" * 10_000},
        {"AnsweredBy": "human\n"},
    ],
)
async def test_signed_callbacks_with_malformed_fields_get_400_and_change_nothing(
    call_control: RunCallControl, bad: dict[str, str]
) -> None:
    async with call_control() as cc:
        cc.twilio.next_callee(Callee.not_answering())
        call_id = (await cc.create({"to": CALLEE, "profile": "receptionist-openai"})).json()["call_id"]
        record = await cc.wait_record(call_id, lambda r: r.status == CallStatus.RINGING)
        params = {
            "AccountSid": cc.twilio.account_sid,
            "CallSid": record.provider_call_id,
            "CallStatus": "completed",
            "SequenceNumber": "9",
            **bad,
        }
        answer = await cc.signed_post(f"/twilio/status?call_id={call_id}", params)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "invalid_webhook"
        after = await cc.record(call_id)
        assert after.status == CallStatus.RINGING and after.answered_by == ""
        assert cc.control.metrics.webhooks_malformed.labels("status")._value.get() == 1


@pytest.mark.parametrize("bad", [{"From": "+1 415\n"}, {"From": "x" * 1000}, {"To": "ünï"}])
async def test_a_signed_voice_webhook_with_malformed_addresses_gets_400(
    call_control: RunCallControl, bad: dict[str, str]
) -> None:
    async with call_control() as cc:
        params = {
            "AccountSid": cc.twilio.account_sid,
            "CallSid": "CA" + "3" * 32,
            "CallStatus": "ringing",
            "From": "+14155550100",
            "To": INBOUND_NUMBER,
            **bad,
        }
        answer = await cc.signed_post("/twilio/voice", params)
        assert answer.status_code == 400, answer.text
        assert cc.control.metrics.webhooks_malformed.labels("voice")._value.get() == 1

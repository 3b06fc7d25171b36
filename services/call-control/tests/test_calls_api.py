import asyncio
import uuid
from typing import Any

import httpx
import pytest
from nats.js.kv import KeyValue

from switchboard.common.bus.messages import CallCreated, CallEnded, ErrorOccurred, StatusChanged
from switchboard.common.calls.record import CallStatus
from switchboard.common.calls.store import CallStore
from switchboard.devkit.eventually import eventually
from switchboard.sim.twilio_rest import Callee, parse_twiml
from switchboard.sim.twilio_rest.twiml import Stream

from .conftest import API_KEY, FROM_NUMBER, OTHER_API_KEY, PUBLIC_STREAM_URL, Edge, RunCallControl

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CALLEE = "+14155550100"


def body(**overrides: Any) -> dict[str, Any]:
    return {"to": CALLEE, "profile": "receptionist-openai", "transport": "twilio", **overrides}


async def call_ids(kv: KeyValue) -> set[str]:
    return set(await CallStore(kv, kv._js).keys())  # the test's view of the bucket, exact


async def test_a_call_is_recorded_and_dialed_with_the_stream_twiml(
    call_control: RunCallControl, edge: Edge
) -> None:
    async with call_control() as cc:
        response = await cc.create(body(metadata={"crm_id": "42"}, max_duration_s=300))
        assert response.status_code == 201, response.text
        created = response.json()
        call_id = created["call_id"]
        assert (
            created["status"] in ("queued", "initiated")
            and response.headers["Location"] == f"/v1/calls/{call_id}"
        )

        [request] = cc.twilio.requests_to("POST", "/Calls.json")
        assert request.authenticated
        assert (request.get("To"), request.get("From")) == (CALLEE, FROM_NUMBER)
        assert request.get("StatusCallback") == f"{cc.base_url}/twilio/status?call_id={call_id}"
        assert request.getall("StatusCallbackEvent") == ["initiated", "ringing", "answered", "completed"]
        assert (request.get("TimeLimit"), request.get("Timeout")) == ("300", "2")
        [stream] = parse_twiml(request.get("Twiml"))
        assert isinstance(stream, Stream) and stream.url == PUBLIC_STREAM_URL
        assert set(stream.parameters) == {"call_id", "token"} and stream.parameters["call_id"] == call_id

        call = await cc.twilio.wait_for_call()
        await asyncio.wait_for(call.wait_for_phone(), 10)
        record = await cc.wait_record(call_id, lambda r: r.status == CallStatus.IN_PROGRESS)
        assert (record.direction, record.to_number, record.from_number) == ("outbound", CALLEE, FROM_NUMBER)
        assert record.provider_call_id == call.sid and record.metadata == {"crm_id": "42"}
        assert record.profile == "receptionist-openai" and record.profile_revision >= 1
        assert record.max_duration_s == 300

        edge_stream = edge.for_call(call_id)
        assert edge_stream is not None and edge_stream.signature_valid and edge_stream.token_valid

        def statuses() -> list[str]:
            return [
                e.status
                for e in cc.events_of(call_id, StatusChanged.type_name())
                if isinstance(e, StatusChanged)
            ]

        await eventually(lambda: statuses() == ["initiated", "ringing", "in-progress"], what=statuses)
        assert len(cc.events_of(call_id, CallCreated.type_name())) == 1


async def test_the_same_idempotency_key_gives_the_same_call(call_control: RunCallControl) -> None:
    key = str(uuid.uuid4())
    async with call_control() as cc:
        first = await cc.create(body(), **{"Idempotency-Key": key})
        replay = await cc.create(
            {"transport": "twilio", "profile": "receptionist-openai", "to": CALLEE},
            **{"Idempotency-Key": key},
        )
        different = await cc.create(body(to="+14155550123"), **{"Idempotency-Key": key})
        other_client = await cc.http.post(
            "/v1/calls",
            json=body(),
            headers={"Idempotency-Key": key, "Authorization": f"Bearer {OTHER_API_KEY}"},
        )
        assert first.status_code == 201
        assert (replay.status_code, replay.json()["call_id"]) == (201, first.json()["call_id"])
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert (different.status_code, different.json()["error"]["code"]) == (422, "idempotency_key_reused")
        assert other_client.status_code == 201 and other_client.json()["call_id"] != first.json()["call_id"]
        assert len(cc.twilio.requests_to("POST", "/Calls.json")) == 2


async def test_concurrent_requests_with_one_key_place_one_call(call_control: RunCallControl) -> None:
    key = str(uuid.uuid4())
    async with call_control() as cc:
        cc.twilio.response_delay_s = 0.3
        answers = await asyncio.gather(*(cc.create(body(), **{"Idempotency-Key": key}) for _ in range(3)))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201, 409, 409]
        assert all(a.headers.get("Retry-After") == "1" for a in answers if a.status_code == 409)
        assert len(cc.twilio.requests_to("POST", "/Calls.json")) == 1


@pytest.mark.parametrize(
    ("request_body", "code"),
    [
        (body(to="4155550100"), "invalid_number"),
        (body(to="+19002345678"), "premium_rate_number"),
        (body(to="+449098765432"), "premium_rate_number"),
        (body(to="+523001234567"), "shared_cost_number"),
        (body(to="+33612345678"), "country_not_allowed"),
        (body(**{"from": "+1555"}), "invalid_number"),
        (body(profile="nobody"), "unknown_profile"),
        (body(transport="livekit"), "transport_unavailable"),  # no LiveKit configured here
        (body(transport="sip"), "invalid_request"),
        ({"profile": "receptionist-openai"}, "invalid_request"),
        (body(max_duration_s=5), "invalid_request"),
    ],
)
async def test_refused_requests_leave_no_record_and_no_call(
    call_control: RunCallControl, calls_kv: KeyValue, request_body: dict[str, Any], code: str
) -> None:
    async with call_control() as cc:
        before = await call_ids(calls_kv)
        key = str(uuid.uuid4())
        for _ in range(2):  # replaying the key is refused the same way: nothing was stored under it
            response = await cc.create(request_body, **{"Idempotency-Key": key})
            assert response.status_code == 422, response.text
            assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
        assert await call_ids(calls_kv) == before
        assert cc.twilio.calls == {} and cc.twilio.requests == []
        assert cc.control.metrics.calls_refused.labels(code)._value.get() >= (
            0 if code == "invalid_request" else 2
        )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key-0123456789"},
        {"Authorization": f"Basic {API_KEY}"},
        {"X-API-Key": "nope"},
    ],
)
async def test_without_a_valid_key_it_is_401_before_the_body_is_read(
    call_control: RunCallControl, calls_kv: KeyValue, headers: dict[str, str]
) -> None:
    async with call_control() as cc:
        before = await call_ids(calls_kv)
        async with httpx.AsyncClient(base_url=cc.base_url, headers=headers) as anonymous:
            for attempt in (
                anonymous.post(
                    "/v1/calls", content=b"{not json", headers={"Content-Type": "application/json"}
                ),
                anonymous.post("/v1/calls", json={"to": 42}),
                anonymous.post("/v1/calls", json=body()),
                anonymous.get("/v1/calls"),
                anonymous.post("/v1/calls/whatever/hangup"),
            ):
                response = await attempt
                assert response.status_code == 401
                assert response.json()["error"]["code"] == "unauthorized"
                assert response.headers["WWW-Authenticate"] == "Bearer"
        assert await call_ids(calls_kv) == before and cc.twilio.requests == []
        docs = await cc.http.get("/openapi.json")
        assert docs.status_code == 200 and "/v1/calls" in docs.json()["paths"]


async def test_x_api_key_works_too(call_control: RunCallControl) -> None:
    async with call_control() as cc:
        async with httpx.AsyncClient(base_url=cc.base_url, headers={"X-API-Key": OTHER_API_KEY}) as client:
            assert (await client.get("/v1/calls", params={"limit": 1})).status_code == 200


async def test_a_client_over_its_rate_gets_429_with_retry_after(call_control: RunCallControl) -> None:
    async with call_control(rate_limit_burst=3, rate_limit_per_s=0.5) as cc:
        answers = [await cc.http.get("/v1/calls", params={"limit": 1}) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[-1].json()["error"]["code"] == "rate_limited"
        assert answers[-1].headers["Retry-After"] == "2"
        async with httpx.AsyncClient(base_url=cc.base_url, headers={"X-API-Key": OTHER_API_KEY}) as other:
            assert (await other.get("/v1/calls", params={"limit": 1})).status_code == 200
        assert cc.control.metrics.rate_limited._value.get() == 1


async def test_a_twilio_failure_is_a_clear_error_and_a_failed_record(call_control: RunCallControl) -> None:
    async with call_control() as cc:
        cc.twilio.fail_next(
            "create", status=400, code=21215, message="Account not authorized to call +14155550100"
        )
        rejected = await cc.create(body())
        assert rejected.status_code == 422
        error = rejected.json()["error"]
        assert error["code"] == "provider_rejected" and "21215" in error["message"]
        call_id = error["message"].rsplit("(call ", 1)[1].split(" ")[0]
        record = await cc.record(call_id)
        assert record.status == CallStatus.FAILED and record.ended_reason == "provider_rejected"
        assert "21215" in record.result
        await eventually(
            lambda: [e.type_name() for e in cc.events_of(call_id)] == ["created", "error", "status", "ended"]
        )
        assert isinstance(cc.events_of(call_id, "error")[0], ErrorOccurred)

        cc.twilio.fail_next("create", status=503, code=20503, message="Service Unavailable")
        key = str(uuid.uuid4())
        unavailable = await cc.create(body(), **{"Idempotency-Key": key})
        assert (unavailable.status_code, unavailable.json()["error"]["code"]) == (502, "provider_unavailable")
        assert unavailable.headers["Retry-After"] == "1"
        retried = await cc.create(body(), **{"Idempotency-Key": key})  # a retryable failure frees the key
        assert retried.status_code == 201
        assert cc.control.metrics.twilio_errors.labels("create", "21215")._value.get() == 1


async def test_listing_filters_and_pages(call_control: RunCallControl) -> None:
    async with call_control() as cc:
        cc.twilio.default_callee = Callee.not_answering()
        ids = [(await cc.create(body())).json()["call_id"] for _ in range(3)]
        cc.twilio.fail_next("create", status=400, code=21215, message="no")
        await cc.create(body())
        page = await cc.http.get("/v1/calls", params={"limit": 2, "direction": "outbound"})
        assert page.status_code == 200
        first = page.json()
        assert len(first["calls"]) == 2 and first["next_cursor"]
        second = (await cc.http.get("/v1/calls", params={"limit": 2, "cursor": first["next_cursor"]})).json()
        listed = [c["call_id"] for c in first["calls"] + second["calls"]]
        assert listed[1:4] == ids[::-1]
        assert first["calls"][0]["from"] == FROM_NUMBER and first["calls"][0]["status"] == "failed"
        failed = (await cc.http.get("/v1/calls", params=[("status", "failed"), ("status", "busy")])).json()
        assert {c["status"] for c in failed["calls"]} <= {
            "failed",
            "busy",
        }  # other tests' calls share the bucket
        assert first["calls"][0]["call_id"] in {c["call_id"] for c in failed["calls"]}
        assert not set(ids) & {c["call_id"] for c in failed["calls"]}
        created_at = first["calls"][1]["created_at"]
        older = (await cc.http.get("/v1/calls", params={"created_before": created_at, "limit": 100})).json()
        assert ids[-1] not in {c["call_id"] for c in older["calls"]}
        assert ids[0] in {c["call_id"] for c in older["calls"]}
        bad = await cc.http.get("/v1/calls", params={"cursor": "%%%"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_cursor")


async def test_a_call_that_nobody_answers_ends_no_answer(call_control: RunCallControl) -> None:
    async with call_control(ring_timeout_s=1) as cc:
        cc.twilio.next_callee(Callee.not_answering())
        call_id = (await cc.create(body())).json()["call_id"]
        record = await cc.wait_record(call_id, lambda r: r.status.final)
        assert record.status == CallStatus.NO_ANSWER and record.ended_reason == "no-answer"
        assert record.duration_s == 0.0
        detail = (await cc.http.get(f"/v1/calls/{call_id}")).json()
        assert detail["status"] == "no-answer"
        timeline = [(e["type"], e.get("status", e.get("reason"))) for e in detail["timeline"]]
        assert timeline == [
            ("created", None),
            ("status", "initiated"),
            ("status", "ringing"),
            ("status", "no-answer"),
            ("ended", "no-answer"),
        ]
        await eventually(lambda: len(cc.events_of(call_id, CallEnded.type_name())) == 1)
        assert (await cc.http.get("/v1/calls/call_unknown")).json()["error"]["code"] == "call_not_found"


async def test_a_401_is_counted_under_the_route_it_was_meant_for(call_control: RunCallControl) -> None:
    async with call_control() as cc:
        async with httpx.AsyncClient(base_url=cc.base_url) as anonymous:
            assert (await anonymous.get("/v1/calls")).status_code == 401
            assert (await anonymous.post("/v1/calls/CA0123/hangup")).status_code == 401
            assert (await anonymous.get("/v1/nothing-here")).status_code == 401
        requests = cc.control.metrics.api_requests
        counted = {
            (sample.labels["route"], sample.labels["method"])
            for metric in requests.collect()
            for sample in metric.samples
            if sample.name.endswith("_total") and sample.labels["status"] == "401"
        }
        assert counted == {
            ("/v1/calls", "GET"),
            ("/v1/calls/{call_id}/hangup", "POST"),
            ("unmatched", "GET"),
        }

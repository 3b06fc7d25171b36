import asyncio

import numpy as np
import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Connect, VoiceResponse

from switchboard.common.audio.g711 import ulaw_encode
from switchboard.sim.twilio_rest import Callee, EmulatedCall, TwilioRestEmulator

from .conftest import AUTH_TOKEN, PUBLIC_STREAM_URL, MediaServer, RewritingClient, WebServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

EVENTS = ["initiated", "ringing", "answered", "completed"]
CALLEE = "+15550100200"
CALLER_ID = "+15550100100"


def stream_twiml(**parameters: str) -> str:
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=PUBLIC_STREAM_URL)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


async def settle(call: EmulatedCall, *statuses: str) -> str:
    async with asyncio.timeout(10):
        status = await call.wait_status(*statuses)
        await call.callbacks.drain()
    return status


def callbacks_of(web_server: WebServer, path: str = "/status") -> list[dict[str, str]]:
    validator = RequestValidator(AUTH_TOKEN)
    received = web_server.to(path)
    for url, params, signature in received:
        assert validator.validate(url, params, signature), f"bad signature on {params}"
    return [params for _, params, _ in received]


async def test_create_fetch_and_hang_up_through_the_sdk(
    emulator: TwilioRestEmulator, sdk: Client, media_server: MediaServer, web_server: WebServer
) -> None:
    created = await sdk.api.v2010.account.calls.create_async(
        to=CALLEE,
        from_=CALLER_ID,
        twiml=stream_twiml(call_id="c-1", token="t0k3n"),
        status_callback=f"{web_server.base_url}/status?call_id=c-1",
        status_callback_event=EVENTS,
        timeout=20,
        time_limit=600,
    )
    assert created.sid.startswith("CA") and len(created.sid) == 34
    assert (created.status, created.to, created.from_formatted) == ("queued", CALLEE, "(555) 010-0100")
    assert created.direction == "outbound-api"

    create = emulator.requests_to("POST", "/Calls.json")[0]
    assert create.getall("StatusCallbackEvent") == EVENTS
    assert (create.get("Timeout"), create.get("TimeLimit")) == ("20", "600")

    stream = await media_server.wait_for_stream()
    assert stream.path == "/twilio/stream"
    assert stream.start["customParameters"] == {"call_id": "c-1", "token": "t0k3n"}
    assert stream.start["callSid"] == created.sid
    assert RequestValidator(AUTH_TOKEN).validate(PUBLIC_STREAM_URL, {}, stream.signature)

    fetched = await sdk.api.v2010.account.calls(created.sid).fetch_async()
    assert fetched.status == "in-progress" and fetched.start_time is not None

    await asyncio.sleep(1.1)
    updated = await sdk.api.v2010.account.calls(created.sid).update_async(status="completed")
    assert updated.sid == created.sid
    call = emulator.call(created.sid)
    assert await settle(call) == "completed"
    async with asyncio.timeout(5):
        await stream.closed.wait()
    assert stream.events[-1] == "stop"

    callbacks = callbacks_of(web_server)
    assert [c["CallStatus"] for c in callbacks] == ["initiated", "ringing", "in-progress", "completed"]
    assert [c["SequenceNumber"] for c in callbacks] == ["0", "1", "2", "3"]
    assert all(c["CallSid"] == created.sid and c["AccountSid"] == emulator.account_sid for c in callbacks)
    assert all(c["Direction"] == "outbound-api" and c["To"] == CALLEE for c in callbacks)
    assert "AnsweredBy" not in callbacks[2]
    assert int(callbacks[-1]["CallDuration"]) >= 1
    final = await sdk.api.v2010.account.calls(created.sid).fetch_async()
    assert final.status == "completed" and final.duration == callbacks[-1]["CallDuration"]
    assert call.ended_by == "api"


async def test_wrong_credentials_get_twilios_401_and_create_nothing(emulator: TwilioRestEmulator) -> None:
    http = RewritingClient(emulator.base_url)
    try:
        intruder = Client(emulator.account_sid, "not-the-token", http_client=http)
        with pytest.raises(TwilioRestException) as raised:
            await intruder.api.v2010.account.calls.create_async(
                to=CALLEE, from_=CALLER_ID, twiml="<Response/>"
            )
    finally:
        await http.close()
    assert (raised.value.status, raised.value.code) == (401, 20003)
    assert emulator.calls == {}
    assert [r.authenticated for r in emulator.requests] == [False]


async def test_refusals_use_twilios_codes(emulator: TwilioRestEmulator, sdk: Client) -> None:
    calls = sdk.api.v2010.account.calls
    with pytest.raises(TwilioRestException) as no_document:
        await calls.create_async(to=CALLEE, from_=CALLER_ID)
    with pytest.raises(TwilioRestException) as bad_number:
        await calls.create_async(to="555-CALL-NOW", from_=CALLER_ID, twiml="<Response/>")
    with pytest.raises(TwilioRestException) as unknown:
        await calls("CA" + "0" * 32).fetch_async()
    emulator.next_callee(Callee.not_answering())
    ringing = await calls.create_async(to=CALLEE, from_=CALLER_ID, twiml="<Response/>", timeout=30)
    await asyncio.wait_for(emulator.call(ringing.sid).wait_status("ringing"), 5)
    with pytest.raises(TwilioRestException) as not_in_progress:
        await calls(ringing.sid).update_async(twiml="<Response><Dial>+15550100300</Dial></Response>")
    assert [(e.value.status, e.value.code) for e in (no_document, bad_number, unknown, not_in_progress)] == [
        (400, 21200),
        (400, 21211),
        (404, 20404),
        (400, 21220),
    ]
    await calls(ringing.sid).update_async(status="completed")
    assert await settle(emulator.call(ringing.sid)) == "canceled"


@pytest.mark.parametrize(
    ("callee", "statuses"),
    [
        (Callee.not_answering(after_s=0.2), ["initiated", "ringing", "no-answer"]),
        (Callee.busy(), ["initiated", "busy"]),
        (Callee.failing(), ["initiated", "failed"]),
    ],
)
async def test_callees_who_do_not_answer(
    emulator: TwilioRestEmulator, sdk: Client, web_server: WebServer, callee: Callee, statuses: list[str]
) -> None:
    emulator.callees[CALLEE] = callee
    created = await sdk.api.v2010.account.calls.create_async(
        to=CALLEE,
        from_=CALLER_ID,
        twiml=stream_twiml(),
        status_callback=f"{web_server.base_url}/status",
        status_callback_event=EVENTS,
    )
    call = emulator.call(created.sid)
    assert await settle(call) == statuses[-1]
    callbacks = callbacks_of(web_server)
    assert [c["CallStatus"] for c in callbacks] == statuses
    assert callbacks[-1]["CallDuration"] == "0"
    assert call.log.streams == []


async def test_no_answer_after_the_calls_timeout(emulator: TwilioRestEmulator, sdk: Client) -> None:
    emulator.next_callee(Callee.answering(ring_s=5.0))
    created = await sdk.api.v2010.account.calls.create_async(
        to=CALLEE, from_=CALLER_ID, twiml=stream_twiml(), timeout=1
    )
    assert await settle(emulator.call(created.sid)) == "no-answer"


async def test_only_subscribed_events_are_posted(
    emulator: TwilioRestEmulator, sdk: Client, web_server: WebServer, media_server: MediaServer
) -> None:
    created = await sdk.api.v2010.account.calls.create_async(
        to=CALLEE,
        from_=CALLER_ID,
        twiml="<Response><Say>hi</Say></Response>",
        status_callback=f"{web_server.base_url}/status",
    )
    assert await settle(emulator.call(created.sid)) == "completed"
    assert [(c["CallStatus"], c["SequenceNumber"]) for c in callbacks_of(web_server)] == [("completed", "0")]
    assert emulator.call(created.sid).log.said == ["hi"]


async def test_time_limit_ends_the_call(
    emulator: TwilioRestEmulator, sdk: Client, media_server: MediaServer
) -> None:
    created = await sdk.api.v2010.account.calls.create_async(
        to=CALLEE, from_=CALLER_ID, twiml=stream_twiml(), time_limit=1
    )
    call = emulator.call(created.sid)
    stream = await media_server.wait_for_stream()
    assert await settle(call) == "completed"
    assert call.ended_by == "time-limit" and call.duration_s == 1
    await asyncio.wait_for(stream.closed.wait(), 5)
    assert stream.events[-1] == "stop"


async def test_a_callee_who_hangs_up(
    emulator: TwilioRestEmulator, sdk: Client, media_server: MediaServer
) -> None:
    emulator.next_callee(Callee.answering(0.0, hang_up_after_s=0.3))
    created = await sdk.api.v2010.account.calls.create_async(to=CALLEE, from_=CALLER_ID, twiml=stream_twiml())
    call = emulator.call(created.sid)
    assert await settle(call) == "completed"
    assert call.ended_by == "callee"


async def test_redirect_to_dial_ends_the_stream_and_records_the_transfer(
    emulator: TwilioRestEmulator, sdk: Client, media_server: MediaServer
) -> None:
    created = await sdk.api.v2010.account.calls.create_async(to=CALLEE, from_=CALLER_ID, twiml=stream_twiml())
    call = emulator.call(created.sid)
    stream = await media_server.wait_for_stream()
    await sdk.api.v2010.account.calls(created.sid).update_async(
        twiml="<Response><Dial>+15550100300</Dial></Response>"
    )
    await asyncio.wait_for(stream.closed.wait(), 5)
    assert stream.events[-1] == "stop"
    assert await settle(call) == "completed"
    assert call.log.dialed == ["+15550100300"]
    assert call.ended_by == ""


async def test_the_server_closing_the_stream_moves_to_the_next_verb(
    emulator: TwilioRestEmulator, sdk: Client, media_server: MediaServer
) -> None:
    twiml = stream_twiml().replace("</Response>", "<Say>bye</Say><Hangup/><Say>never</Say></Response>")
    created = await sdk.api.v2010.account.calls.create_async(to=CALLEE, from_=CALLER_ID, twiml=twiml)
    call = emulator.call(created.sid)
    await media_server.end(await media_server.wait_for_stream())
    assert await settle(call) == "completed"
    assert call.log.said == ["bye"]
    assert call.phone is not None and call.phone.counters.closed_by == "server"


async def test_a_refused_stream_is_recorded_and_the_call_goes_on(
    emulator: TwilioRestEmulator, sdk: Client
) -> None:
    twiml = stream_twiml().replace(PUBLIC_STREAM_URL, "ws://127.0.0.1:9/nowhere")
    created = await sdk.api.v2010.account.calls.create_async(to=CALLEE, from_=CALLER_ID, twiml=twiml)
    call = emulator.call(created.sid)
    assert await settle(call) == "completed"
    assert [code for code, _ in call.log.errors] == [31920]
    assert call.phone is None


async def test_callbacks_held_then_delivered_out_of_order(
    emulator: TwilioRestEmulator, sdk: Client, web_server: WebServer, media_server: MediaServer
) -> None:
    emulator.hold_callbacks = True
    created = await sdk.api.v2010.account.calls.create_async(
        to=CALLEE,
        from_=CALLER_ID,
        twiml="<Response><Hangup/></Response>",
        status_callback=f"{web_server.base_url}/status",
        status_callback_event=EVENTS,
    )
    call = emulator.call(created.sid)
    await asyncio.wait_for(call.wait_status("completed"), 5)
    assert web_server.received == []
    await call.callbacks.release([3, 1, 0, 2])
    assert [c["CallStatus"] for c in callbacks_of(web_server)] == [
        "completed",
        "ringing",
        "initiated",
        "in-progress",
    ]
    assert [c["SequenceNumber"] for c in callbacks_of(web_server)] == ["3", "1", "0", "2"]


async def test_machine_detection_reports_who_answered(
    emulator: TwilioRestEmulator, sdk: Client, web_server: WebServer
) -> None:
    emulator.next_callee(Callee.answering(0.0, answered_by="machine_end_beep"))
    created = await sdk.api.v2010.account.calls.create_async(
        to=CALLEE,
        from_=CALLER_ID,
        twiml="<Response><Hangup/></Response>",
        machine_detection="Enable",
        status_callback=f"{web_server.base_url}/status",
        status_callback_event=EVENTS,
    )
    await settle(emulator.call(created.sid))
    answered = [c for c in callbacks_of(web_server) if c["CallStatus"] == "in-progress"]
    assert answered[0]["AnsweredBy"] == "machine_end_beep"
    assert (await sdk.api.v2010.account.calls(created.sid).fetch_async()).answered_by == "machine_end_beep"


async def test_injected_failures(emulator: TwilioRestEmulator, sdk: Client) -> None:
    emulator.fail_next("create", status=503, code=20503, message="Service Unavailable")
    with pytest.raises(TwilioRestException) as raised:
        await sdk.api.v2010.account.calls.create_async(to=CALLEE, from_=CALLER_ID, twiml="<Response/>")
    assert (raised.value.status, raised.value.code) == (503, 20503)
    assert raised.value.msg.endswith("Service Unavailable")
    assert emulator.calls == {}
    listed = await sdk.api.v2010.account.calls.list_async()
    assert listed == []


async def test_an_inbound_call_asks_the_voice_url_and_runs_its_twiml(
    emulator: TwilioRestEmulator, web_server: WebServer, media_server: MediaServer
) -> None:
    web_server.answers["/voice"] = stream_twiml(call_id="in-1")
    emulator.add_number(
        CALLER_ID, f"{web_server.base_url}/voice", status_callback=f"{web_server.base_url}/status"
    )
    call = await emulator.place_inbound_call("+15550100777", CALLER_ID)
    stream = await media_server.wait_for_stream()
    assert stream.start["customParameters"] == {"call_id": "in-1"}
    [voice] = callbacks_of(web_server, "/voice")
    assert (voice["CallSid"], voice["From"], voice["To"]) == (call.sid, "+15550100777", CALLER_ID)
    assert (voice["CallStatus"], voice["Direction"]) == ("ringing", "inbound")
    await asyncio.sleep(1.1)
    await media_server.end(stream)
    assert await settle(call) == "completed"
    [completed] = callbacks_of(web_server)
    assert (completed["CallStatus"], completed["Direction"], completed["CallDuration"]) == (
        "completed",
        "inbound",
        "1",
    )


async def test_an_inbound_call_rejected_or_answered_with_an_error(
    emulator: TwilioRestEmulator, web_server: WebServer
) -> None:
    web_server.answers["/busy"] = '<Response><Reject reason="busy"/></Response>'
    web_server.answers["/broken"] = 500
    emulator.add_number("+15550100001", f"{web_server.base_url}/busy")
    emulator.add_number("+15550100002", f"{web_server.base_url}/broken")
    rejected = await emulator.place_inbound_call("+15550100777", "+15550100001")
    broken = await emulator.place_inbound_call("+15550100777", "+15550100002")
    assert await settle(rejected) == "busy"
    assert await settle(broken) == "completed"
    assert [code for code, _ in broken.log.errors] == [11200]


async def test_the_phone_of_a_call_hears_the_server_and_speaks_to_it(
    emulator: TwilioRestEmulator, sdk: Client, media_server: MediaServer
) -> None:
    created = await sdk.api.v2010.account.calls.create_async(to=CALLEE, from_=CALLER_ID, twiml=stream_twiml())
    phone = await asyncio.wait_for(emulator.call(created.sid).wait_for_phone(), 10)
    stream = await media_server.wait_for_stream()
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(4000) / 8000)).astype(np.int16)
    await media_server.play(stream, ulaw_encode(tone))
    heard_at = await asyncio.wait_for(phone.wait_for_audio(threshold_dbfs=-30, after_s=0.0), 5)
    assert heard_at < 1.0
    utterance = await phone.say(tone)
    await asyncio.wait_for(utterance.wait(), 5)
    await asyncio.sleep(0.1)
    loud = [byte for byte in stream.caller_audio if byte not in (0xFF, 0x7F)]
    assert len(loud) > 3000


async def test_list_and_stream_page_through_every_call(emulator: TwilioRestEmulator, sdk: Client) -> None:
    calls = sdk.api.v2010.account.calls
    created = [
        (await calls.create_async(to=CALLEE, from_=CALLER_ID, twiml="<Response><Hangup/></Response>")).sid
        for _ in range(7)
    ]
    newest_first = list(reversed(created))
    listed = await calls.list_async(page_size=3)
    assert [call.sid for call in listed] == newest_first
    assert len(emulator.requests_to("GET", "Calls.json")) == 3  # pages of 3, 3 and 1
    assert [call.sid for call in await calls.list_async(limit=5)] == newest_first[:5]
    streamed = [call.sid async for call in await calls.stream_async(page_size=2)]
    assert streamed == newest_first
    first = await calls.page_async(page_size=4)
    assert first.next_page_url is not None and "PageToken=PA" in first.next_page_url
    second = await first.next_page_async()
    assert second is not None and [call.sid for call in second] == newest_first[4:]
    assert second.next_page_url is None
    assert [call.sid for call in await calls.list_async(to="+15550100999", page_size=2)] == []


async def test_a_page_size_twilio_refuses(emulator: TwilioRestEmulator, sdk: Client) -> None:
    with pytest.raises(TwilioException, match="Unable to fetch page") as raised:
        await sdk.api.v2010.account.calls.list_async(page_size=1001)
    assert raised.value.args[1].status_code == 400


@pytest.mark.parametrize(
    ("detection", "async_amd", "expected"),
    [("Enable", None, "machine_start"), ("DetectMessageEnd", "false", "machine_start"), ("", None, None)],
)
async def test_machine_detection_passes_answered_by_to_the_url(
    emulator: TwilioRestEmulator,
    sdk: Client,
    web_server: WebServer,
    detection: str,
    async_amd: str | None,
    expected: str | None,
) -> None:
    emulator.next_callee(Callee.answering(0.0, answered_by="machine_start"))
    web_server.answers["/voice"] = "<Response><Hangup/></Response>"
    options = {"machine_detection": detection} if detection else {}
    if async_amd is not None:
        options["async_amd"] = async_amd
    created = await sdk.api.v2010.account.calls.create_async(
        to=CALLEE, from_=CALLER_ID, url=f"{web_server.base_url}/voice", **options
    )
    await settle(emulator.call(created.sid))
    [fetched] = callbacks_of(web_server, "/voice")
    assert fetched.get("AnsweredBy") == expected
    assert ("MachineDetectionDuration" in fetched) == (expected is not None)


async def test_async_machine_detection_fetches_the_url_without_waiting_for_the_verdict(
    emulator: TwilioRestEmulator, sdk: Client, web_server: WebServer
) -> None:
    emulator.next_callee(Callee.answering(0.0, answered_by="human"))
    web_server.answers["/voice"] = "<Response><Hangup/></Response>"
    created = await sdk.api.v2010.account.calls.create_async(
        to=CALLEE,
        from_=CALLER_ID,
        url=f"{web_server.base_url}/voice",
        machine_detection="Enable",
        async_amd="true",
    )
    await settle(emulator.call(created.sid))
    [fetched] = callbacks_of(web_server, "/voice")
    assert "AnsweredBy" not in fetched


async def test_async_machine_detection_posts_the_verdict_to_its_callback(
    emulator: TwilioRestEmulator, sdk: Client, web_server: WebServer
) -> None:
    emulator.next_callee(Callee.answering(0.0, answered_by="machine_end_beep", hang_up_after_s=1.0))
    web_server.answers["/voice"] = '<Response><Pause length="1"/></Response>'
    created = await sdk.api.v2010.account.calls.create_async(
        to=CALLEE,
        from_=CALLER_ID,
        url=f"{web_server.base_url}/voice",
        machine_detection="DetectMessageEnd",
        async_amd="true",
        async_amd_status_callback=f"{web_server.base_url}/amd",
    )
    await settle(emulator.call(created.sid))
    [verdict] = callbacks_of(web_server, "/amd")
    assert verdict.get("AnsweredBy") == "machine_end_beep" and verdict.get("CallSid") == created.sid
    assert verdict.get("MachineDetectionDuration")


@pytest.mark.parametrize(("detection", "greets"), [("", True), ("Enable", True), ("DetectMessageEnd", False)])
async def test_an_answering_machine_greets_and_beeps_unless_twilio_waited_for_the_beep(
    emulator: TwilioRestEmulator, sdk: Client, media_server: MediaServer, detection: str, greets: bool
) -> None:
    emulator.next_callee(Callee.answering(0.0, answered_by="machine_end_beep", hang_up_after_s=6.0))
    options = {"machine_detection": detection} if detection else {}
    created = await sdk.api.v2010.account.calls.create_async(
        to=CALLEE, from_=CALLER_ID, twiml=stream_twiml(), **options
    )
    phone = await asyncio.wait_for(emulator.call(created.sid).wait_for_phone(), 10)
    stream = await media_server.wait_for_stream()
    await asyncio.sleep(0.3)
    if greets:
        await asyncio.wait_for(phone.wait_spoken(), 15)
        await asyncio.sleep(0.2)
        assert len([byte for byte in stream.caller_audio if byte not in (0xFF, 0x7F)]) > 4000
    else:
        assert not phone.speaking
        assert len([byte for byte in stream.caller_audio if byte not in (0xFF, 0x7F)]) < 100

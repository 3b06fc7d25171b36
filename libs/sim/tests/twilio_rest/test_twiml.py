import pytest
from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

from switchboard.sim.twilio_rest.twiml import (
    Dial as DialVerb,
)
from switchboard.sim.twilio_rest.twiml import (
    Hangup,
    Pause,
    Redirect,
    Reject,
    Say,
    Stream,
    TwimlError,
    Unsupported,
    parse_twiml,
)

pytestmark = pytest.mark.unit


def test_connect_stream_with_parameters_as_the_sdk_writes_it() -> None:
    response = VoiceResponse()
    connect = Connect(action="https://cc.example.com/after")
    stream = connect.stream(url="wss://edge.example.com/twilio/stream", name="agent")
    stream.parameter(name="call_id", value="c-1")
    stream.parameter(name="token", value="a&b<c>")
    response.append(connect)
    assert parse_twiml(str(response)) == [
        Stream(
            url="wss://edge.example.com/twilio/stream",
            parameters={"call_id": "c-1", "token": "a&b<c>"},
            name="agent",
            action="https://cc.example.com/after",
        )
    ]


def test_the_other_verbs() -> None:
    response = VoiceResponse()
    response.say("Hola", language="es-MX")
    response.pause(length=2)
    response.dial("+15550100200")
    dial = Dial(caller_id="+15550100999", timeout=10)
    dial.number("+15550100201")
    dial.number("+15550100202")
    response.append(dial)
    response.redirect("https://cc.example.com/next", method="GET")
    response.play("https://example.com/a.mp3")
    response.hangup()
    response.reject(reason="busy")
    assert parse_twiml(str(response)) == [
        Say("Hola", language="es-MX"),
        Pause(2.0),
        DialVerb(("+15550100200",)),
        DialVerb(("+15550100201", "+15550100202"), caller_id="+15550100999", timeout_s=10),
        Redirect("https://cc.example.com/next", "GET"),
        Unsupported("Play"),
        Hangup(),
        Reject("busy"),
    ]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("<Response><Say>unclosed</Response>", "not well-formed"),
        ("<Document/>", "root element"),
        ('<Response><Connect><Stream url="wss://e/x?call=1"/></Connect></Response>', "query string"),
        ("<Response><Connect><Stream/></Connect></Response>", "without a url"),
        (
            '<Response><Connect><Stream url="wss://e/x"><Say>x</Say></Stream></Connect></Response>',
            "Parameter",
        ),
        ("<Response><Dial></Dial></Response>", "without a number"),
        ('<Response><Pause length="soon"/></Response>', "not a number"),
    ],
)
def test_documents_twilio_could_not_run(document: str, problem: str) -> None:
    with pytest.raises(TwimlError, match=problem):
        parse_twiml(document)

"""The TwiML call-control answers and sends: connect the call to the media edge, transfer it, refuse it."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, VoiceResponse

CALL_ID_PARAMETER = "call_id"
TOKEN_PARAMETER = "token"


def connect_stream(stream_url: str, call_id: str, token: str) -> str:
    """``<Connect><Stream url>`` with the call id and its stream token as ``<Parameter>``s.

    Per-call data cannot go in the URL: Twilio forbids a query string on a stream URL.
    """
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    stream.parameter(name=CALL_ID_PARAMETER, value=call_id)
    stream.parameter(name=TOKEN_PARAMETER, value=token)
    response.append(connect)
    return str(response)


def transfer(to: str, caller_id: str = "") -> str:
    """``<Dial>`` to `to`: replaces the running document, which ends the media stream."""
    response = VoiceResponse()
    if caller_id:
        response.dial(to, caller_id=caller_id)
    else:
        response.dial(to)
    return str(response)


def reject() -> str:
    """``<Reject>``: the call is not answered (and not billed)."""
    response = VoiceResponse()
    response.reject()
    return str(response)


def hang_up() -> str:
    """``<Hangup>``: end the answered call (an answering machine that gets no message)."""
    response = VoiceResponse()
    response.hangup()
    return str(response)

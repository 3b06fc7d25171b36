"""What call-control asks of a telephony provider, so that each transport fits beside the others.

`CallService` keeps the record, the events and the checks; a `Telephony` places, ends and transfers the call at
its provider. Twilio's is `TwilioTelephony` (REST calls running `<Connect><Stream>` TwiML to the media edge);
a LiveKit one dials a SIP participant into a room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlencode

from switchboard.call_control import twiml
from switchboard.call_control.settings import CallControlSettings, StartConfig
from switchboard.call_control.twilio_api import TwilioCalls
from switchboard.common.calls.record import CallRecord, Transport
from switchboard.common.security.stream_token import stream_token


@dataclass(frozen=True, slots=True)
class DialRequest:
    """An outbound call that passed every check, as the provider is asked to place it."""

    call_id: str
    to: str
    from_: str
    ring_timeout_s: int
    max_duration_s: int
    machine_detection: bool = False
    voicemail: Literal["", "hang_up", "leave_message"] = ""
    """What the profile does with an answering machine ("": nothing, the call goes to the agent as it is)."""


@dataclass(frozen=True, slots=True)
class Placed:
    """What the provider answered: its id of the call (Twilio's CallSid, LiveKit's SIP call id)."""

    provider_call_id: str
    status: str = ""


class Telephony(Protocol):
    """One transport's provider; every failure is raised as `ProviderError`."""

    transport: Transport

    async def dial(self, request: DialRequest) -> Placed:
        """Place the call; the media edge serves it once the callee answers."""
        ...

    async def hang_up(self, record: CallRecord) -> None:
        """End the call, whatever its state."""
        ...

    async def transfer(self, record: CallRecord, destination: str) -> None:
        """Hand the answered call over to `destination` (already checked)."""
        ...


class TwilioTelephony:
    """Twilio's REST API: the call runs TwiML that streams its audio to the media edge."""

    transport: Transport = "twilio"

    def __init__(self, calls: TwilioCalls, settings: CallControlSettings, config: StartConfig) -> None:
        self._calls = calls
        self._settings = settings
        self._config = config

    async def dial(self, request: DialRequest) -> Placed:
        """`POST /Calls.json` with the stream TwiML and every status callback."""
        if request.voicemail:  # the TwiML is asked for once the machine detection has its verdict
            placed = await self._calls.dial(
                to=request.to,
                from_=request.from_,
                url=self.answer_url(request.call_id),
                status_callback=self.status_callback_url(request.call_id),
                ring_timeout_s=request.ring_timeout_s,
                time_limit_s=request.max_duration_s,
                machine_detection="DetectMessageEnd" if request.voicemail == "leave_message" else "Enable",
            )
            return Placed(placed.sid, placed.status)
        placed = await self._calls.dial(
            to=request.to,
            from_=request.from_,
            twiml=self.stream_twiml(request.call_id),
            status_callback=self.status_callback_url(request.call_id),
            ring_timeout_s=request.ring_timeout_s,
            time_limit_s=request.max_duration_s,
            machine_detection="Enable" if request.machine_detection else None,
        )
        return Placed(placed.sid, placed.status)

    async def hang_up(self, record: CallRecord) -> None:
        """`Status=completed`; the `completed` callback ends the record."""
        await self._calls.hang_up(record.provider_call_id)

    async def transfer(self, record: CallRecord, destination: str) -> None:
        """New TwiML with `<Dial>`: the media stream ends, the call goes on with the person dialed."""
        await self._calls.redirect(record.provider_call_id, twiml.transfer(destination))

    def stream_twiml(self, call_id: str) -> str:
        """``<Connect><Stream>`` to the media edge, with the call id and its stream token."""
        token = stream_token(self._config.stream_secret, call_id)
        return twiml.connect_stream(self._settings.media_stream_url, call_id, token)

    def answer_url(self, call_id: str) -> str:
        """Where Twilio asks what an answered call with machine detection runs (`AnsweredBy` comes with it)."""
        return self._settings.webhook_url("/twilio/answer") + "?" + urlencode({"call_id": call_id})

    def status_callback_url(self, call_id: str) -> str:
        """Where Twilio reports the call's progress (the call id rides in the query string, which is signed)."""
        return self._settings.webhook_url("/twilio/status") + "?" + urlencode({"call_id": call_id})

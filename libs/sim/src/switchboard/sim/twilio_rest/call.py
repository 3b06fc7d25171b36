"""One emulated call: its Call resource state, what it did, and the knobs a test turns while it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from switchboard.sim.phone import MediaStreamCall
from switchboard.sim.twilio_rest import resources
from switchboard.sim.twilio_rest.behaviour import Callee
from switchboard.sim.twilio_rest.twiml import Stream, Verb
from switchboard.sim.twilio_rest.webhooks import Delivery, StatusCallbacks

Direction = Literal["outbound-api", "inbound"]
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
LIVE_STATUSES = frozenset({"queued", "initiated", "ringing", "in-progress"})
MACHINE_DETECTION_MS = 2500
"""How long the emulated answering-machine detection takes to decide (reported, not waited)."""
SIP_CODE = {"completed": "200", "busy": "486", "no-answer": "487", "canceled": "487", "failed": "500"}


@dataclass(slots=True)
class StreamSession:
    """A `<Connect><Stream>` the call ran: the URL of the TwiML, the one dialed, and the phone on it."""

    verb: Stream
    url: str
    phone: MediaStreamCall | None = None
    error: str = ""

    @property
    def parameters(self) -> dict[str, str]:
        """The `<Parameter>`s, as the phone sends them in `start.customParameters`."""
        return self.verb.parameters


@dataclass(frozen=True, slots=True)
class CallOptions:
    """What the create request (or the incoming number) asked for."""

    twiml: str = ""
    url: str = ""
    method: str = "POST"
    status_callback: str = ""
    status_callback_events: frozenset[str] = frozenset()
    status_callback_method: str = "POST"
    timeout_s: int = 60
    time_limit_s: int = 4 * 3600
    machine_detection: str = ""
    async_amd: bool = False
    async_amd_callback: str = ""
    async_amd_callback_method: str = "POST"


@dataclass(slots=True)
class Interrupt:
    """Why the document being run must stop: an end of the call, or a new document."""

    end: str = ""
    twiml: str = ""
    url: str = ""
    method: str = "POST"


@dataclass(slots=True)
class CallLog:
    """What the call did, for tests to read."""

    documents: list[str] = field(default_factory=list)
    verbs: list[Verb] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    dialed: list[str] = field(default_factory=list)
    streams: list[StreamSession] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    updates: list[dict[str, str]] = field(default_factory=list)
    webhooks: list[Delivery] = field(default_factory=list)


class EmulatedCall:
    """A call as the emulator sees it; `run` (in `lifecycle`) moves it, the REST API and tests steer it."""

    def __init__(
        self,
        *,
        sid: str,
        account_sid: str,
        direction: Direction,
        to: str,
        from_: str,
        callee: Callee,
        options: CallOptions,
        callbacks: StatusCallbacks,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.sid = sid
        self.account_sid = account_sid
        self.direction: Direction = direction
        self.to = to
        self.from_ = from_
        self.callee = callee
        self.options = options
        self.callbacks = callbacks
        self.log = CallLog()
        self.status = "queued"
        self.date_created = resources.now()
        self.date_updated = self.date_created
        self.start_time: datetime | None = None
        self.end_time: datetime | None = None
        self.answered_by: str | None = None
        self.ended_by = ""
        self.interrupt: Interrupt | None = None
        self.interrupted = asyncio.Event()
        self._change = asyncio.Event()
        self._on_change = on_change

    # --- state ---------------------------------------------------------------------------------------

    @property
    def final(self) -> bool:
        """Whether the call is over."""
        return self.status in FINAL_STATUSES

    @property
    def duration_s(self) -> int | None:
        """Whole seconds from answer to end (what `CallDuration` reports); None while the call lasts."""
        if self.end_time is None:
            return None
        if self.start_time is None:
            return 0
        return round((self.end_time - self.start_time).total_seconds())

    @property
    def phone(self) -> MediaStreamCall | None:
        """The phone of the latest `<Stream>` that connected."""
        connected = [session.phone for session in self.log.streams if session.phone is not None]
        return connected[-1] if connected else None

    def set_status(self, status: str) -> None:
        """Move the call and wake whoever waits on it."""
        self.status = status
        self.date_updated = resources.now()
        if status == "in-progress" and self.start_time is None:
            self.start_time = self.date_updated
        if status in FINAL_STATUSES:
            self.end_time = self.date_updated
        self.changed()

    def changed(self) -> None:
        """Wake every waiter (they re-check their condition)."""
        self._change.set()
        self._change = asyncio.Event()
        if self._on_change is not None:
            self._on_change()

    # --- steering ------------------------------------------------------------------------------------

    def request_end(self, by: str) -> None:
        """End the call (a REST `Status=completed`, the time limit, or the callee hanging up)."""
        if self.final:
            return
        self.ended_by = self.ended_by or by
        self.interrupt = Interrupt(end=by)
        self.interrupted.set()

    def request_redirect(self, *, twiml: str = "", url: str = "", method: str = "POST") -> None:
        """Replace the running document (a REST update with `Twiml` or `Url`)."""
        if self.interrupt is None or not self.interrupt.end:
            self.interrupt = Interrupt(twiml=twiml, url=url, method=method)
            self.interrupted.set()

    def take_interrupt(self) -> Interrupt | None:
        """The pending interrupt, cleared."""
        interrupt, self.interrupt = self.interrupt, None
        self.interrupted.clear()
        return interrupt

    def callee_hangs_up(self) -> None:
        """The person on the phone hangs up."""
        self.request_end("callee")

    # --- waiting -------------------------------------------------------------------------------------

    async def wait_until(self, condition: Callable[[EmulatedCall], bool]) -> None:
        """Wait until `condition(call)` holds (bound it with `asyncio.timeout`)."""
        while not condition(self):
            await self._change.wait()

    async def wait_status(self, *statuses: str) -> str:
        """Wait until the call is in one of `statuses` (any final status when none is given)."""
        wanted = frozenset(statuses) or FINAL_STATUSES
        await self.wait_until(lambda call: call.status in wanted)
        return self.status

    async def wait_for_phone(self) -> MediaStreamCall:
        """Wait until a `<Stream>` is connected and return its phone; raises if the call ends first."""
        await self.wait_until(lambda call: call.phone is not None or call.final)
        if self.phone is None:
            raise RuntimeError(f"call {self.sid} ended ({self.status}) without a media stream")
        return self.phone

    # --- views ---------------------------------------------------------------------------------------

    def call_params(self) -> dict[str, str]:
        """The parameters of every request Twilio makes about this call."""
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": resources.API_VERSION,
            "CallSid": self.sid,
            "CallStatus": self.status,
            "Called": self.to,
            "Caller": self.from_,
            "Direction": self.direction,
            "From": self.from_,
            "To": self.to,
        }

    def status_params(self) -> dict[str, str]:
        """The parameters of the status callback of the current status."""
        params = {
            **self.call_params(),
            "CallbackSource": "call-progress-events",
            "Timestamp": resources.rfc2822(self.date_updated) or "",
        }
        if self.answered_by and self.options.machine_detection:
            params["AnsweredBy"] = self.answered_by
        if self.final:
            params["CallDuration"] = str(self.duration_s or 0)
            params["Duration"] = str(-(-(self.duration_s or 0) // 60))
            params["SipResponseCode"] = SIP_CODE[self.status]
        return params

    def amd_params(self) -> dict[str, str]:
        """What machine detection adds to the request for the call's `Url` once it is answered.

        With `MachineDetection` on and `AsyncAmd` off, Twilio waits for the verdict and passes `AnsweredBy` to
        the `Url`; with `AsyncAmd=true` the `Url` is fetched at once, without it.
        """
        if not self.options.machine_detection or self.options.async_amd or self.answered_by is None:
            return {}
        return {"AnsweredBy": self.answered_by, "MachineDetectionDuration": str(MACHINE_DETECTION_MS)}

    def resource(self) -> dict[str, Any]:
        """The Call resource JSON, as `GET /Calls/{Sid}.json` returns it."""
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": self.answered_by if self.options.machine_detection else None,
            "api_version": resources.API_VERSION,
            "caller_name": None,
            "date_created": resources.rfc2822(self.date_created),
            "date_updated": resources.rfc2822(self.date_updated),
            "direction": self.direction,
            "duration": None if self.duration_s is None else str(self.duration_s),
            "end_time": resources.rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": resources.formatted(self.from_),
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": resources.rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {
                "notifications": resources.call_uri(self.account_sid, self.sid).replace(
                    ".json", "/Notifications.json"
                ),
                "recordings": resources.call_uri(self.account_sid, self.sid).replace(
                    ".json", "/Recordings.json"
                ),
            },
            "to": self.to,
            "to_formatted": resources.formatted(self.to),
            "trunk_sid": None,
            "uri": resources.call_uri(self.account_sid, self.sid),
        }

    def __repr__(self) -> str:
        return f"EmulatedCall({self.sid}, {self.direction}, {self.from_} → {self.to}, {self.status})"

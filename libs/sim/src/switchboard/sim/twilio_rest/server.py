"""The Twilio REST emulator: the Calls resource on 127.0.0.1, and the calls it places and receives."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from switchboard.sim.twilio_rest import resources
from switchboard.sim.twilio_rest.behaviour import Callee, EmulatorTiming, IncomingNumber
from switchboard.sim.twilio_rest.call import LIVE_STATUSES, CallOptions, EmulatedCall
from switchboard.sim.twilio_rest.control import ControlApi
from switchboard.sim.twilio_rest.lifecycle import CallRunner, MediaRoutes
from switchboard.sim.twilio_rest.received import (
    RECEIVED,
    STATUS_EVENTS,
    Faults,
    ReceivedRequest,
    invalid_create,
)
from switchboard.sim.twilio_rest.resources import ApiError
from switchboard.sim.twilio_rest.webhooks import StatusCallbacks, WebhookClient

logger = logging.getLogger(__name__)

CALLS = "/2010-04-01/Accounts/{account}/Calls.json"
CALL = "/2010-04-01/Accounts/{account}/Calls/{sid}.json"


class TwilioRestEmulator:
    """Twilio's Calls API for one account, and the behaviour behind it, on 127.0.0.1.

    Point the SDK at `base_url` (an HTTP client that rewrites `https://api.twilio.com` to it). Every request is
    kept in `requests`, every call in `calls` (with its phone, callbacks and what it ran). Steer callees with
    `callees` (per number), `default_callee` or `next_callee` (the next call), inject REST failures with
    `fail_next`, place inbound calls with `place_inbound_call`.
    """

    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str = "emulator-auth-token",
        host: str = "127.0.0.1",
        port: int = 0,
        media_routes: Mapping[str, str] | None = None,
        default_callee: Callee | None = None,
        timing: EmulatorTiming | None = None,
        hold_callbacks: bool = False,
    ) -> None:
        self.account_sid = account_sid or resources.new_sid("AC")
        self.auth_token = auth_token
        self.media = MediaRoutes(dict(media_routes or {}))
        self.default_callee = default_callee or Callee()
        self.callees: dict[str, Callee] = {}
        self.numbers: dict[str, IncomingNumber] = {}
        self.timing = timing or EmulatorTiming()
        self.hold_callbacks = hold_callbacks
        self.response_delay_s = 0.0
        self.calls: dict[str, EmulatedCall] = {}
        self.requests: list[ReceivedRequest] = []
        self._host = host
        self._port = port
        self._next_callees: deque[Callee] = deque()
        self._faults = Faults()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhooks: WebhookClient | None = None
        self._change = asyncio.Event()

    # --- lifecycle -----------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen (port 0 picks a free port) and get ready to post webhooks."""
        self._session = aiohttp.ClientSession()
        self._webhooks = WebhookClient(self._session, self.auth_token, self.timing.webhook_timeout_s)
        app = web.Application(middlewares=[self._record])
        app.router.add_post(CALLS, self._create)
        app.router.add_get(CALLS, self._list)
        app.router.add_get(CALL, self._fetch)
        app.router.add_post(CALL, self._update)
        ControlApi(self).add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        logger.info("Twilio REST emulator for %s on %s", self.account_sid, self.base_url)

    async def stop(self) -> None:
        """End every live call (without callbacks), stop listening, close the webhook client."""
        for call in self.calls.values():
            await call.callbacks.aclose()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for call in self.calls.values():
            await call.callbacks.aclose()  # what the cancelled calls queued last
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: what replaces ``https://api.twilio.com``."""
        return f"http://{self._host}:{self._port}"

    @property
    def webhooks(self) -> WebhookClient:
        """The client that posts webhooks and callbacks (every delivery is in `webhooks.deliveries`)."""
        if self._webhooks is None:
            raise RuntimeError("the emulator is not started")
        return self._webhooks

    # --- steering ------------------------------------------------------------------------------------

    def next_callee(self, callee: Callee) -> None:
        """The next call created (of any number) meets `callee`; queued, one per call."""
        self._next_callees.append(callee)

    def callee_for(self, number: str) -> Callee:
        """Who answers a new call to `number`."""
        if self._next_callees:
            return self._next_callees.popleft()
        return self.callees.get(number, self.default_callee)

    def fail_next(
        self, operation: str, status: int = 500, code: int = 20500, message: str = "Internal Server Error"
    ) -> None:
        """Answer the next `create`/`fetch`/`update`/`list` request with this error instead."""
        self._faults.queued.setdefault(operation, deque()).append(ApiError(status, code, message))

    def add_number(
        self, number: str, voice_url: str, *, status_callback: str = "", events: str = "completed"
    ) -> None:
        """Give the account `number`, whose calls ask `voice_url` what to do."""
        self.numbers[number] = IncomingNumber(
            voice_url=voice_url,
            status_callback=status_callback,
            status_callback_events=frozenset(events.split()),
        )

    async def place_inbound_call(self, from_: str, to: str, *, callee: Callee | None = None) -> EmulatedCall:
        """Someone at `from_` calls the account's number `to`: Twilio asks its voice URL, then runs the TwiML."""
        number = self.numbers.get(to)
        if number is None:
            raise KeyError(f"{to} is not a number of this account (add_number first)")
        call = self._new_call(
            direction="inbound",
            to=to,
            from_=from_,
            callee=callee or Callee.answering(0.0),
            options=CallOptions(
                status_callback=number.status_callback,
                status_callback_events=number.status_callback_events,
            ),
        )
        self._spawn(call, voice_url=number.voice_url, voice_method=number.voice_method)
        return call

    def call(self, sid: str) -> EmulatedCall:
        """The call `sid`."""
        return self.calls[sid]

    async def wait_for_call(self, condition: Callable[[EmulatedCall], bool] | None = None) -> EmulatedCall:
        """The first call (oldest first) that meets `condition`, waiting for one to be created or to change."""
        while True:
            for call in self.calls.values():
                if condition is None or condition(call):
                    return call
            await self._change.wait()

    def requests_to(self, method: str, suffix: str) -> list[ReceivedRequest]:
        """The requests with this method whose path ends with `suffix` (``Calls.json`` for creates)."""
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    # --- calls ---------------------------------------------------------------------------------------

    def _new_call(
        self, *, direction: str, to: str, from_: str, callee: Callee, options: CallOptions
    ) -> EmulatedCall:
        callbacks = StatusCallbacks(
            self.webhooks,
            options.status_callback,
            options.status_callback_events,
            options.status_callback_method,
            hold=self.hold_callbacks,
        )
        call = EmulatedCall(
            sid=resources.new_sid("CA"),
            account_sid=self.account_sid,
            direction="inbound" if direction == "inbound" else "outbound-api",
            to=to,
            from_=from_,
            callee=callee,
            options=options,
            callbacks=callbacks,
            on_change=self._changed,
        )
        self.calls[call.sid] = call
        self._changed()
        return call

    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    def _spawn(self, call: EmulatedCall, *, voice_url: str = "", voice_method: str = "POST") -> None:
        runner = CallRunner(
            call,
            webhooks=self.webhooks,
            media=self.media,
            auth_token=self.auth_token,
            timing=self.timing,
            voice_url=voice_url,
            voice_method=voice_method,
        )
        self._track(runner.run())

    def _track(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("an emulated call failed", exc_info=error)

    # --- HTTP: recording and auth --------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else request.query
        params = [(key, value) for key, value in form.items() if isinstance(value, str)]
        received = ReceivedRequest(request.method, request.path, params, self._authenticated(request))
        self.requests.append(received)
        request[RECEIVED] = received
        if self.response_delay_s:
            await asyncio.sleep(self.response_delay_s)
        try:
            response = await handler(request)
        except web.HTTPNotFound:
            response = self._error(resources.not_found_error(request.path))
        received.status = response.status
        return response

    def _authenticated(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user, self.account_sid) and hmac.compare_digest(password, self.auth_token)

    def _check(self, request: web.Request, operation: str) -> ApiError | None:
        received = request[RECEIVED]
        if not received.authenticated:
            return resources.authenticate_error()
        if request.match_info["account"] != self.account_sid:
            return resources.not_found_error(request.path)
        return self._faults.take(operation)

    @staticmethod
    def _error(error: ApiError) -> web.Response:
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if error.status == 401 else None
        return web.json_response(error.body(), status=error.status, headers=headers)

    # --- HTTP: the Calls resource --------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        if (error := self._check(request, "create")) is not None:
            return self._error(error)
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        if (invalid := invalid_create(params)) is not None:
            return self._error(invalid)
        events = frozenset(str(v) for v in form.getall("StatusCallbackEvent", [])) or frozenset({"completed"})
        if unknown := events - STATUS_EVENTS:
            return self._error(
                ApiError(400, 21200, f"Invalid StatusCallbackEvent: {', '.join(sorted(unknown))}")
            )
        options = CallOptions(
            twiml=params.get("Twiml", ""),
            url=params.get("Url", ""),
            method=params.get("Method", "POST"),
            status_callback=params.get("StatusCallback", ""),
            status_callback_events=events,
            status_callback_method=params.get("StatusCallbackMethod", "POST"),
            timeout_s=int(params.get("Timeout", "60")),
            time_limit_s=int(params.get("TimeLimit", str(4 * 3600))),
            machine_detection=params.get("MachineDetection", ""),
            async_amd=params.get("AsyncAmd", "").lower() == "true",
            async_amd_callback=params.get("AsyncAmdStatusCallback", ""),
            async_amd_callback_method=params.get("AsyncAmdStatusCallbackMethod", "POST"),
        )
        call = self._new_call(
            direction="outbound-api",
            to=params["To"],
            from_=params["From"],
            callee=self.callee_for(params["To"]),
            options=options,
        )
        resource = call.resource()
        self._spawn(call)
        return web.json_response(resource, status=201)

    async def _fetch(self, request: web.Request) -> web.Response:
        if (error := self._check(request, "fetch")) is not None:
            return self._error(error)
        call = self.calls.get(request.match_info["sid"])
        if call is None:
            return self._error(resources.not_found_error(request.path))
        return web.json_response(call.resource())

    async def _list(self, request: web.Request) -> web.Response:
        if (error := self._check(request, "list")) is not None:
            return self._error(error)
        wanted = {key: request.query[key] for key in ("To", "From", "Status") if key in request.query}
        try:
            query = resources.PageQuery.parse(request.query)
        except ValueError as e:
            return self._error(ApiError(400, 20001, str(e)))
        matching = [
            resource
            for resource in (call.resource() for call in reversed(self.calls.values()))
            if all(resource[key.lower()] == value for key, value in wanted.items())
        ]
        return web.json_response(resources.calls_page(self.account_sid, matching, query, filters=wanted))

    async def _update(self, request: web.Request) -> web.Response:
        if (error := self._check(request, "update")) is not None:
            return self._error(error)
        call = self.calls.get(request.match_info["sid"])
        if call is None:
            return self._error(resources.not_found_error(request.path))
        params = {key: str(value) for key, value in (await request.post()).items()}
        call.log.updates.append(params)
        status = params.get("Status", "")
        if status not in ("", "completed", "canceled"):
            return self._error(ApiError(400, 21218, f"Invalid value for Status: {status}"))
        if params.get("Twiml") or params.get("Url"):
            if call.status != "in-progress":
                return self._error(ApiError(400, 21220, "Call is not in-progress. Cannot redirect."))
            call.request_redirect(
                twiml=params.get("Twiml", ""), url=params.get("Url", ""), method=params.get("Method", "POST")
            )
        elif status == "completed" and call.status in LIVE_STATUSES:
            call.request_end("api")
        elif status == "canceled" and call.status in {"queued", "initiated", "ringing"}:
            call.request_end("api")
        return web.json_response(call.resource())

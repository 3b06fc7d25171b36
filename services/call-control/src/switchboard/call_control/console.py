"""The operator console at `/console`: calls (live and past), a call with its recording, the profiles.

Signed in with an API key (`console_session`), server-rendered (`console_views`), live through server-sent
events fed from the calls' events on NATS. Every asset is served from this package: it works offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qs

import msgspec
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from nats.aio.msg import Msg

from switchboard.call_control.access import ApiClient, ApiKeys, RateLimiter
from switchboard.call_control.calls import CallService
from switchboard.call_control.console_session import COOKIE, SESSION_S, ConsoleSessions, same_origin
from switchboard.call_control.console_views import (
    call_page,
    call_rows,
    calls_page,
    profiles_page,
    sign_in_page,
    timeline,
)
from switchboard.call_control.problems import ApiProblem
from switchboard.call_control.recordings_api import recording_response
from switchboard.call_control.schemas import CallSummary
from switchboard.call_control.views import CallFilter, call_detail
from switchboard.common.bus import subjects
from switchboard.common.calls.record import CallStatus
from switchboard.common.profiles import ProfileStore
from switchboard.common.recordings.store import RecordingStore

logger = logging.getLogger(__name__)

ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
LISTED = 200
KEEPALIVE_S = 15.0
SSE_QUEUE = 256
_NO_STORE = {
    "Cache-Control": "no-store",
    # Only this origin's scripts, styles, audio and events; never framed (click-jacking the hang-up).
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
}


class ConsoleSettings(msgspec.Struct, frozen=True):
    """How the console's session cookie is set."""

    secure_cookie: bool = True


def console_router(
    service: CallService,
    keys: ApiKeys,
    profiles: ProfileStore,
    profile_names: list[str],
    recordings: RecordingStore | None,
    options: ConsoleSettings,
    failures: RateLimiter,
) -> APIRouter:
    """The `/console` pages (left out of the API docs).

    Wrong keys at sign-in count against the same per-address budget as the API's (`failures`): past it, 429.
    """
    router = APIRouter(prefix="/console", include_in_schema=False)
    sessions = ConsoleSessions(keys)

    def signed_in(request: Request) -> ApiClient:
        client = sessions.client(request)
        if client is None:
            raise _SignIn()
        return client

    @router.get("/sign-in")
    async def sign_in_form() -> HTMLResponse:
        return HTMLResponse(sign_in_page(), headers=_NO_STORE)

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        client = keys.identify((form.get("api_key") or [""])[0].strip())
        if client is None and failures.take(request.client.host if request.client else "unknown") > 0:
            return HTMLResponse(
                sign_in_page("Too many wrong keys from this address: try again later."),
                status_code=429,
                headers={**_NO_STORE, "Retry-After": "5"},
            )
        if client is None or not same_origin(request):
            return HTMLResponse(
                sign_in_page("That API key is not valid."), status_code=401, headers=_NO_STORE
            )
        response = RedirectResponse("/console", status_code=303)
        response.set_cookie(
            COOKIE,
            sessions.issue(client),
            max_age=SESSION_S,
            path="/console",
            secure=options.secure_cookie,
            httponly=True,
            samesite="strict",
        )
        return response

    @router.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        response = RedirectResponse("/console/sign-in", status_code=303)
        if same_origin(request):
            response.delete_cookie(COOKIE, path="/console", secure=options.secure_cookie, httponly=True)
        return response

    @router.get("")
    async def calls(
        request: Request,
        status: Annotated[str, Query()] = "",
        direction: Annotated[str, Query()] = "",
        transport: Annotated[str, Query()] = "",
        profile: Annotated[str, Query()] = "",
        since: Annotated[str, Query()] = "",
        fragment: Annotated[str, Query()] = "",
    ) -> HTMLResponse:
        signed_in(request)
        statuses = frozenset(s for s in CallStatus if s.value == status)
        after = _moment(since)
        wanted = CallFilter(statuses, direction or None, after, None)
        records = [
            r
            for r in await service.store.all()
            if wanted.keeps(r)
            and (not transport or r.transport == transport)
            and (not profile or r.profile == profile)
        ]
        records.sort(key=lambda r: (r.created_ns, r.call_id), reverse=True)
        listed = [CallSummary.of(r) for r in records[:LISTED]]
        if fragment:
            return HTMLResponse(call_rows(listed), headers=_NO_STORE)
        filters = {
            "status": status,
            "direction": direction,
            "transport": transport,
            "profile": profile,
            "since": since,
        }
        return HTMLResponse(calls_page(listed, filters, profile_names), headers=_NO_STORE)

    @router.get("/calls/{call_id}")
    async def call(request: Request, call_id: str, fragment: Annotated[str, Query()] = "") -> HTMLResponse:
        signed_in(request)
        detail = await call_detail(service.bus, await service.get(call_id))
        if fragment:
            return HTMLResponse(timeline(detail), headers={**_NO_STORE, "X-Call-Status": detail.status.value})
        return HTMLResponse(call_page(detail), headers=_NO_STORE)

    @router.get("/calls/{call_id}/recording")
    async def recording(request: Request, call_id: str) -> Response:
        signed_in(request)
        if recordings is None:
            raise ApiProblem(404, "recording_not_found", "recordings are not configured")
        return await recording_response(service, recordings, call_id, request.headers.get("range"))

    @router.post("/calls/{call_id}/hangup")
    async def hang_up(request: Request, call_id: str) -> Response:
        client = signed_in(request)
        if not same_origin(request):
            raise ApiProblem(403, "cross_origin", "the hang-up must come from the console's own pages")
        record = await service.hang_up(call_id, "operator", by=f"console:{client.id}")
        return Response(status_code=202, headers={"X-Call-Status": record.status.value})

    @router.get("/profiles")
    async def profiles_list(request: Request) -> HTMLResponse:
        signed_in(request)
        found = [await profiles.get(name) for name in sorted(profile_names)]
        return HTMLResponse(profiles_page(found), headers=_NO_STORE)

    @router.get("/events")
    async def events(request: Request, call_id: Annotated[str, Query()] = "") -> StreamingResponse:
        """Server-sent events: one `data:` line (the call id and event type) per event of the calls watched."""
        signed_in(request)
        if call_id and not subjects.valid_token(call_id):
            raise ApiProblem(422, "invalid_call_id", "not a call id")
        subject = subjects.call_events(call_id or subjects.ANY)
        return StreamingResponse(
            _event_stream(service, subject, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.get("/assets/{name}")
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            raise ApiProblem(404, "not_found", "no such asset")
        data = importlib.resources.files(__package__).joinpath("console_assets", name).read_bytes()
        return Response(data, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    return router


class _SignIn(Exception):
    """The request has no valid console session: answered with a redirect to the sign-in page."""


async def on_sign_in_needed(request: Request, exc: Exception) -> Response:
    """Pages redirect to the sign-in page; the console's own requests (fetch, events) get 401."""
    if request.headers.get("accept", "").startswith("text/html"):
        return RedirectResponse("/console/sign-in", status_code=303)
    return Response("sign in first", status_code=401, headers=_NO_STORE)


SIGN_IN_NEEDED = _SignIn


def _moment(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _event_stream(service: CallService, subject: str, request: Request) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[bytes] = asyncio.Queue(SSE_QUEUE)

    async def on_event(msg: Msg) -> None:
        payload = msgspec.json.encode(
            {"call_id": subjects.call_id_of(msg.subject), "type": msg.subject.rsplit(".", 1)[-1]}
        )
        with contextlib.suppress(asyncio.QueueFull):  # a stalled browser misses updates, never the bus
            queue.put_nowait(b"data: " + payload + b"\n\n")

    sub = await service.bus.nc.subscribe(subject, cb=on_event)
    try:
        yield b": connected\n\n"
        while not await request.is_disconnected():
            try:
                async with asyncio.timeout(KEEPALIVE_S):
                    yield await queue.get()
            except TimeoutError:
                yield b": keep-alive\n\n"
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()

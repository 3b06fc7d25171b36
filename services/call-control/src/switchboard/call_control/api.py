"""The calls API, `/v1/calls…` (API keys and rate limits are enforced by `access.AccessGuard` before this)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header, Query, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer

from switchboard.call_control.access import CLIENT_STATE, ApiClient
from switchboard.call_control.call_attempts import requested_time
from switchboard.call_control.calls import CallService, new_call_id
from switchboard.call_control.idempotency import Claim, IdempotencyKeys, Replay, fingerprint
from switchboard.call_control.problems import ApiProblem, ErrorBody
from switchboard.call_control.result_webhooks import ResultWebhooks
from switchboard.call_control.schemas import (
    CallAccepted,
    CallDetail,
    CallPage,
    CreateCall,
    HangupCall,
    TransferCall,
    WebhookRedelivery,
)
from switchboard.call_control.twilio_api import ProviderError
from switchboard.call_control.views import CallFilter, call_detail, list_calls
from switchboard.common.calls.record import CallStatus

REPLAYED_HEADER = "Idempotent-Replayed"
_ERRORS = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (401, "Missing or unknown API key"),
        (404, "No such call"),
        (409, "The call cannot do that now, or an Idempotency-Key is in use"),
        (422, "Invalid request, number or profile; or an Idempotency-Key reused with another body"),
        (429, "Rate limited (see Retry-After)"),
        (502, "Twilio failed"),
        (503, "Twilio unavailable or rate limiting (see Retry-After)"),
    )
}


def _client(request: Request) -> ApiClient:
    client = getattr(request.state, CLIENT_STATE, None)
    if not isinstance(
        client, ApiClient
    ):  # the access guard did not run: refuse rather than serve anonymously
        raise ApiProblem(401, "unauthorized", "a valid API key is required")
    return client


def _provider_problem(error: ProviderError, call_id: str) -> ApiProblem:
    headers = {"Retry-After": "1"} if error.retryable else {}
    return ApiProblem(
        error.http_status,
        error.code,
        f"{error.message} (call {call_id} is marked failed)",
        category=error.category,
        headers=headers,
    )


def calls_router(service: CallService, idempotency: IdempotencyKeys, webhooks: ResultWebhooks) -> APIRouter:
    """The `/v1/calls` routes."""
    router = APIRouter(
        prefix="/v1/calls",
        tags=["Calls"],
        dependencies=[Security(HTTPBearer(auto_error=False, description="An API key of call-control"))],
        responses=_ERRORS,  # type: ignore[arg-type]  # FastAPI accepts int keys at runtime
    )

    @router.post("", status_code=201, response_model=CallAccepted)
    async def create_call(
        body: CreateCall,
        request: Request,
        response: Response,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key", description="Retry safely: the same key and body give the same call"
            ),
        ] = None,
    ) -> CallAccepted | JSONResponse:
        """Place an outbound call handled by the agent of `profile`."""
        client = _client(request)
        prepared = await service.prepare(body)
        if body.webhook_url is not None:
            url = await webhooks.check_call_url(body.webhook_url, prepared.profile.name)
            prepared = dataclasses.replace(prepared, webhook_url=url)
        call_id = new_call_id()
        claim: Claim | None = None
        if idempotency_key is not None:
            IdempotencyKeys.check_key(idempotency_key)
            outcome = await idempotency.claim(
                client.id, idempotency_key, fingerprint(body.model_dump(mode="json", by_alias=True)), call_id
            )
            if isinstance(outcome, Replay):
                return JSONResponse(
                    outcome.body, status_code=outcome.status_code, headers={REPLAYED_HEADER: "true"}
                )
            claim = outcome
        scheduled_ns = (
            requested_time(
                body.scheduled_at,
                retry=prepared.retry,
                to_number=prepared.to,
                timezone=prepared.timezone,
                ignore_hours=body.ignore_calling_hours,
                now=datetime.now(UTC),
            )
            if body.scheduled_at is not None
            else 0
        )
        try:
            if scheduled_ns:
                record = await service.schedule(prepared, call_id, scheduled_ns, "requested")
            else:
                record = await service.place(prepared, call_id)
        except ProviderError as error:
            problem = _provider_problem(error, call_id)
            if claim is not None:
                if error.retryable and not error.ambiguous:
                    await idempotency.release(claim)
                else:
                    await idempotency.finish(claim, problem.status, problem.body())
            raise problem from error
        except BaseException:
            if claim is not None:
                await idempotency.release(claim)
            raise
        accepted = CallAccepted(call_id=call_id, status=record.status)
        if claim is not None:
            await idempotency.finish(claim, 201, accepted.model_dump(mode="json"))
        response.headers["Location"] = f"/v1/calls/{call_id}"
        return accepted

    @router.get("", response_model=CallPage, response_model_by_alias=True)
    async def get_calls(
        request: Request,
        status: Annotated[list[CallStatus], Query(description="Only calls in these statuses")] = [],  # noqa: B006  # FastAPI copies defaults
        direction: Annotated[Literal["inbound", "outbound"] | None, Query()] = None,
        created_after: Annotated[datetime | None, Query(description="ISO 8601")] = None,
        created_before: Annotated[datetime | None, Query(description="ISO 8601")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
    ) -> CallPage:
        """Calls, newest first, a page at a time."""
        _client(request)
        wanted = CallFilter(frozenset(status), direction, created_after, created_before)
        return await list_calls(service.store, wanted, limit=limit, cursor=cursor)

    @router.get("/{call_id}", response_model=CallDetail, response_model_by_alias=True)
    async def get_call(call_id: str, request: Request) -> CallDetail:
        """A call: its record and its timeline (status changes, transcript turns, tool calls, barge-ins, end)."""
        _client(request)
        return await call_detail(service.bus, await service.get(call_id))

    @router.post("/{call_id}/hangup", status_code=202, response_model=CallAccepted)
    async def hang_up(
        call_id: str, request: Request, body: Annotated[HangupCall | None, Body()] = None
    ) -> CallAccepted:
        """End a live call; its record ends with `reason` once Twilio reports the end."""
        client = _client(request)
        reason = (body or HangupCall()).reason
        record = await service.hang_up(call_id, reason, by=f"api:{client.id}")
        return CallAccepted(call_id=call_id, status=record.status)

    @router.post("/{call_id}/transfer", status_code=202, response_model=CallAccepted)
    async def transfer(call_id: str, body: TransferCall, request: Request) -> CallAccepted:
        """Hand an answered call over to another number (checked like any destination)."""
        client = _client(request)
        record = await service.transfer(call_id, body.to, by=f"api:{client.id}")
        return CallAccepted(call_id=call_id, status=record.status)

    @router.post("/{call_id}/cancel", status_code=202, response_model=CallAccepted)
    async def cancel(call_id: str, request: Request) -> CallAccepted:
        """Cancel a scheduled call (a retry, a call-back or one placed with `scheduled_at`) before it is placed."""
        client = _client(request)
        record = await service.cancel(call_id, by=f"api:{client.id}")
        return CallAccepted(call_id=call_id, status=record.status)

    @router.post("/{call_id}/webhook/redeliver", status_code=202, response_model=WebhookRedelivery)
    async def redeliver_webhooks(call_id: str, request: Request) -> WebhookRedelivery:
        """Send the call's result webhook events again (same event ids), whatever became of them before."""
        _client(request)
        event_ids = await webhooks.redeliver(await service.get(call_id))
        return WebhookRedelivery(call_id=call_id, event_ids=event_ids)

    return router

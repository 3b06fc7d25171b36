"""Twilio's webhooks: the voice URL of our numbers (inbound calls) and the status callbacks of every call.

Each request must carry a valid `X-Twilio-Signature` for the URL Twilio called, which is rebuilt from the
configured public base URL (and, behind a proxy that is not configured, from `X-Forwarded-Proto`/`Host`),
and must come from our account; anything else is 403 and counted.
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response

from switchboard.call_control.calls import CallService
from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.problems import ApiProblem
from switchboard.call_control.status import StatusTracker
from switchboard.common.bus.subjects import valid_token
from switchboard.common.errors import ErrorCategory
from switchboard.common.security.twilio_signature import is_valid_signature

logger = logging.getLogger(__name__)

TWIML = "text/xml"


class TwilioSignatures:
    """Checks that a webhook comes from Twilio, for our account."""

    def __init__(
        self, auth_token: str, account_sid: str, public_base_url: str, metrics: CallControlMetrics
    ) -> None:
        self._auth_token = auth_token
        self._account_sid = account_sid
        self._public_base_url = public_base_url.rstrip("/")
        self._metrics = metrics

    def public_urls(self, request: Request) -> list[str]:
        """The URLs Twilio may have signed: the configured public one first, then the forwarded one."""
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        urls = [self._public_base_url + path] if self._public_base_url else []
        proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
        host = request.headers.get("x-forwarded-host") or request.headers.get("host") or request.url.netloc
        forwarded = f"{proto}://{host.split(',')[0].strip()}{path}"
        return urls if forwarded in urls else [*urls, forwarded]

    async def verified(self, request: Request, webhook: str) -> dict[str, str]:
        """The form parameters of a genuine webhook; raises `ApiProblem` 403 otherwise."""
        body = (await request.body()).decode("utf-8", "replace")
        params = dict(parse_qsl(body, keep_blank_values=True))
        signature = request.headers.get("x-twilio-signature")
        genuine = any(
            is_valid_signature(self._auth_token, url, signature, params) for url in self.public_urls(request)
        )
        if not genuine or not hmac.compare_digest(params.get("AccountSid", ""), self._account_sid):
            self._metrics.signature_failures.labels(webhook).inc()
            logger.warning(
                "refused a %s webhook: %s", webhook, "bad signature" if not genuine else "other account"
            )
            raise ApiProblem(
                403,
                "invalid_signature",
                "the request is not signed by Twilio for this account",
                category=ErrorCategory.UNAUTHORIZED,
            )
        return params


def twilio_router(service: CallService, tracker: StatusTracker, signatures: TwilioSignatures) -> APIRouter:
    """`POST /twilio/voice` and `POST /twilio/status`."""
    router = APIRouter(prefix="/twilio", tags=["Twilio webhooks"])

    @router.post(
        "/voice",
        response_class=Response,
        responses={
            200: {"content": {TWIML: {}}, "description": "TwiML"},
            403: {"description": "Not from Twilio"},
        },
    )
    async def voice(request: Request) -> Response:
        """Voice URL of our numbers: creates the record and connects the caller to the agent of the number."""
        params = await signatures.verified(request, "voice")
        return Response(content=await service.answer_inbound(params), media_type=TWIML)

    @router.post("/status", status_code=204, responses={403: {"description": "Not from Twilio"}})
    async def status(request: Request) -> Response:
        """Status callback of every call (the call id is in the query string; inbound calls use the CallSid)."""
        params = await signatures.verified(request, "status")
        call_id = request.query_params.get("call_id") or params.get("CallSid", "")
        if valid_token(call_id):
            await tracker.apply(call_id, params)
        return Response(status_code=204)

    return router

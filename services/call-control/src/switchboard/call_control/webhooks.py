"""Twilio's webhooks: the voice URL of our numbers (inbound calls) and the status callbacks of every call.

Each request must carry a valid `X-Twilio-Signature` for the URL Twilio called, which is the configured public
base URL and the path: never a URL rebuilt from `Host` or `X-Forwarded-*`, which the sender chooses (a request
Twilio signed for another host of the same account must not be replayable here). It must come from our
account; anything else is 403 and counted. A signed request whose parameters are malformed (numbers that are
not ASCII digits within bounds, strings over their bounds) is 400, counted and logged as a warning.
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
from switchboard.call_control.twilio_params import InboundCall, MalformedWebhook, StatusReport
from switchboard.common.bus.subjects import valid_token
from switchboard.common.errors import ErrorCategory
from switchboard.common.runtime.logs import EveryNth
from switchboard.common.security.twilio_signature import is_valid_signature

logger = logging.getLogger(__name__)

TWIML = "text/xml"
MAX_FIELDS = 200
"""More form fields than any Twilio webhook sends (about 30)."""


class TwilioSignatures:
    """Checks that a webhook comes from Twilio, for our account."""

    def __init__(
        self, auth_token: str, account_sid: str, public_base_url: str, metrics: CallControlMetrics
    ) -> None:
        self._auth_token = auth_token
        self._account_sid = account_sid
        self._public_base_url = public_base_url.rstrip("/")
        self._metrics = metrics
        self._malformed_log = EveryNth(100)

    def public_url(self, request: Request) -> str:
        """The URL Twilio signed: the configured public base URL, the path and the query as received."""
        return (
            self._public_base_url + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )

    async def verified(self, request: Request, webhook: str) -> dict[str, str]:
        """The form parameters of a genuine webhook; raises `ApiProblem` 403 otherwise (400 if unreadable)."""
        body = (await request.body()).decode("utf-8", "replace")
        try:
            params = dict(parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FIELDS))
        except ValueError as e:
            raise self.malformed(webhook, f"more than {MAX_FIELDS} fields") from e
        signature = request.headers.get("x-twilio-signature")
        genuine = is_valid_signature(self._auth_token, self.public_url(request), signature, params)
        account = params.get("AccountSid", "").encode()
        if not genuine or not hmac.compare_digest(account, self._account_sid.encode()):
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

    def malformed(self, webhook: str, why: str) -> ApiProblem:
        """Count and log (a warning, every so often) a signed webhook whose content is unusable: 400."""
        self._metrics.webhooks_malformed.labels(webhook).inc()
        if self._malformed_log():
            logger.warning("refused a malformed %s webhook: %s", webhook, why)
        return ApiProblem(400, "invalid_webhook", f"malformed {webhook} webhook: {why}")


ANSWERED_BY = frozenset(
    {
        "human",
        "machine_start",
        "machine_end_beep",
        "machine_end_silence",
        "machine_end_other",
        "fax",
        "unknown",
    }
)
"""Twilio's machine detection verdicts."""


def twilio_router(service: CallService, tracker: StatusTracker, signatures: TwilioSignatures) -> APIRouter:
    """`POST /twilio/voice`, `POST /twilio/answer` and `POST /twilio/status`."""
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
        try:
            inbound = InboundCall.parse(params)
        except MalformedWebhook as e:
            raise signatures.malformed("voice", str(e)) from e
        return Response(content=await service.answer_inbound(inbound), media_type=TWIML)

    @router.post(
        "/answer",
        response_class=Response,
        responses={
            200: {"content": {TWIML: {}}, "description": "TwiML"},
            403: {"description": "Not from Twilio"},
        },
    )
    async def answer(request: Request) -> Response:
        """TwiML URL of outbound calls with machine detection: a person or a machine answered (`AnsweredBy`)."""
        params = await signatures.verified(request, "answer")
        answered_by = params.get("AnsweredBy", "")
        if answered_by not in ANSWERED_BY:
            raise signatures.malformed("answer", "AnsweredBy: not a value Twilio sends")
        call_id = request.query_params.get("call_id", "")
        return Response(content=await service.answer_outbound(call_id, answered_by), media_type=TWIML)

    @router.post("/status", status_code=204, responses={403: {"description": "Not from Twilio"}})
    async def status(request: Request) -> Response:
        """Status callback of every call (the call id is in the query string; inbound calls use the CallSid)."""
        params = await signatures.verified(request, "status")
        try:
            report = StatusReport.parse(params)
        except MalformedWebhook as e:
            raise signatures.malformed("status", str(e)) from e
        call_id = request.query_params.get("call_id") or params.get("CallSid", "")
        if valid_token(call_id):
            await tracker.apply(call_id, report, params.get("CallStatus", ""))
        return Response(status_code=204)

    return router

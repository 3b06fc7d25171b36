"""Twilio's Calls API through the official SDK (its async interface), on call-control's own aiohttp session.

`TwilioApiHttpClient` is the SDK's HTTP layer: it sends Basic auth as a header, applies one timeout, and with
`base_url` rewrites the scheme and host of every request (every Twilio domain, whatever `TWILIO_REGION` or
`TWILIO_EDGE` say), which is how the emulator stands in for Twilio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from switchboard.call_control.metrics import CallControlMetrics
from switchboard.common.errors import ErrorCategory, SwitchboardError

logger = logging.getLogger(__name__)

STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")


class TwilioApiHttpClient(AsyncHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's async HTTP client, on a shared aiohttp session; `base_url` redirects every request."""

    def __init__(
        self, session: aiohttp.ClientSession, *, base_url: str = "", timeout_s: float = 10.0
    ) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), is_async=True, timeout=timeout_s)
        self._session = session
        self._base = urlsplit(base_url) if base_url else None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def target(self, url: str) -> str:
        """Where a request for `url` really goes."""
        if self._base is None:
            return url
        parts = urlsplit(url)
        return urlunsplit((self._base.scheme, self._base.netloc, parts.path, parts.query, parts.fragment))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  # the SDK's interface
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request; repeated parameters (lists) are encoded as Twilio expects them."""
        all_headers = dict(headers or {})
        if auth is not None:
            all_headers["Authorization"] = aiohttp.encode_basic_auth(auth[0], auth[1])
        body = urlencode(list((data or {}).items()), doseq=True) if data else None
        if body is not None:
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        request_timeout = aiohttp.ClientTimeout(total=timeout) if timeout else self._timeout
        async with self._session.request(
            method.upper(),
            self.target(url),
            params={key: str(value) for key, value in (params or {}).items()} or None,
            data=body,
            headers=all_headers,
            timeout=request_timeout,
            allow_redirects=allow_redirects,
        ) as response:
            return Response(response.status, await response.text(), response.headers)


class ProviderError(SwitchboardError):
    """A Twilio API request failed.

    `http_status` is what the calls API answers; `ambiguous` means Twilio may have acted anyway (a timeout).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        http_status: int,
        category: ErrorCategory,
        twilio_code: int | None = None,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(message, category=category, code=code)
        self.http_status = http_status
        self.twilio_code = twilio_code
        self.ambiguous = ambiguous


def _from_twilio(operation: str, error: TwilioException) -> ProviderError:
    status = int(getattr(error, "status", 500) or 500)
    twilio_code = getattr(error, "code", None)
    detail = str(getattr(error, "msg", "") or getattr(error, "detail", "") or getattr(error, "title", ""))
    said = f"Twilio refused to {operation} the call ({twilio_code or status}): {detail}"
    if status in (401, 403):
        return ProviderError(
            f"Twilio rejected call-control's credentials ({twilio_code}): {detail}",
            code="provider_auth_failed",
            http_status=502,
            category=ErrorCategory.PROVIDER,
            twilio_code=twilio_code,
        )
    if status == 429:
        return ProviderError(
            said,
            code="provider_rate_limited",
            http_status=503,
            category=ErrorCategory.CAPACITY,
            twilio_code=twilio_code,
        )
    if status >= 500:
        return ProviderError(
            said,
            code="provider_unavailable",
            http_status=502,
            category=ErrorCategory.UNAVAILABLE,
            twilio_code=twilio_code,
        )
    if status == 404:
        return ProviderError(
            said,
            code="provider_not_found",
            http_status=409,
            category=ErrorCategory.CONFLICT,
            twilio_code=twilio_code,
        )
    return ProviderError(
        said,
        code="provider_rejected",
        http_status=422,
        category=ErrorCategory.INVALID_INPUT,
        twilio_code=twilio_code,
    )


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """What Twilio answered to a create: the call's SID and status."""

    sid: str
    status: str


class TwilioCalls:
    """Create, hang up and redirect calls; every failure becomes a `ProviderError` and is counted."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        http: TwilioApiHttpClient,
        metrics: CallControlMetrics,
    ) -> None:
        self._client = Client(account_sid, auth_token, http_client=http)
        self._metrics = metrics

    def warm_up(self) -> None:
        """Build the resources a call uses now: the SDK imports them on first use, ~0.1-1 s (no request is sent)."""
        self._client.api.v2010.account.calls("CA" + "0" * 32)

    async def dial(
        self,
        *,
        to: str,
        from_: str,
        twiml: str = "",
        url: str = "",
        status_callback: str,
        ring_timeout_s: int,
        time_limit_s: int,
        machine_detection: str | None = None,
    ) -> PlacedCall:
        """Place an outbound call running `twiml` (or the TwiML `url` answers), with every status callback event.

        `machine_detection`: Twilio's `MachineDetection` (`Enable`, or `DetectMessageEnd` to wait for the beep);
        with a `url`, Twilio passes its verdict (`AnsweredBy`) to it.
        """
        document: dict[str, str] = {"url": url, "method": "POST"} if url else {"twiml": twiml}
        with self._measured("create"):
            created = await self._client.api.v2010.account.calls.create_async(
                to=to,
                from_=from_,
                **document,
                status_callback=status_callback,
                status_callback_event=list(STATUS_EVENTS),
                status_callback_method="POST",
                timeout=ring_timeout_s,
                time_limit=time_limit_s,
                machine_detection=machine_detection,
            )
        return PlacedCall(sid=str(created.sid), status=str(created.status))

    async def hang_up(self, sid: str) -> None:
        """End the call, whatever its state (`Status=completed`)."""
        with self._measured("hangup"):
            await self._client.api.v2010.account.calls(sid).update_async(status="completed")

    async def redirect(self, sid: str, twiml: str) -> None:
        """Replace what the call runs (a `<Dial>`: a transfer)."""
        with self._measured("redirect"):
            await self._client.api.v2010.account.calls(sid).update_async(twiml=twiml)

    @contextmanager
    def _measured(self, operation: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        except TwilioException as e:
            error = _from_twilio(operation, e)
            self._metrics.twilio_errors.labels(operation, str(error.twilio_code or error.code)).inc()
            raise error from e
        except TimeoutError as e:
            self._metrics.twilio_errors.labels(operation, "timeout").inc()
            raise ProviderError(
                f"Twilio did not answer the {operation} request in time",
                code="provider_timeout",
                http_status=504,
                category=ErrorCategory.TIMEOUT,
                ambiguous=True,
            ) from e
        except aiohttp.ClientError as e:
            self._metrics.twilio_errors.labels(operation, "network").inc()
            raise ProviderError(
                f"Twilio could not be reached for the {operation} request: {e}",
                code="provider_unreachable",
                http_status=503,
                category=ErrorCategory.UNAVAILABLE,
                ambiguous=not isinstance(e, aiohttp.ClientConnectorError),
            ) from e
        finally:
            self._metrics.twilio_seconds.labels(operation).observe(time.perf_counter() - started)

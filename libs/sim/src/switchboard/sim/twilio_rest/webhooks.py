"""Requests the emulator makes as Twilio: signed webhooks, and the status callbacks of each call, in order.

Every request carries `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL + each parameter's name and value
sorted by name)), for POST; for GET the parameters go in the query string and only the URL is signed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

import aiohttp

from switchboard.common.security.twilio_signature import compute_signature

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
USER_AGENT = "TwilioProxy/1.1"


@dataclass(slots=True)
class Delivery:
    """One request to a webhook: what was sent and how the server answered (`status` 0: no answer)."""

    url: str
    method: str
    params: dict[str, str]
    signature: str
    status: int = 0
    body: str = ""
    content_type: str = ""
    error: str = ""
    sent_at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        """Whether the server answered 2xx."""
        return 200 <= self.status < 300


class WebhookClient:
    """Sends signed webhooks with the account's auth token; keeps every delivery in `deliveries`."""

    def __init__(self, session: aiohttp.ClientSession, auth_token: str, timeout_s: float = 15.0) -> None:
        self._session = session
        self._auth_token = auth_token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.deliveries: list[Delivery] = []

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        """The signature Twilio sends for a POST of `params` to `url`."""
        return compute_signature(self._auth_token, url, params)

    async def send(self, url: str, params: Mapping[str, str], method: str = "POST") -> Delivery:
        """POST (or GET) `params` to `url`, signed; never raises for HTTP or network failures."""
        method = method.upper()
        if method == "GET":
            target = url + ("&" if "?" in url else "?") + urlencode(params)
            delivery = Delivery(target, method, dict(params), self.sign(target, {}))
            request = self._session.get(target, headers=self._headers(delivery), timeout=self._timeout)
        else:
            delivery = Delivery(url, method, dict(params), self.sign(url, params))
            request = self._session.post(
                url, data=dict(params), headers=self._headers(delivery), timeout=self._timeout
            )
        self.deliveries.append(delivery)
        try:
            async with request as response:
                delivery.status = response.status
                delivery.content_type = response.headers.get("Content-Type", "")
                delivery.body = await response.text()
        except (aiohttp.ClientError, TimeoutError) as e:
            delivery.error = f"{type(e).__name__}: {e}"
            logger.warning("webhook %s %s failed: %s", method, url, delivery.error)
        return delivery

    @staticmethod
    def _headers(delivery: Delivery) -> dict[str, str]:
        return {SIGNATURE_HEADER: delivery.signature, "User-Agent": USER_AGENT}


EVENT_OF_STATUS = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}
"""The `StatusCallbackEvent` that subscribes to each status; every final status belongs to `completed`."""


def event_of(status: str) -> str:
    """The `StatusCallbackEvent` name that reports `status`."""
    return EVENT_OF_STATUS.get(status, "completed")


class StatusCallbacks:
    """The status callbacks of one call: numbered in the order sent, posted one at a time in that order.

    With `hold`, callbacks are kept in `held` instead of being sent, so a test can `release` them in any order
    (Twilio documents that they may arrive out of order).
    """

    def __init__(
        self,
        client: WebhookClient,
        url: str,
        events: Iterable[str],
        method: str = "POST",
        *,
        hold: bool = False,
    ) -> None:
        self.url = url
        self.events = frozenset(events) if url else frozenset()
        self.method = method
        self.hold = hold
        self.held: list[dict[str, str]] = []
        self.deliveries: list[Delivery] = []
        self._client = client
        self._sequence = 0
        self._queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def notify(self, status: str, params: Mapping[str, str]) -> dict[str, str] | None:
        """Queue the callback of `status` if the call subscribed to its event; returns its parameters."""
        if event_of(status) not in self.events:
            return None
        numbered = {**params, "SequenceNumber": str(self._sequence)}
        self._sequence += 1
        if self.hold:
            self.held.append(numbered)
        else:
            if self._worker is None:
                self._worker = asyncio.get_running_loop().create_task(self._send_in_order())
            self._queue.put_nowait(numbered)
        return numbered

    async def release(self, order: Iterable[int] | None = None) -> list[Delivery]:
        """Send the held callbacks now, in `order` (indexes into `held`; default: reversed); stop holding."""
        held, self.held = self.held, []
        self.hold = False
        indexes = list(order) if order is not None else list(range(len(held)))[::-1]
        sent = []
        for index in indexes:
            sent.append(await self._post(held[index]))
        return sent

    async def drain(self) -> None:
        """Wait until every queued callback has been sent."""
        await self._queue.join()

    async def aclose(self) -> None:
        """Stop sending (what is still queued is dropped)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _send_in_order(self) -> None:
        while True:
            params = await self._queue.get()
            try:
                await self._post(params)
            finally:
                self._queue.task_done()

    async def _post(self, params: dict[str, str]) -> Delivery:
        delivery = await self._client.send(self.url, params, self.method)
        self.deliveries.append(delivery)
        return delivery

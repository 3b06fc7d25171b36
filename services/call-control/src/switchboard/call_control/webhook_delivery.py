"""Delivering result webhooks: at least once, from a durable JetStream consumer shared by the replicas.

Each queued event goes to one replica at a time. A 2xx acknowledges it; a timeout, a refused connection, a 408,
a 429 or a 5xx is tried again later (the message is NAK'd with the next delay of the schedule, so the server
holds it, not a process); any other answer (a 4xx, a redirect: redirects are never followed) gives up at once.
After the last try, or on giving up, the event is copied to the dead letters (`webhook.dead.{call_id}`) and the
record says why. The record is checked before each try, so an event acknowledged once is not sent again under
the same id even if its acknowledgement to the server was lost (only an operator's redelivery sends it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import aiohttp
from nats.aio.msg import Msg
from nats.js import api as js_api

from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.pull_batches import pull_batches
from switchboard.call_control.webhook_outbox import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    PROFILE_HEADER,
    REDELIVERY_HEADER,
    URL_HEADER,
)
from switchboard.call_control.webhook_signing import (
    EVENT_ID_HEADER as HTTP_EVENT_ID,
)
from switchboard.call_control.webhook_signing import (
    EVENT_TYPE_HEADER as HTTP_EVENT_TYPE,
)
from switchboard.call_control.webhook_signing import (
    SIGNATURE_HEADER,
    WebhookSecrets,
    signature,
)
from switchboard.call_control.webhook_targets import GuardedResolver, WebhookTargetPolicy
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.calls.record import CallRecord, DeliveryState, WebhookDelivery
from switchboard.common.calls.store import CallStore, RecordNotFound

logger = logging.getLogger(__name__)

USER_AGENT = "Switchboard-Webhooks/1"
RETRYABLE_STATUSES = frozenset({408, 429})
MAX_ERROR_TEXT = 300


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    """How deliveries are made."""

    retry_delays_s: tuple[float, ...]
    timeout_s: float = 5.0
    concurrency: int = 16
    max_response_bytes: int = 4096

    @property
    def max_attempts(self) -> int:
        """Tries in all: the first and one after each delay."""
        return len(self.retry_delays_s) + 1


@dataclass(frozen=True, slots=True)
class _Attempt:
    state: DeliveryState
    status: int = 0
    error: str = ""


def classify(status: int) -> DeliveryState:
    """What an HTTP answer means for the delivery: delivered, tried again later, or refused for good."""
    if 200 <= status < 300:
        return "delivered"
    if status in RETRYABLE_STATUSES or status >= 500:
        return "retrying"
    return "refused"


class WebhookDeliverer:
    """Consumes `webhook.send.>` and POSTs each event, signed, to its URL."""

    def __init__(
        self,
        bus: Bus,
        store: CallStore,
        secrets: WebhookSecrets,
        policy: WebhookTargetPolicy,
        config: DeliveryConfig,
        metrics: CallControlMetrics,
    ) -> None:
        self._bus = bus
        self._store = store
        self._secrets = secrets
        self._policy = policy
        self._config = config
        self._metrics = metrics

    def consumer_config(self) -> js_api.ConsumerConfig:
        """The durable consumer every replica shares."""
        return js_api.ConsumerConfig(
            durable_name=subjects.WEBHOOK_DELIVERY_CONSUMER,
            filter_subject=subjects.webhook_outbox(subjects.ANY),
            ack_policy=js_api.AckPolicy.EXPLICIT,
            ack_wait=self._config.timeout_s + 30.0,
            max_deliver=self._config.max_attempts,
            max_ack_pending=1000,
            deliver_policy=js_api.DeliverPolicy.ALL,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; the requests under way finish first."""
        sub = await self._bus.js.pull_subscribe(
            subjects.webhook_outbox(subjects.ANY),
            durable=subjects.WEBHOOK_DELIVERY_CONSUMER,
            stream=subjects.WEBHOOKS_STREAM,
            config=self.consumer_config(),
        )
        slots = asyncio.Semaphore(self._config.concurrency)
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self._policy), limit=self._config.concurrency
        )
        async with (
            aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT}) as http,
            asyncio.TaskGroup() as tasks,
        ):
            async for messages in pull_batches(
                sub, stop, batch=self._config.concurrency, what="webhook events"
            ):
                for msg in messages:
                    await slots.acquire()
                    tasks.create_task(self._deliver_and_release(http, msg, slots))

    async def _deliver_and_release(
        self, http: aiohttp.ClientSession, msg: Msg, slots: asyncio.Semaphore
    ) -> None:
        try:
            await self.deliver(http, msg)
        except Exception:  # one event's failure must not stop the others: it is tried again after ack_wait
            logger.exception("delivering a webhook event failed")
        finally:
            slots.release()

    async def deliver(self, http: aiohttp.ClientSession, msg: Msg) -> None:
        """Try one event once and settle its message: ack, NAK with a delay, or dead-letter and terminate."""
        headers = msg.headers or {}
        call_id = subjects.last_token(msg.subject)
        eid = headers.get(EVENT_ID_HEADER, "")
        event_type = headers.get(EVENT_TYPE_HEADER, "")
        url = headers.get(URL_HEADER, "")
        attempt = msg.metadata.num_delivered
        record = await self._store.find(call_id)
        if record is not None and not headers.get(REDELIVERY_HEADER):
            known = record.deliveries.get(eid)
            if known is not None and known.state == "delivered":
                await msg.ack()
                return
        secret = self._secrets.for_profile(headers.get(PROFILE_HEADER, ""))
        if secret is None:
            result = _Attempt("refused", error="no webhook secret is configured for this profile")
        else:
            result = await self._post(http, url, msg.data, eid, event_type, secret, attempt)
        if result.state == "retrying" and attempt >= self._config.max_attempts:
            result = _Attempt("exhausted", result.status, result.error)
        self._metrics.webhook_deliveries.labels(event_type, result.state).inc()
        if result.state in ("refused", "exhausted"):
            kept = {key: value for key, value in headers.items() if not key.startswith("Nats-")}
            kept["Switchboard-Dead-Reason"] = f"{result.state}: {result.error}"[:MAX_ERROR_TEXT]
            await self._bus.js.publish(subjects.webhook_dead_letter(call_id), msg.data, headers=kept)
        await self._note(call_id, eid, event_type, url, attempt, result)
        if result.state == "delivered":
            self._metrics.webhook_delay.observe(max(0.0, time.time() - msg.metadata.timestamp.timestamp()))
            await msg.ack()
        elif result.state == "retrying":
            delay = self._config.retry_delays_s[min(attempt, len(self._config.retry_delays_s)) - 1]
            logger.info(
                "webhook %s to %s failed (%s); try %d of %d in %.0f s",
                eid,
                url,
                result.error,
                attempt + 1,
                self._config.max_attempts,
                delay,
                extra={"call_id": call_id},
            )
            await msg.nak(delay=delay)
        else:
            logger.warning(
                "webhook %s to %s given up (%s): %s",
                eid,
                url,
                result.state,
                result.error,
                extra={"call_id": call_id},
            )
            await msg.term()

    async def _post(
        self,
        http: aiohttp.ClientSession,
        url: str,
        body: bytes,
        eid: str,
        event_type: str,
        secret: str,
        attempt: int,
    ) -> _Attempt:
        request_headers = {
            "Content-Type": "application/json",
            HTTP_EVENT_ID: eid,
            HTTP_EVENT_TYPE: event_type,
            SIGNATURE_HEADER: signature(secret, body, int(time.time())),
            "Switchboard-Delivery-Attempt": str(attempt),
        }
        started = time.perf_counter()
        try:
            self._policy.parse(url)
            async with http.post(
                url,
                data=body,
                headers=request_headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._config.timeout_s),
            ) as response:
                text = await response.content.read(self._config.max_response_bytes)
                state = classify(response.status)
                error = "" if state == "delivered" else f"HTTP {response.status}: {_short(text)}"
                return _Attempt(state, response.status, error)
        except TimeoutError:
            return _Attempt("retrying", error=f"no answer within {self._config.timeout_s:g} s")
        except aiohttp.ClientConnectorDNSError as exc:
            if "non-public address" in str(exc.os_error):
                return _Attempt("refused", error=str(exc.os_error))
            return _Attempt("retrying", error=f"cannot resolve the host: {exc.os_error}")
        except (aiohttp.ClientError, OSError) as exc:
            return _Attempt("retrying", error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT])
        except Exception as exc:  # a URL that aiohttp cannot use, or a refused one: no retry helps
            return _Attempt("refused", error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT])
        finally:
            self._metrics.webhook_seconds.observe(time.perf_counter() - started)

    async def _note(
        self, call_id: str, eid: str, event_type: str, url: str, attempt: int, result: _Attempt
    ) -> None:
        now = time.time_ns()

        def noted(current: CallRecord) -> CallRecord:
            known = current.deliveries.get(eid) or WebhookDelivery(event_type=event_type, url=url)
            current.deliveries = {
                **current.deliveries,
                eid: WebhookDelivery(
                    event_type=event_type,
                    url=url,
                    state=result.state,
                    attempts=max(known.attempts, attempt),
                    last_status=result.status,
                    last_error=result.error,
                    updated_ns=now,
                    delivered_ns=now if result.state == "delivered" else known.delivered_ns,
                ),
            }
            return current

        with contextlib.suppress(RecordNotFound):
            await self._store.update(call_id, noted)


def _short(text: bytes) -> str:
    return text.decode("utf-8", "replace").replace("\n", " ")[:MAX_ERROR_TEXT]

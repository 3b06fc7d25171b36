"""Result webhooks of calls: which URL a call's events go to, queued when the call ends, and redelivered on request.

Calls end in whichever replica (or service) saw the end; every end is published as a `CallEnded` event. A durable
consumer of those events, shared by the replicas, queues the `call.ended` webhook once per call, so no end is
missed while call-control restarts (the consumer resumes where it stopped) and none is sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.js import api as js_api

from switchboard.call_control.problems import ApiProblem
from switchboard.call_control.pull_batches import pull_batches
from switchboard.call_control.webhook_outbox import CALL_ENDED, WebhookOutbox, call_data
from switchboard.call_control.webhook_signing import WebhookSecrets
from switchboard.call_control.webhook_targets import WebhookTargetPolicy
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import CallEnded
from switchboard.common.calls.record import CallRecord
from switchboard.common.calls.store import CallStore
from switchboard.common.errors import SwitchboardError
from switchboard.common.profiles import ProfileStore

logger = logging.getLogger(__name__)

EndHandler = Callable[[CallRecord], Awaitable[None]]


class ResultWebhooks:
    """Queues each call's `call.ended` event to its webhook URL (the call's, else its profile's, else the default)."""

    def __init__(
        self,
        bus: Bus,
        store: CallStore,
        profiles: ProfileStore,
        outbox: WebhookOutbox,
        *,
        policy: WebhookTargetPolicy,
        secrets: WebhookSecrets,
        default_url: str = "",
    ) -> None:
        self._policy = policy
        self._secrets = secrets
        self._bus = bus
        self._store = store
        self._profiles = profiles
        self._outbox = outbox
        self._default_url = default_url
        self.end_handlers: list[EndHandler] = [self.send_call_ended]
        """What happens to every ended call, in order (the retry scheduler adds itself here)."""

    async def check_call_url(self, url: str, profile: str) -> str:
        """`url` if a call of `profile` may send its webhooks there; raises `ApiProblem` (422) saying why not."""
        await self._policy.check(url)
        if self._secrets.for_profile(profile) is None:
            raise ApiProblem(
                422,
                "invalid_webhook_url",
                f"webhook_url: no signing secret is configured for profile {profile!r}",
            )
        return url

    async def url_for(self, record: CallRecord) -> str:
        """Where `record`'s webhooks go ("" when nowhere)."""
        if record.webhook_url:
            return record.webhook_url
        with contextlib.suppress(SwitchboardError):
            profile, _ = await self._profiles.get(record.profile)
            if profile.webhook_url:
                return profile.webhook_url
        return self._default_url

    async def send_call_ended(self, record: CallRecord) -> None:
        """Queue the `call.ended` event of `record` (nothing when it has no webhook URL)."""
        url = await self.url_for(record)
        if url:
            history = await self._bus.call_history(record.call_id)
            await self._outbox.enqueue(record, CALL_ENDED, url, call_data(record, history))

    async def redeliver(self, record: CallRecord) -> list[str]:
        """Queue again every event of `record` that was queued before; returns their ids."""
        if not record.deliveries:
            raise ApiProblem(409, "no_webhook_events", f"call {record.call_id} has sent no webhook event")
        history = await self._bus.call_history(record.call_id)
        sent = []
        for delivery in record.deliveries.values():
            sent.append(
                await self._outbox.enqueue(
                    record, delivery.event_type, delivery.url, call_data(record, history), redelivery=True
                )
            )
        return sent

    def consumer_config(self) -> js_api.ConsumerConfig:
        """The durable consumer of `CallEnded` events every replica shares (new ends only, on first start)."""
        return js_api.ConsumerConfig(
            durable_name=subjects.CALL_ENDED_CONSUMER,
            filter_subject=subjects.event(subjects.ANY, CallEnded.type_name()),
            ack_policy=js_api.AckPolicy.EXPLICIT,
            ack_wait=30.0,
            max_deliver=20,
            deliver_policy=js_api.DeliverPolicy.NEW,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Act on every ended call until `stop` is set."""
        sub = await self._bus.js.pull_subscribe(
            subjects.event(subjects.ANY, CallEnded.type_name()),
            durable=subjects.CALL_ENDED_CONSUMER,
            stream=subjects.CALL_EVENTS_STREAM,
            config=self.consumer_config(),
        )
        async for messages in pull_batches(sub, stop, batch=32, what="ended calls"):
            for msg in messages:
                call_id = subjects.call_id_of(msg.subject)
                try:
                    record = await self._store.find(call_id)
                    if record is not None:
                        for handler in self.end_handlers:
                            await handler(record)
                except Exception:  # tried again after ack_wait; the other calls go on
                    logger.exception("acting on the end of a call failed", extra={"call_id": call_id})
                    continue
                await msg.ack()

"""call-control assembled: the buckets it uses, the Twilio client, the services, the bus listener."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from livekit import api
from nats.js.kv import KeyValue

from switchboard.call_control.access import ApiKeys, RateLimiter
from switchboard.call_control.call_attempts import AttemptPlanner
from switchboard.call_control.call_schedule import CallScheduler, ensure_schedule_stream
from switchboard.call_control.calls import CallService
from switchboard.call_control.control import ControlListener
from switchboard.call_control.idempotency import IdempotencyKeys
from switchboard.call_control.livekit_telephony import LiveKitTelephony
from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.numbers import NumberPolicy
from switchboard.call_control.profile_files import publish_profiles
from switchboard.call_control.result_webhooks import ResultWebhooks
from switchboard.call_control.settings import CallControlSettings, StartConfig
from switchboard.call_control.status import StatusTracker
from switchboard.call_control.telephony import TwilioTelephony
from switchboard.call_control.twilio_api import TwilioApiHttpClient, TwilioCalls
from switchboard.call_control.webhook_delivery import DeliveryConfig, WebhookDeliverer
from switchboard.call_control.webhook_outbox import WebhookLimits, WebhookOutbox, ensure_webhooks_stream
from switchboard.call_control.webhooks import TwilioSignatures
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.connection import ensure_bucket
from switchboard.common.calls.store import CallStore
from switchboard.common.profiles import Profile, ProfileStore
from switchboard.common.recordings.store import RecordingStore, ensure_recordings

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallControl:
    """Everything the HTTP app and the bus listener use."""

    settings: CallControlSettings
    metrics: CallControlMetrics
    service: CallService
    tracker: StatusTracker
    idempotency: IdempotencyKeys
    calls_kv: KeyValue
    keys: ApiKeys
    limiter: RateLimiter
    auth_failures: RateLimiter
    signatures: TwilioSignatures
    profile_revisions: dict[str, int]
    webhooks: ResultWebhooks
    livekit: LiveKitTelephony | None = None
    livekit_webhooks: api.WebhookReceiver | None = None
    recordings: RecordingStore | None = None
    profiles: ProfileStore | None = None


@contextlib.asynccontextmanager
async def running(
    bus: Bus,
    settings: CallControlSettings,
    config: StartConfig,
    profiles: dict[str, Profile],
    metrics: CallControlMetrics,
) -> AsyncIterator[CallControl]:
    """Publish the profiles, open the Twilio client, listen to `ctl.hangup`/`ctl.transfer`; undo on exit."""
    calls_kv = await bus.js.key_value(subjects.CALLS_BUCKET)
    profile_store = ProfileStore(await bus.js.key_value(subjects.PROFILES_BUCKET))
    idempotency_kv = await ensure_bucket(
        bus.js, subjects.IDEMPOTENCY_BUCKET, ttl_s=settings.idempotency_ttl_s
    )
    revisions = await publish_profiles(profile_store, profiles)
    recordings = RecordingStore(
        await ensure_recordings(
            bus.js,
            settings.recordings_bucket,
            ttl_s=settings.recordings_retention_days * 86400,
            replicas=settings.jetstream_replicas,
        )
    )
    store = CallStore(calls_kv, bus.js)
    tracker = StatusTracker(bus, store, metrics)
    await ensure_webhooks_stream(bus.js, WebhookLimits(replicas=settings.jetstream_replicas))
    await ensure_schedule_stream(bus.js, replicas=settings.jetstream_replicas)
    scheduler = CallScheduler(bus, store, metrics)
    async with aiohttp.ClientSession() as session:
        http = TwilioApiHttpClient(
            session, base_url=settings.twilio_api_base_url, timeout_s=settings.twilio_timeout_s
        )
        livekit = None
        if settings.livekit_url:
            livekit = LiveKitTelephony(
                api.LiveKitAPI(
                    settings.livekit_url, settings.livekit_api_key, config.livekit_api_secret, session=session
                ),
                bus=bus,
                store=store,
                tracker=tracker,
                settings=settings,
                metrics=metrics,
            )
        twilio_calls = TwilioCalls(settings.twilio_account_sid, config.twilio_auth_token, http, metrics)
        numbers = NumberPolicy(settings.allowed_countries)
        # What the first call would otherwise import or load (the SDK's resources, numbering metadata).
        twilio_calls.warm_up()
        numbers.warm_up()
        service = CallService(
            bus=bus,
            store=store,
            profiles=profile_store,
            twilio=TwilioTelephony(twilio_calls, settings, config),
            numbers=numbers,
            settings=settings,
            config=config,
            metrics=metrics,
            others=(livekit,) if livekit is not None else (),
            scheduler=scheduler,
        )
        listener = ControlListener(service, tracker, metrics)
        await listener.start()
        policy = settings.webhook_policy()
        outbox = WebhookOutbox(bus, store)
        webhooks = ResultWebhooks(
            bus,
            store,
            profile_store,
            outbox,
            policy=policy,
            secrets=config.webhook_secrets,
            default_url=settings.result_webhook_url,
        )
        deliverer = WebhookDeliverer(
            bus,
            store,
            config.webhook_secrets,
            policy,
            DeliveryConfig(
                settings.result_webhook_retry_delays_s, timeout_s=settings.result_webhook_timeout_s
            ),
            metrics,
        )
        planner = AttemptPlanner(bus, store, scheduler, webhooks, outbox, metrics)
        webhooks.end_handlers.append(planner.on_call_ended)
        stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(webhooks.run(stop), name="call-ended-watcher")
                tasks.create_task(deliverer.run(stop), name="webhook-deliverer")
                tasks.create_task(scheduler.run(stop), name="call-scheduler")
                tasks.create_task(scheduler.count_pending_until(stop), name="scheduled-calls-gauge")
                try:
                    yield CallControl(
                        settings=settings,
                        metrics=metrics,
                        service=service,
                        tracker=tracker,
                        idempotency=IdempotencyKeys(idempotency_kv),
                        calls_kv=calls_kv,
                        keys=ApiKeys(config.api_keys),
                        limiter=RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst),
                        auth_failures=RateLimiter(settings.auth_failures_per_s, settings.auth_failure_burst),
                        signatures=TwilioSignatures(
                            config.twilio_auth_token,
                            settings.twilio_account_sid,
                            settings.public_base_url,
                            metrics,
                        ),
                        profile_revisions=revisions,
                        webhooks=webhooks,
                        livekit=livekit,
                        livekit_webhooks=(
                            api.WebhookReceiver(
                                api.TokenVerifier(settings.livekit_api_key, config.livekit_api_secret)
                            )
                            if livekit is not None
                            else None
                        ),
                        recordings=recordings,
                        profiles=profile_store,
                    )
                finally:
                    stop.set()
        finally:
            await listener.stop()
            if livekit is not None:
                await livekit.close()

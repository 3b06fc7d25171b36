"""The NATS connection with production settings, and the JetStream resources the platform needs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from switchboard.common.bus import subjects
from switchboard.common.runtime.metrics import BusMetrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BusOptions:
    """How to reach NATS; built from a service's settings."""

    url: str
    name: str
    user: str | None = None
    password: str | None = None
    token: str | None = None
    ping_interval_s: int = 5
    max_outstanding_pings: int = 3
    reconnect_wait_s: float = 0.5
    connect_timeout_s: float = 5.0


async def connect(options: BusOptions, metrics: BusMetrics) -> NatsClient:
    """Connect with unlimited reconnects, a short ping interval and every callback logged and counted.

    nats-py's defaults give up after about two minutes and notice a dead server only after about four, which a
    call cannot survive; permission violations arrive at `error_cb`, never as exceptions.
    """

    async def on_error(exc: Exception) -> None:
        metrics.connection_events.labels("error").inc()
        logger.warning("nats error: %s", exc)

    clients: list[NatsClient] = []  # the client, once connected: a close we asked for is no warning

    async def on_disconnected() -> None:
        metrics.connection_events.labels("disconnected").inc()
        metrics.connected.set(0)
        if clients and clients[0].is_closed:
            logger.info("nats connection closed")
        else:
            logger.warning("nats disconnected")

    async def on_reconnected() -> None:
        metrics.connection_events.labels("reconnected").inc()
        metrics.connected.set(1)
        logger.info("nats reconnected")

    async def on_closed() -> None:
        metrics.connection_events.labels("closed").inc()
        metrics.connected.set(0)

    client = await nats.connect(
        servers=options.url.split(","),
        name=options.name,
        user=options.user,
        password=options.password,
        token=options.token,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=options.reconnect_wait_s,
        connect_timeout=options.connect_timeout_s,
        ping_interval=options.ping_interval_s,
        max_outstanding_pings=options.max_outstanding_pings,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        closed_cb=on_closed,
    )
    clients.append(client)
    metrics.connected.set(1)
    return client


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Retention of the durable resources."""

    events_max_age_s: float = 7 * 24 * 3600
    calls_ttl_s: float = 30 * 24 * 3600
    replicas: int = 1


async def ensure_jetstream(js: JetStreamContext, limits: StreamLimits | None = None) -> None:
    """Create (or bring up to date) the stream `CALL_EVENTS` and the KV buckets `calls` and `profiles`.

    Idempotent: every service may call it at start, in any order, concurrently.
    """
    limits = limits or StreamLimits()
    events = js_api.StreamConfig(
        name=subjects.CALL_EVENTS_STREAM,
        subjects=[subjects.call_events(subjects.ANY)],
        storage=js_api.StorageType.FILE,
        retention=js_api.RetentionPolicy.LIMITS,
        max_age=limits.events_max_age_s,
        num_replicas=limits.replicas,
        duplicate_window=120.0,
    )
    await ensure_stream(js, events)
    await ensure_bucket(js, subjects.CALLS_BUCKET, ttl_s=limits.calls_ttl_s, replicas=limits.replicas)
    await ensure_bucket(js, subjects.PROFILES_BUCKET, history=5, replicas=limits.replicas)


async def ensure_stream(js: JetStreamContext, config: js_api.StreamConfig) -> None:
    """Create the stream of `config`, or bring it up to date; idempotent, safe from every replica at once."""
    try:
        await js.stream_info(config.name or "")
        await js.update_stream(config)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:  # created concurrently by another service
            await js.update_stream(config)


async def ensure_bucket(
    js: JetStreamContext, bucket: str, *, history: int = 1, ttl_s: float | None = None, replicas: int = 1
) -> KeyValue:
    """The KV bucket `bucket`, created with file storage if it does not exist."""
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(
            bucket=bucket,
            history=history,
            ttl=ttl_s,
            storage=js_api.StorageType.FILE,
            replicas=replicas,
        )
    except nats.js.errors.BadRequestError:  # created concurrently by another service
        return await js.key_value(bucket)

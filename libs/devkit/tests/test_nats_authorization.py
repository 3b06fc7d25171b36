"""Production's NATS users and permissions on a real nats-server: each service may do what it does, and no more.

The server runs with deploy/k8s/nats-authorization.conf, the file production's nats.conf includes, through
EmbeddedNats's dev config (as `make dev` and the end-to-end tests run it). For each service user, the subjects
its service publishes and subscribes to (built with subjects.py, the names from messages.py) must pass, and
subjects of another service's part must be refused: a missing grant fails here instead of dropping a call's
messages in production, where the only sign is the client's error callback. docker-compose.yml's NATS, which
includes the same file, is run here too.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
import yaml
from nats.aio.client import Client as NatsClient
from nats.js import api as js_api

from switchboard.common.bus import subjects
from switchboard.common.bus.connection import ensure_bucket, ensure_jetstream, ensure_stream
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.messages import (
    BargeIn,
    CallCreated,
    CallEnded,
    CallProgress,
    CallTransferred,
    Clear,
    ComponentAttached,
    DtmfReceived,
    ErrorOccurred,
    FieldCaptured,
    Hangup,
    Heartbeat,
    MediaStarted,
    MediaStopped,
    Playout,
    SendDtmf,
    StatusChanged,
    ToolCalled,
    TranscriptTurn,
    Transfer,
)
from switchboard.common.recordings.layout import Manifest
from switchboard.common.recordings.store import RecordingStore, ensure_recordings
from switchboard.devkit.dev_config import NATS_USER_OF
from switchboard.devkit.nats_authorization import (
    DEV_USER,
    SHARED_AUTHORIZATION,
    NatsAuthorization,
    service_users,
)
from switchboard.devkit.nats_server import EmbeddedNats, free_port, nats_server_binary
from switchboard.devkit.processes import stop_process

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CALL = "CA0123456789abcdef"
PROVIDERS = ("openai", "gemini")


def _audio(direction: Direction) -> list[str]:
    return [subjects.audio(CALL, direction, fmt) for fmt in AudioFormat]


def _controls(*names: str) -> list[str]:
    return [subjects.control(CALL, name) for name in names]


def _events(*names: str) -> list[str]:
    return [subjects.event(CALL, name) for name in names]


def _kv(bucket: str) -> str:
    return f"$KV.{bucket}.{CALL}"


RECORDING_CHUNK = "$O.recordings.C.chunk"
SENTINEL = "not.granted.to.anyone"


@dataclass(frozen=True)
class Uses:
    """What one service user publishes and subscribes to, and what it must not."""

    publish: list[str]
    subscribe: list[str]
    queue_subscribe: list[str] = field(default_factory=list)
    """Subjects it serves as a queue group (attach requests)."""
    refused_publish: list[str] = field(default_factory=list)
    refused_subscribe: list[str] = field(default_factory=list)


USES: dict[str, Uses] = {
    "transcoder": Uses(
        publish=[
            *_audio(Direction.IN),
            *_audio(Direction.OUT),
            *_controls(Heartbeat.type_name()),
            *_events(ComponentAttached.type_name()),
        ],
        subscribe=[
            *_audio(Direction.IN),
            *_audio(Direction.OUT),
            *_controls(Clear.type_name()),
            *_events(MediaStopped.type_name(), CallEnded.type_name()),
        ],
        queue_subscribe=[subjects.transcoder_attach()],
        refused_publish=[
            *_controls(Hangup.type_name(), Playout.type_name()),
            *_events(CallEnded.type_name(), TranscriptTurn.type_name()),
            _kv(subjects.CALLS_BUCKET),
            subjects.agent_attach("openai"),
        ],
        refused_subscribe=[subjects.call_events(subjects.ANY), subjects.agent_attach("openai")],
    ),
    "media-edge": Uses(
        publish=[
            *_audio(Direction.IN),
            *_controls(
                Playout.type_name(), Heartbeat.type_name(), Hangup.type_name(), CallProgress.type_name()
            ),
            *_events(
                MediaStarted.type_name(),
                MediaStopped.type_name(),
                DtmfReceived.type_name(),
                ErrorOccurred.type_name(),
            ),
            subjects.transcoder_attach(),
            *[subjects.agent_attach(provider) for provider in PROVIDERS],
            _kv(subjects.CALLS_BUCKET),
            RECORDING_CHUNK,
        ],
        subscribe=[
            *_audio(Direction.OUT),
            *_controls(Clear.type_name(), Hangup.type_name(), SendDtmf.type_name(), Heartbeat.type_name()),
        ],
        queue_subscribe=[subjects.edge_attach("livekit")],
        refused_publish=[
            *_audio(Direction.OUT),
            *_controls(Clear.type_name()),
            *_events(CallCreated.type_name(), CallEnded.type_name(), TranscriptTurn.type_name()),
            _kv(subjects.PROFILES_BUCKET),
            subjects.webhook_outbox(CALL),
        ],
        refused_subscribe=[*_audio(Direction.IN), subjects.call_events(subjects.ANY)],
    ),
    "call-control": Uses(
        publish=[
            *_events(
                CallCreated.type_name(),
                StatusChanged.type_name(),
                CallEnded.type_name(),
                CallTransferred.type_name(),
                ErrorOccurred.type_name(),
            ),
            subjects.edge_attach("livekit"),
            _kv(subjects.CALLS_BUCKET),
            _kv(subjects.PROFILES_BUCKET),
            _kv(subjects.IDEMPOTENCY_BUCKET),
            subjects.webhook_outbox(CALL),
            subjects.webhook_dead_letter(CALL),
            subjects.call_schedule(CALL),
            RECORDING_CHUNK,
        ],
        subscribe=[
            *[
                subjects.control(subjects.ANY, name)
                for name in (Hangup.type_name(), Transfer.type_name(), CallProgress.type_name())
            ],
            subjects.call_events(subjects.ANY),
            subjects.call_events(CALL),
        ],
        refused_publish=[
            *_audio(Direction.IN),
            *_controls(Clear.type_name(), Hangup.type_name()),
            *_events(TranscriptTurn.type_name(), MediaStarted.type_name()),
            subjects.transcoder_attach(),
            f"$JS.API.STREAM.PURGE.{subjects.CALL_EVENTS_STREAM}",
        ],
        refused_subscribe=[*_audio(Direction.IN), *_controls(Clear.type_name())],
    ),
    "agent": Uses(
        publish=[
            *_audio(Direction.OUT),
            *_controls(
                Clear.type_name(),
                Hangup.type_name(),
                Transfer.type_name(),
                SendDtmf.type_name(),
                Heartbeat.type_name(),
            ),
            *_events(
                ComponentAttached.type_name(),
                TranscriptTurn.type_name(),
                ToolCalled.type_name(),
                BargeIn.type_name(),
                FieldCaptured.type_name(),
                ErrorOccurred.type_name(),
            ),
            _kv(subjects.CALLS_BUCKET),
        ],
        subscribe=[
            *_audio(Direction.IN),
            *_controls(Playout.type_name(), Heartbeat.type_name()),
            *_events(MediaStopped.type_name(), CallEnded.type_name()),
        ],
        queue_subscribe=[subjects.agent_attach(provider) for provider in PROVIDERS],
        refused_publish=[
            *_audio(Direction.IN),
            *_controls(Playout.type_name(), CallProgress.type_name()),
            *_events(CallCreated.type_name(), StatusChanged.type_name(), CallEnded.type_name()),
            _kv(subjects.PROFILES_BUCKET),
            RECORDING_CHUNK,
            f"$JS.API.STREAM.DELETE.{subjects.CALL_EVENTS_STREAM}",
        ],
        refused_subscribe=[*_audio(Direction.OUT), subjects.call_events(subjects.ANY)],
    ),
}


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedNats]:
    with EmbeddedNats(authorization=NatsAuthorization.random()) as running:
        yield running


async def _connect(
    server: EmbeddedNats, user: str, errors: list[str], sentinel_refused: asyncio.Event | None = None
) -> NatsClient:
    assert server.authorization is not None

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))
        if sentinel_refused is not None and SENTINEL in _refused(errors[-1:], "publish"):
            sentinel_refused.set()

    return await nats.connect(
        server.address,
        user=user,
        password=server.authorization.passwords[user],
        error_cb=on_error,
        allow_reconnect=False,
    )


def _refused(errors: list[str], action: str) -> set[str]:
    """The subjects the server refused, from its errors (`permissions violation for publish to "x"`).

    nats-py lowercases the server's message: so are the subjects returned.
    """
    marker = f"permissions violation for {action} to "
    return {error.split(marker, 1)[1].strip('"') for error in errors if marker in error.lower()}


async def _refusals(
    server: EmbeddedNats, user: str, publish: list[str], subscribe: list[str], queue: list[str]
) -> tuple[set[str], set[str]]:
    """What the server refused of these publications and subscriptions, as (publish, subscribe) subjects.

    The server's errors may come after its answer to a flush: a last publication nobody may make (SENTINEL)
    marks the end, as the errors come in order.
    """
    errors: list[str] = []
    sentinel_refused = asyncio.Event()
    nc = await _connect(server, user, errors, sentinel_refused)
    try:
        for subject in publish:
            await nc.publish(subject, b"")
        for subject in subscribe:
            await nc.subscribe(subject)
        for subject in queue:
            await nc.subscribe(subject, queue="attach")
        await nc.publish(SENTINEL, b"")
        await nc.flush()
        await asyncio.wait_for(sentinel_refused.wait(), 10)
    finally:
        await nc.close()
    return _refused(errors, "publish") - {SENTINEL}, _refused(errors, "subscription")


def test_the_users_are_the_services_users() -> None:
    assert {user.user for user in service_users()} == set(NATS_USER_OF.values()) == set(USES)


@pytest.mark.parametrize("user", sorted(USES))
async def test_each_service_user_may_use_its_services_subjects(server: EmbeddedNats, user: str) -> None:
    uses = USES[user]
    inbox = "_INBOX.reply"
    refused_publish, refused_subscribe = await _refusals(
        server, user, uses.publish, [*uses.subscribe, inbox], uses.queue_subscribe
    )
    assert refused_publish == set(), f"{user} may not publish what its service publishes"
    assert refused_subscribe == set(), f"{user} may not subscribe to what its service subscribes to"


@pytest.mark.parametrize("user", sorted(USES))
async def test_each_service_user_is_refused_other_services_subjects(server: EmbeddedNats, user: str) -> None:
    uses = USES[user]
    refused_publish, refused_subscribe = await _refusals(
        server, user, uses.refused_publish, uses.refused_subscribe, []
    )
    assert refused_publish == {subject.lower() for subject in uses.refused_publish}
    assert refused_subscribe == {subject.lower() for subject in uses.refused_subscribe}


@pytest.mark.parametrize("user", sorted(USES))
async def test_each_service_user_sets_up_and_reads_the_platforms_jetstream_resources(
    server: EmbeddedNats, user: str
) -> None:
    errors: list[str] = []
    nc = await _connect(server, user, errors)
    try:
        js = nc.jetstream()
        await ensure_jetstream(js)
        calls = await js.key_value(subjects.CALLS_BUCKET)
        if _kv(subjects.CALLS_BUCKET) in USES[user].publish:
            await calls.put(CALL, b"record")
        events = [
            subject for subject in USES[user].publish if subject.startswith(subjects.call_events(CALL)[:-1])
        ]
        ack = await js.publish(events[0], b"")  # stored: the stream's ack came back on the user's inbox
        assert ack.stream == subjects.CALL_EVENTS_STREAM
        info = await js.stream_info(subjects.CALL_EVENTS_STREAM)
        assert info.config.name == subjects.CALL_EVENTS_STREAM
        if user == "call-control":
            await ensure_bucket(js, subjects.IDEMPOTENCY_BUCKET)
    finally:
        await nc.close()
    assert errors == []


async def _server_answer_to_connect(host: str, port: int, credentials: dict[str, str]) -> str:
    """The server's answer to a CONNECT with these credentials (nats-py leaves its socket open on a refusal)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        assert (await reader.readline()).startswith(b"INFO ")
        connect = json.dumps({"verbose": False, "pedantic": False, **credentials})
        writer.write(f"CONNECT {connect}\r\nPING\r\n".encode())
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_an_anonymous_client_and_a_wrong_password_are_refused(server: EmbeddedNats) -> None:
    assert server.authorization is not None
    assert await _server_answer_to_connect(server.host, server.port, {}) == "-ERR 'Authorization Violation'"
    wrong = {"user": "agent", "pass": "wrong"}
    assert (
        await _server_answer_to_connect(server.host, server.port, wrong) == "-ERR 'Authorization Violation'"
    )
    right = {"user": "agent", "pass": server.authorization.passwords["agent"]}
    assert await _server_answer_to_connect(server.host, server.port, right) == "PONG"


async def test_the_dev_user_may_do_everything(server: EmbeddedNats) -> None:
    sent = [subject for uses in USES.values() for subject in uses.refused_publish]
    client = await nats.connect(server.url)  # the URL carries the dev user's credentials
    try:
        everything = await client.subscribe(">")
        for subject in sent:
            await client.publish(subject, b"")
        received: list[str] = []
        async with asyncio.timeout(10):
            while len(received) < len(sent):
                subject = (await everything.next_msg()).subject
                if not subject.startswith("$JS.EVENT."):  # the server's advisories on the JetStream API calls
                    received.append(subject)
    finally:
        await client.close()
    assert received == sent


async def test_the_edge_writes_a_recording_that_call_control_reads_and_deletes(server: EmbeddedNats) -> None:
    errors: list[str] = []
    edge = await _connect(server, "media-edge", errors)
    control = await _connect(server, "call-control", errors)
    try:
        written = RecordingStore(await ensure_recordings(edge.jetstream()))
        await written.put_chunk(CALL, 0, b"\xff" * 1600)
        await written.put_manifest(CALL, Manifest(chunks=1, size=1600, duration_ms=100))
        store = RecordingStore(await ensure_recordings(control.jetstream()))
        info = await store.info(CALL)
        assert info is not None and info.size == 1600
        assert b"".join([piece async for piece in store.read(CALL, info, 0, info.size)]) == b"\xff" * 1600
        assert await store.delete(CALL)
        assert await store.info(CALL) is None
    finally:
        await edge.close()
        await control.close()
    assert errors == []


@pytest.mark.parametrize(
    ("stream", "subject", "consumer"),
    [
        (subjects.WEBHOOKS_STREAM, subjects.webhook_outbox(CALL), subjects.WEBHOOK_DELIVERY_CONSUMER),
        (subjects.CALL_SCHEDULE_STREAM, subjects.call_schedule(CALL), subjects.CALL_SCHEDULER_CONSUMER),
        (
            subjects.CALL_EVENTS_STREAM,
            subjects.event(CALL, CallEnded.type_name()),
            subjects.CALL_ENDED_CONSUMER,
        ),
    ],
)
async def test_call_control_acknowledges_the_messages_of_its_durable_consumers(
    server: EmbeddedNats, stream: str, subject: str, consumer: str
) -> None:
    errors: list[str] = []
    nc = await _connect(server, "call-control", errors)
    try:
        js = nc.jetstream()
        await ensure_jetstream(js)
        filter_subject = subject.rsplit(".", 1)[0] + ".>"
        if stream != subjects.CALL_EVENTS_STREAM:
            await ensure_stream(js, js_api.StreamConfig(name=stream, subjects=[filter_subject]))
        await js.publish(subject, b"")
        sub = await js.pull_subscribe(filter_subject, durable=consumer, stream=stream)
        (msg,) = await sub.fetch(1, timeout=5)
        await msg.ack_sync(timeout=5)  # answered by the server only if the ack was let through
    finally:
        await nc.close()
    assert errors == []


COMPOSE = SHARED_AUTHORIZATION.parents[2] / "docker-compose.yml"
PREFIX_OF = {name: name.replace("-", "_").upper() + "_" for name in NATS_USER_OF}


@dataclass(frozen=True)
class ComposeNats:
    """docker-compose.yml's NATS service, run here by nats-server itself with its config, mounts and env."""

    host: str
    port: int
    environment: dict[str, str]
    services: dict[str, dict[str, object]]


@pytest.fixture
def compose_nats(tmp_path: Path) -> Iterator[ComposeNats]:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    nats_service = services["nats"]
    for volume in nats_service["volumes"]:
        source, _, target = volume.partition(":")
        if source.startswith("./"):
            shutil.copyfile(COMPOSE.parent / source, tmp_path / Path(target.split(":")[0]).name)
    config = nats_service["command"][nats_service["command"].index("-c") + 1]
    port = free_port()
    args = [nats_server_binary(), "-c", str(tmp_path / Path(config).name), "-a", "127.0.0.1", "-p", str(port)]
    args += ["-js", "-sd", str(tmp_path / "store")]
    environment = {name: str(value) for name, value in nats_service["environment"].items()}
    process = subprocess.Popen(
        args, env={**os.environ, **environment}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield ComposeNats("127.0.0.1", port, environment, services)
    finally:
        stop_process(process)


async def test_composes_nats_lets_each_service_in_as_its_user_and_no_one_anonymously(
    compose_nats: ComposeNats,
) -> None:
    address = f"nats://{compose_nats.host}:{compose_nats.port}"
    for service, prefix in PREFIX_OF.items():
        service_env = compose_nats.services[service]["environment"]
        assert isinstance(service_env, dict)
        assert service_env[f"{prefix}NATS_USER"] == NATS_USER_OF[service], service
        client = await _retrying_connect(
            address, service_env[f"{prefix}NATS_USER"], str(service_env[f"{prefix}NATS_PASSWORD"])
        )
        await client.close()
    dev = await _retrying_connect(address, DEV_USER, compose_nats.environment["NATS_PASSWORD_DEV"])
    await dev.close()
    refused = await _server_answer_to_connect(compose_nats.host, compose_nats.port, {})
    assert refused == "-ERR 'Authorization Violation'"


async def _retrying_connect(address: str, user: str, password: str) -> NatsClient:
    """A client once the server listens (it was just started)."""
    async with asyncio.timeout(10):
        while True:
            try:
                return await nats.connect(
                    address, user=user, password=password, allow_reconnect=False, connect_timeout=1
                )
            except OSError:
                await asyncio.sleep(0.05)

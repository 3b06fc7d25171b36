"""Taking a leg's call: the stream token, the call record and its profile, then the transcoder and the agent."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachRequest, request_attach
from switchboard.common.bus.client import Bus
from switchboard.common.bus.formats import AudioFormat
from switchboard.common.bus.messages import TRANSCODER_COMPONENT, agent_component
from switchboard.common.calls.record import CallRecord
from switchboard.common.calls.store import CallStore
from switchboard.common.errors import AttachError, ErrorCategory, SwitchboardError
from switchboard.common.profiles import PROVIDER_AUDIO, Profile, ProfileStore
from switchboard.common.security.stream_token import verify_stream_token
from switchboard.media_edge.leg import LegIds
from switchboard.media_edge.metrics import EdgeMetrics

logger = logging.getLogger(__name__)

CALLER_FORMAT = AudioFormat.PCMU8K


class Refusal(Exception):
    """The edge will not serve this stream; `reason` is a short stable label for counting."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def call_id_from(parameters: Mapping[str, str], secret: str) -> str:
    """The call id of a `start` whose `<Parameter>`s carry a valid stream token; raises `Refusal`."""
    call_id = parameters.get("call_id", "")
    token = parameters.get("token", "")
    if not call_id or not token:
        raise Refusal("bad_token", "start without call_id and token parameters")
    if not subjects.valid_token(call_id):
        raise Refusal("bad_token", "call_id is not a valid id")
    if not verify_stream_token(secret, call_id, token):
        raise Refusal("bad_token", "the stream token does not match the call id")
    return call_id


async def claim_call(
    calls: CallStore,
    profiles: ProfileStore,
    call_id: str,
    ids: LegIds,
    transport: str = "twilio",
    *,
    edge_instance: str,
) -> tuple[CallRecord, Profile]:
    """Check the call record and its profile, and write the leg's ids into the record (compare-and-set).

    Refuses a call without a record, one that is over or on another transport, a second leg for a call that
    already has one (a replayed token), and a leg whose provider call id is not the call's. The record then
    names this edge replica and the first agent epoch: agents take the call only from this edge, at that epoch.
    """
    record = await calls.find(call_id)
    if record is None:
        raise Refusal("no_record", f"no record for call {call_id}")
    _check(record, ids, transport)
    try:
        profile, _ = await profiles.get(record.profile)
    except SwitchboardError as exc:
        raise Refusal("no_profile", exc.message) from exc

    def change(current: CallRecord) -> CallRecord | None:
        _check(current, ids, transport)
        if (
            current.stream_id == ids.stream_id
            and current.provider_call_id == (ids.provider_call_id or current.provider_call_id)
            and current.edge_instance == edge_instance
            and current.agent_epoch >= 1
        ):
            return None
        current.stream_id = ids.stream_id
        current.provider_call_id = current.provider_call_id or ids.provider_call_id
        current.edge_instance = edge_instance
        current.agent_epoch = max(current.agent_epoch, 1)
        return current

    return await calls.update(call_id, change), profile


def _check(record: CallRecord, ids: LegIds, transport: str) -> None:
    if record.status.final:
        raise Refusal("call_over", f"the call is {record.status.value}")
    if record.transport != transport:
        raise Refusal("wrong_transport", f"the call uses {record.transport}")
    if record.stream_id and record.stream_id != ids.stream_id:
        raise Refusal("stream_exists", "the call already has a media stream")
    if record.provider_call_id and ids.provider_call_id and record.provider_call_id != ids.provider_call_id:
        raise Refusal("call_sid_mismatch", f"the leg belongs to another {transport} call")


def attach_request(
    call_id: str,
    profile: Profile,
    requester: str,
    caller_formats: tuple[AudioFormat, AudioFormat] | None = None,
    epoch: int = 1,
) -> AttachRequest:
    """What the edge asks of the transcoder and the agent: the caller's format and the provider's.

    A leg that speaks the agent's formats (`caller_formats`) is announced in the agent's input format.
    """
    agent_in, agent_out = PROVIDER_AUDIO[profile.provider]
    return AttachRequest(
        call_id=call_id,
        profile=profile.name,
        caller_format=CALLER_FORMAT if caller_formats is None else caller_formats[0],
        agent_in_format=agent_in,
        agent_out_format=agent_out,
        requester=requester,
        epoch=epoch,
    )


async def store_agent_epoch(calls: CallStore, call_id: str, epoch: int) -> None:
    """Write `epoch` into the call record (compare-and-set, never lowering it) before an agent is asked for it.

    Raises `AttachError` (retryable) when the record cannot be written: no agent would take the call.
    """

    def change(current: CallRecord) -> CallRecord | None:
        if current.agent_epoch >= epoch:
            return None
        current.agent_epoch = epoch
        return current

    try:
        await calls.update(call_id, change)
    except Exception as exc:
        raise AttachError(
            f"could not store agent epoch {epoch} in the call record: {exc!r}",
            category=ErrorCategory.UNAVAILABLE,
            code="attach_failed",
        ) from exc


@dataclass(frozen=True, slots=True)
class Component:
    """A kind of replica the edge attaches to a call."""

    kind: Literal["transcoder", "agent"]
    """The `component` label of the edge's attach metrics."""
    name: str
    """As the replicas name themselves in heartbeats and events: ``transcoder``, ``agent-openai``."""
    subject: str
    """Its attach queue group."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """The replica serving a call as one component."""

    component: Component
    instance: str


def components_for(provider: str, *, transcoder: bool) -> list[Component]:
    """What a call of `provider` needs, in attach order: a transcoder (when one must convert), then an agent."""
    agent = Component("agent", agent_component(provider), subjects.agent_attach(provider))
    if not transcoder:
        return [agent]
    return [Component("transcoder", TRANSCODER_COMPONENT, subjects.transcoder_attach()), agent]


async def attach(
    bus: Bus,
    component: Component,
    request: AttachRequest,
    metrics: EdgeMetrics,
    *,
    timeout_s: float,
    attempts: int,
) -> Attachment:
    """Attach a replica of `component` to the call; raises `AttachError`."""
    started = time.perf_counter()
    reply = await request_attach(bus, component.subject, request, timeout_s=timeout_s, attempts=attempts)
    metrics.attach_seconds.labels(component.kind).observe(time.perf_counter() - started)
    logger.info("%s attached: %s", component.name, reply.instance or "?")
    return Attachment(component, reply.instance)


async def attach_components(
    bus: Bus,
    request: AttachRequest,
    provider: str,
    metrics: EdgeMetrics,
    *,
    transcoder: bool,
    timeout_s: float,
    attempts: int,
) -> list[Attachment]:
    """Attach a transcoder (when one must convert), then an agent of `provider`; raises `AttachError`."""
    return [
        await attach(bus, component, request, metrics, timeout_s=timeout_s, attempts=attempts)
        for component in components_for(provider, transcoder=transcoder)
    ]

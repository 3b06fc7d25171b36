"""The agent service shape both providers share: attach, profiles, one `CallAgent` per call, drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from pydantic import Field

from switchboard.common.agent.builtin_tools import built_in_tools
from switchboard.common.agent.call_agent import CallAgent, CallAgentOptions, CallStart, SessionFactory
from switchboard.common.agent.capabilities import AgentCapabilities
from switchboard.common.agent.metrics import AgentMetrics
from switchboard.common.agent.tools import ToolRegistry
from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachReply, AttachRequest, AttachServer
from switchboard.common.bus.client import Bus
from switchboard.common.bus.heartbeat import publish_heartbeats
from switchboard.common.bus.link import LinkWatch
from switchboard.common.bus.messages import ComponentAttached, agent_component
from switchboard.common.calls.store import CallStore
from switchboard.common.errors import SwitchboardError
from switchboard.common.flows.tools import flow_tools
from switchboard.common.profiles import Profile, ProfileStore
from switchboard.common.runtime.settings import ServiceSettings

logger = logging.getLogger(__name__)


class AgentSettings(ServiceSettings):
    """What both agent services take; each subclasses it with its env prefix and provider settings."""

    capacity: int = Field(default=100, ge=1)
    heartbeat_interval_s: float = Field(default=0.5, gt=0)
    out_frame_ms: int = Field(
        default=20, ge=10, le=200, description="Agent audio goes out in whole steps of this"
    )
    out_frame_max_ms: int = Field(
        default=200,
        ge=10,
        le=1000,
        description="Longest frame of agent audio on the bus (a model delta or less)",
    )
    drain_timeout_s: float = Field(default=900.0, ge=0, description="How long calls may go on after SIGTERM")
    edge_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A call whose media edge sent no ctl.heartbeat this long (while NATS was up here) is left",
    )


class AgentService:
    """Takes calls for one provider on `svc.agent.{provider}.attach` and runs a `CallAgent` for each."""

    def __init__(
        self,
        bus: Bus,
        settings: AgentSettings,
        capabilities: AgentCapabilities,
        session_factory: SessionFactory,
        profiles: ProfileStore,
        metrics: AgentMetrics,
        *,
        tools: ToolRegistry | None = None,
        calls: CallStore | None = None,
    ) -> None:
        self._bus = bus
        self._calls = calls
        self.tools = tools or ToolRegistry([*built_in_tools(), *flow_tools()])
        """The tools this service's models may be offered (each call offers its profile's)."""
        self._settings = settings
        self._caps = capabilities
        self._factory = session_factory
        self._profiles = profiles
        self._metrics = metrics
        self.agents: dict[str, CallAgent] = {}
        self._no_calls = asyncio.Event()
        self._tasks: asyncio.TaskGroup | None = None
        self._options = CallAgentOptions(
            out_frame_ms=settings.out_frame_ms,
            out_frame_max_ms=settings.out_frame_max_ms,
            edge_timeout_s=settings.edge_timeout_s,
        )
        self._link = LinkWatch(bus.nc)
        self.attach = AttachServer(
            bus,
            subjects.agent_attach(capabilities.provider),
            instance=settings.instance_id,
            capacity=settings.capacity,
            handler=self._on_attach,
            rejoin=self._on_attach_again,
        )

    @property
    def component(self) -> str:
        """``agent-openai`` or ``agent-gemini``."""
        return agent_component(self._caps.provider)

    async def run(self, stop: asyncio.Event, on_started: Callable[[], None] = lambda: None) -> None:
        """Serve until `stop`; then take no new calls and give the current ones `drain_timeout_s` to end.

        `on_started` is called once calls can be offered here.
        """
        if self._calls is None:  # where calls with a flow keep its state
            self._calls = CallStore(await self._bus.js.key_value(subjects.CALLS_BUCKET))
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            await self.attach.start()
            on_started()
            heartbeat = tasks.create_task(
                publish_heartbeats(
                    self._bus,
                    self.component,
                    self._settings.instance_id,
                    lambda: self.agents.keys(),
                    self._settings.heartbeat_interval_s,
                    self._epoch_of,
                )
            )
            await stop.wait()
            await self.attach.stop()
            if self.agents:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._no_calls.wait(), self._settings.drain_timeout_s)
            for agent in list(self.agents.values()):
                agent.end("shutdown")
            heartbeat.cancel()
        self._tasks = None

    def _epoch_of(self, call_id: str) -> int:
        agent = self.agents.get(call_id)
        return agent.epoch if agent is not None else 0

    async def _refusal(self, request: AttachRequest) -> AttachReply | None:
        """Why this attach must be refused: the call is not live on the edge asking, or not at its epoch."""
        assert self._calls is not None
        try:
            record = await self._calls.find(request.call_id)
        except Exception as exc:
            logger.warning("could not read the call record: %r", exc, extra={"call_id": request.call_id})
            self._metrics.attach_refused("record_unavailable")
            return AttachReply(accepted=False, reason="the call record could not be read", retryable=True)
        if record is None:
            label, reason = "no_call", "no such call"
        elif record.status.final:
            label, reason = "call_over", f"the call is {record.status.value}"
        elif not record.stream_id or record.edge_instance != request.requester:
            label, reason = "not_live_on_edge", "the call is not live on the requesting edge"
        elif record.agent_epoch != request.epoch:
            label, reason = (
                "stale_epoch",
                f"agent epoch {request.epoch} is not the call's ({record.agent_epoch})",
            )
        else:
            return None
        self._metrics.attach_refused(label)
        logger.warning("refused an attach: %s", reason, extra={"call_id": request.call_id})
        return AttachReply(accepted=False, reason=reason)

    async def _on_attach_again(self, request: AttachRequest) -> AttachReply:
        """The edge asks again for a call attached here (it took this replica for lost): carry on at its epoch."""
        refusal = await self._refusal(request)
        if refusal is not None:
            return refusal
        agent = self.agents.get(request.call_id)
        if agent is not None:
            agent.adopt(request.epoch, request.first_generation)
        return AttachReply(accepted=True, reason="already attached")

    async def _on_attach(self, request: AttachRequest) -> AttachReply:
        if self._tasks is None:
            return AttachReply(accepted=False, reason="shutting down", retryable=True)
        refusal = await self._refusal(request)
        if refusal is not None:
            return refusal
        try:
            profile, revision = await self._profiles.get(request.profile)
        except SwitchboardError as exc:
            return AttachReply(accepted=False, reason=exc.message, retryable=exc.retryable)
        if profile.provider != self._caps.provider:
            return AttachReply(accepted=False, reason=f"profile {profile.name} is for {profile.provider}")
        agent = CallAgent(
            self._bus,
            request.call_id,
            profile,
            self._caps,
            self._factory,
            self._metrics,
            self._options,
            CallStart(resume=request.resume, first_generation=request.first_generation, epoch=request.epoch),
            tools=self.tools,
            calls=self._calls,
            link=self._link.up_since,
        )
        self.agents[request.call_id] = agent
        self._no_calls.clear()
        self._metrics.active(len(self.agents))
        self._tasks.create_task(self._run_call(agent, profile, revision))
        return AttachReply(
            accepted=True,
            detail={"input": self._caps.input_format.value, "output": self._caps.output_format.value},
        )

    async def _run_call(self, agent: CallAgent, profile: Profile, revision: int) -> None:
        call_id = agent.call_id
        reason = "error"
        detail: dict[str, object] = {"profile": profile.name, "revision": revision, "model": profile.model}
        if agent.call_start.resume:
            detail["resumed"] = True
            self._metrics.call_resumed()
        try:
            await self._bus.publish_event(
                call_id,
                ComponentAttached(
                    component=self.component, instance=self._settings.instance_id, detail=detail
                ),
            )
            logger.info(
                "attached with profile %s%s",
                profile.name,
                " (resumed)" if agent.call_start.resume else "",
                extra={"call_id": call_id},
            )
            reason = await agent.run()
        except Exception:
            logger.exception("the call agent failed", extra={"call_id": call_id})
        finally:
            self.agents.pop(call_id, None)
            if not self.agents:
                self._no_calls.set()
            self._metrics.active(len(self.agents))
            self._metrics.call_ended(reason or "ended")
            await self.attach.release(call_id)
            logger.info("detached (%s)", reason, extra={"call_id": call_id})

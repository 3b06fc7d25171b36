"""The OpenAI agent service: the shared agent service with OpenAI's capabilities and model sessions."""

from __future__ import annotations

from collections.abc import Sequence

from switchboard.agent_openai.session import OpenAISession
from switchboard.agent_openai.settings import AgentOpenAISettings
from switchboard.common.agent.capabilities import AgentCapabilities
from switchboard.common.agent.metrics import AgentMetrics
from switchboard.common.agent.model_session import ModelSession, SessionEvents
from switchboard.common.agent.service import AgentService
from switchboard.common.agent.tools import ToolSpec
from switchboard.common.bus.client import Bus
from switchboard.common.profiles import PROVIDER_AUDIO, Profile, ProfileStore

PROVIDER = "openai"

CAPABILITIES = AgentCapabilities(
    PROVIDER, PROVIDER_AUDIO[PROVIDER][0], PROVIDER_AUDIO[PROVIDER][1], can_truncate=True
)
"""PCM16 24 kHz both ways; an interrupted answer is truncated to what the caller heard."""


def build_service(
    bus: Bus, settings: AgentOpenAISettings, profiles: ProfileStore, metrics: AgentMetrics
) -> AgentService:
    """An agent service taking calls on ``svc.agent.openai.attach``, one OpenAI Realtime session per call."""

    def session_factory(
        profile: Profile, events: SessionEvents, call_id: str, tools: Sequence[ToolSpec]
    ) -> ModelSession:
        return OpenAISession(profile, events, call_id, settings, tools)

    return AgentService(
        bus,
        settings,
        capabilities=CAPABILITIES,
        session_factory=session_factory,
        profiles=profiles,
        metrics=metrics,
    )

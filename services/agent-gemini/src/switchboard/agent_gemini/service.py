"""The Gemini agent service: the shared agent service with Gemini's capabilities and model sessions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google import genai
from google.genai import types

from switchboard.agent_gemini.session import GeminiSession, GeminiSessionOptions
from switchboard.agent_gemini.settings import AgentGeminiSettings
from switchboard.common.agent.capabilities import AgentCapabilities
from switchboard.common.agent.metrics import AgentMetrics
from switchboard.common.agent.model_session import ModelSession, SessionEvents
from switchboard.common.agent.service import AgentService
from switchboard.common.agent.tools import ToolSpec
from switchboard.common.bus.client import Bus
from switchboard.common.profiles import PROVIDER_AUDIO, Profile, ProfileStore

PROVIDER = "gemini"

CAPABILITIES = AgentCapabilities(
    PROVIDER, PROVIDER_AUDIO[PROVIDER][0], PROVIDER_AUDIO[PROVIDER][1], can_truncate=False
)
"""PCM16 16 kHz in, 24 kHz out; Gemini cannot cut its history, so it is told in text what the caller heard."""


def make_client(settings: AgentGeminiSettings) -> genai.Client:
    """The SDK client every call of the process shares (building one costs tens of milliseconds of CPU)."""
    # The SDK hands the `async_client_args` that `websockets.connect` accepts on to it (and the rest to its
    # HTTP client): that is how the Live connection gets its trust store and its compression.
    websocket_args: dict[str, Any] = {} if settings.ws_compression else {"compression": None}
    context = settings.ssl_context()
    if context is not None:
        websocket_args["ssl"] = context
    options = types.HttpOptions(api_version=settings.api_version, async_client_args=websocket_args or None)
    if settings.base_url:
        options.base_url = settings.base_url
    return genai.Client(api_key=settings.api_key_value(), http_options=options)


def build_service(
    bus: Bus, settings: AgentGeminiSettings, profiles: ProfileStore, metrics: AgentMetrics
) -> AgentService:
    """An agent service taking calls on ``svc.agent.gemini.attach``, one Gemini Live session per call."""
    client = make_client(settings)
    options = GeminiSessionOptions.from_settings(settings)

    def session_factory(
        profile: Profile, events: SessionEvents, call_id: str, tools: Sequence[ToolSpec]
    ) -> ModelSession:
        return GeminiSession(client, profile, events, call_id=call_id, options=options, tools=tools)

    return AgentService(
        bus,
        settings,
        capabilities=CAPABILITIES,
        session_factory=session_factory,
        profiles=profiles,
        metrics=metrics,
    )

"""Entry point: ``switchboard-agent-gemini``."""

from __future__ import annotations

from google.genai import types

from switchboard.agent_gemini.service import PROVIDER, build_service
from switchboard.agent_gemini.settings import AgentGeminiSettings
from switchboard.common.agent.entrypoint import build_models, run_agent

SERVICE = "agent-gemini"


def main() -> None:
    """Read and check the settings, then serve until SIGTERM."""
    settings = AgentGeminiSettings()
    # The SDK's websockets client logs every frame at debug level.
    run_agent(
        SERVICE,
        PROVIDER,
        settings,
        build_service,
        checks=[settings.api_key_value, settings.ssl_context],
        quiet_loggers=["websockets"],
        warm_up=lambda: build_models(types),  # the SDK's types, the Live API messages among them
    )


if __name__ == "__main__":
    main()

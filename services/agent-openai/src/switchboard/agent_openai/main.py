"""Entry point: ``switchboard-agent-openai``."""

from __future__ import annotations

from openai.types import realtime

from switchboard.agent_openai.service import PROVIDER, build_service
from switchboard.agent_openai.settings import AgentOpenAISettings
from switchboard.common.agent.entrypoint import build_models, run_agent

SERVICE = "agent-openai"


def main() -> None:
    """Read and check the settings, then serve until SIGTERM."""
    settings = AgentOpenAISettings()
    # LiveKit's plugin logs every model error and reconnection itself.
    run_agent(
        SERVICE,
        PROVIDER,
        settings,
        build_service,
        checks=[settings.api_key_value],
        quiet_loggers=["livekit"],
        warm_up=lambda: build_models(realtime),  # the SDK's realtime events, which the plugin sends and reads
    )


if __name__ == "__main__":
    main()

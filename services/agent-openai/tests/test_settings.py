import pytest

from switchboard.agent_openai.settings import AgentOpenAISettings
from switchboard.common.errors import ConfigError

pytestmark = pytest.mark.unit


def test_settings_come_from_the_agent_openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_OPENAI_API_KEY", "sk-live")
    monkeypatch.setenv("AGENT_OPENAI_BASE_URL", "http://127.0.0.1:8765/v1/")
    monkeypatch.setenv("AGENT_OPENAI_NATS_URL", "nats://nats:4222")
    monkeypatch.setenv("AGENT_OPENAI_CAPACITY", "40")
    settings = AgentOpenAISettings()
    assert settings.api_key_value() == "sk-live"
    assert settings.base_url == "http://127.0.0.1:8765/v1"
    assert (settings.nats_url, settings.capacity, settings.ops_port) == ("nats://nats:4222", 40, 9104)
    assert "sk-live" not in repr(settings)


@pytest.mark.parametrize("key", [None, "", "changeme", "  secret "])
def test_a_missing_or_placeholder_key_is_refused_by_name(key: str | None) -> None:
    with pytest.raises(ConfigError, match="AGENT_OPENAI_API_KEY"):
        AgentOpenAISettings(api_key=key).api_key_value()  # type: ignore[arg-type]

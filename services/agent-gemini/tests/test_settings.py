from pathlib import Path

import pytest
from pydantic import SecretStr

from switchboard.agent_gemini.settings import AgentGeminiSettings
from switchboard.common.errors import ConfigError
from switchboard.sim.gemini_live import LocalAuthority

pytestmark = pytest.mark.unit


def test_settings_come_from_the_agent_gemini_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_GEMINI_API_KEY", "real-key")
    monkeypatch.setenv("AGENT_GEMINI_BASE_URL", "https://127.0.0.1:9443/")
    monkeypatch.setenv("AGENT_GEMINI_CAPACITY", "40")
    settings = AgentGeminiSettings()
    assert settings.api_key_value() == "real-key"
    assert settings.base_url == "https://127.0.0.1:9443", "the SDK wants no trailing slash"
    assert settings.capacity == 40 and settings.api_version == "v1beta"
    assert "real-key" not in repr(settings)


@pytest.mark.parametrize("key", [None, "changethis", ""])
def test_a_missing_or_placeholder_key_is_named(key: str | None) -> None:
    settings = AgentGeminiSettings(api_key=SecretStr(key) if key is not None else None)
    with pytest.raises(ConfigError, match="AGENT_GEMINI_API_KEY"):
        settings.api_key_value()


def test_a_ca_file_is_trusted_and_a_missing_one_is_named(tmp_path: Path) -> None:
    assert AgentGeminiSettings().ssl_context() is None
    ca = LocalAuthority().write_ca_pem(tmp_path / "ca.pem")
    assert AgentGeminiSettings(ca_file=ca).ssl_context() is not None
    with pytest.raises(ConfigError, match="AGENT_GEMINI_CA_FILE"):
        AgentGeminiSettings(ca_file=tmp_path / "missing.pem").ssl_context()

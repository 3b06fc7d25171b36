import json
import logging

import pytest
from pydantic import SecretStr

from switchboard.common.errors import ConfigError
from switchboard.common.runtime.logs import JsonFormatter, bound_call
from switchboard.common.runtime.settings import ServiceSettings, require_secret

pytestmark = pytest.mark.unit


def test_settings_come_from_the_environment_with_the_service_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_NATS_URL", "nats://nats:4222")
    monkeypatch.setenv("SWITCHBOARD_NATS_PASSWORD", "s3cret")
    settings = ServiceSettings()
    options = settings.bus_options("transcoder")
    assert options.url == "nats://nats:4222" and options.password == "s3cret"
    assert options.name.startswith("transcoder/")
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize("value", [None, "", "changethis", "CHANGEME", " secret "])
def test_missing_or_placeholder_secrets_are_refused_by_name(value: str | None) -> None:
    with pytest.raises(ConfigError, match="EDGE_STREAM_SECRET"):
        require_secret(SecretStr(value) if value is not None else None, "EDGE_STREAM_SECRET")


def test_a_real_secret_passes() -> None:
    assert require_secret(SecretStr("a-long-random-value"), "X") == "a-long-random-value"


def test_json_logs_carry_the_bound_call_id_and_extras() -> None:
    formatter = JsonFormatter("transcoder")
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "dropped %d frames", (3,), None)
    record.reason = "cleared"
    with bound_call("call-7"):
        entry = json.loads(formatter.format(record))
    assert (
        entry["call_id"] == "call-7" and entry["msg"] == "dropped 3 frames" and entry["reason"] == "cleared"
    )
    assert entry["level"] == "warning" and entry["service"] == "transcoder"

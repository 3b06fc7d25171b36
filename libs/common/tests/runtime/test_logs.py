import json
import logging

import pytest

from switchboard.common.runtime.logs import JsonFormatter

pytestmark = pytest.mark.unit

BREAKS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("breaker", BREAKS)
def test_a_json_record_stays_one_line_whatever_the_message_holds(breaker: str) -> None:
    message = f"caller said: hello{breaker}{{'level': 'error'}}"
    record = logging.LogRecord("x", logging.WARNING, "f.py", 1, "%s", (message,), None)
    record.reason = f"extra{breaker}field"
    line = JsonFormatter("test").format(record)
    assert len(line.splitlines()) == 1 and breaker not in line
    decoded = json.loads(line)
    assert decoded["msg"] == message and decoded["reason"] == f"extra{breaker}field"


def test_other_text_is_kept_as_written() -> None:
    record = logging.LogRecord("x", logging.INFO, "f.py", 1, "llamó: ñandú μ-law", (), None)
    assert "llamó: ñandú μ-law" in JsonFormatter("test").format(record)

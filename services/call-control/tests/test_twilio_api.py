import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def test_after_warm_up_the_resources_of_a_call_import_nothing_more() -> None:
    code = """
import sys
from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.twilio_api import TwilioApiHttpClient, TwilioCalls
from switchboard.common.runtime.metrics import new_registry
calls = TwilioCalls("AC" + "1" * 32, "token", TwilioApiHttpClient(None), CallControlMetrics(new_registry()))
calls.warm_up()
before = set(sys.modules)
calls._client.api.v2010.account.calls("CA" + "2" * 32)
print(sorted(set(sys.modules) - before))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"

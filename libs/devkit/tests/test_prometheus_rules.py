"""The alert rules through the real promtool: every rule file is valid, and the unit tests of the alerts pass."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted(
    path for path in PROMETHEUS.glob("*.yml") if "groups:" in path.read_text(encoding="utf-8")
)
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.test.yml"))


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_there_are_rule_files_and_rule_tests() -> None:
    assert ALERTS_FILE in RULE_FILES and RULE_TESTS


ALERTS_FILE = PROMETHEUS / "alerts.yml"


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_checks_the_rule_file(promtool: str, path: Path) -> None:
    assert "SUCCESS" in _run(promtool, "check", "rules", str(path))


@pytest.mark.parametrize("path", RULE_TESTS, ids=lambda p: p.name)
def test_the_alerts_fire_on_trouble_and_stay_quiet_when_healthy(promtool: str, path: Path) -> None:
    _run(promtool, "test", "rules", str(path))


def test_promtool_checks_the_local_prometheus_configuration(promtool: str) -> None:
    _run(promtool, "check", "config", "--syntax-only", str(PROMETHEUS / "prometheus.yml"))

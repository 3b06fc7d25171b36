"""The real operations tools for the deploy tests, installed when missing (apt-get for Debian's packages)."""

from __future__ import annotations

import os
import shutil

import pytest

from switchboard.devkit.debian_tools import PROMETHEUS, PROMTOOL, DebianTool, ToolUnavailable, ensure


def tool_or_skip(tool: DebianTool) -> str:
    """The tool's path; where it cannot be installed, a loud skip (a failure in CI, which must have it)."""
    try:
        return ensure(tool)
    except ToolUnavailable as exc:
        message = f"NOT TESTED with the real {tool.command}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def promtool() -> str:
    """Debian's promtool (package prometheus)."""
    return tool_or_skip(PROMTOOL)


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """Debian's prometheus server."""
    return tool_or_skip(PROMETHEUS)


@pytest.fixture(scope="session")
def kubectl() -> str:
    """kubectl with its built-in kustomize: on this kind of machine from the image's own apt package."""
    found = shutil.which("kubectl")
    if found is None:
        message = "NOT TESTED with the real kustomize: kubectl is not installed (the machine image ships it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found

"""Operations tools from Debian's packages (Prometheus and promtool), installed with apt-get when missing.

A fresh machine has Python and pip only; the local platform's Prometheus (`make dev PROMETHEUS=1`) and the tests
that run the real tools install them here, as root through apt-get, so no step of the README is done by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

APT_TIMEOUT_S = 600.0


class ToolUnavailable(RuntimeError):
    """The tool is not installed and cannot be installed here; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class DebianTool:
    """A command and the Debian package that ships it."""

    command: str
    package: str


PROMETHEUS = DebianTool("prometheus", "prometheus")
PROMTOOL = DebianTool("promtool", "prometheus")
CHROMIUM = DebianTool("chromium", "chromium")
"""The console's browser tests drive it headless through Playwright (never `playwright install`)."""


def ensure(tool: DebianTool) -> str:
    """The path of `tool`, installing its package with apt-get first if it is missing.

    Raises `ToolUnavailable` where it cannot be installed: not root, no apt-get, or apt-get failed (no network to
    Debian's mirrors); the message names the package so the user can install it another way.
    """
    found = shutil.which(tool.command)
    if found is not None:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise ToolUnavailable(
            f"{tool.command} is not installed and this machine has no apt-get: install {tool.package!r}"
        )
    if os.geteuid() != 0:
        raise ToolUnavailable(
            f"{tool.command} is not installed; as root: apt-get update && apt-get install {tool.package}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (
        [apt, "update", "-q"],
        [apt, "install", "-y", "-q", "--no-install-recommends", tool.package],
    ):
        try:
            subprocess.run(step, env=env, check=True, capture_output=True, timeout=APT_TIMEOUT_S)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            output = (getattr(exc, "stderr", b"") or b"").decode(errors="replace").strip().splitlines()[-3:]
            raise ToolUnavailable(
                f"{tool.command} is not installed and `{' '.join(step[1:])}` failed: {' | '.join(output) or exc}"
            ) from exc
    found = shutil.which(tool.command)
    if found is None:
        raise ToolUnavailable(f"{tool.package} was installed but {tool.command} is not on PATH")
    return found

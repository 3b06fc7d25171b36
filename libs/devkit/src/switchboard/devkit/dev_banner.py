"""What `make dev` prints once every process answers ready: where things are, and how to place a call."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

from switchboard.devkit.dev_config import DevPlatform

#: What the callee says in the demo: the first line the default profile (a dental receptionist) expects.
DEMO_LINE = "Hi, I would like to book a cleaning next week."


def demo_command(cwd: Path | None = None) -> str:
    """The command that places the demo call: through uv when it is on PATH, else the virtualenv's script."""
    arguments = f"--say {shlex.quote(DEMO_LINE)} --barge-in"
    if shutil.which("uv"):
        return f"uv run switchboard-call {arguments}"
    script = Path(sys.executable).parent / "switchboard-call"
    here = (cwd or Path.cwd()).resolve()
    shown = script.relative_to(here) if script.is_relative_to(here) else script
    return f"{shown} {arguments}"


def demo_voice() -> str:
    """Which voice the emulators speak with (they pick espeak-ng when it is installed)."""
    found = shutil.which("espeak-ng")
    if found:
        return f"espeak-ng ({found})"
    return "synthetic (a buzzing vowel voice; install espeak-ng for spoken words: apt-get install espeak-ng)"


def ready_banner(
    platform: DevPlatform, api_key: str, seconds: float, *, cwd: Path | None = None
) -> list[str]:
    """The lines of the banner, printed once every service answers /readyz."""
    ports, providers = platform.ports, platform.providers
    nats_tools_url = platform.nats_tools_url
    host = platform.probe_host
    emulated = not (providers.real_twilio and providers.openai_key and providers.gemini_key)
    ops = ", ".join(
        f"{name} :{port}"
        for name, port in (
            ("call-control", ports.call_control_ops),
            ("media-edge", ports.edge_ops),
            ("transcoder", ports.transcoder_ops),
            ("agent-openai", ports.agent_openai_ops),
            ("agent-gemini", ports.agent_gemini_ops),
        )
    )
    bind = (
        "127.0.0.1 only (switchboard-dev --host 0.0.0.0, or SWITCHBOARD_DEV_HOST, opens the services' ports)"
        if platform.bind_host == "127.0.0.1"
        else f"{platform.bind_host} (the services' ports; emulators and NATS stay on 127.0.0.1)"
    )
    lines = [
        "=" * 100,
        f"READY in {seconds:.1f} s: every service answers /readyz",
        f"  API          http://{host}:{ports.call_control}/v1/calls   (Authorization: Bearer {api_key})",
        f"  API docs     http://{host}:{ports.call_control}/docs",
        f"  console      http://localhost:{ports.call_control}/console   (sign in with the API key)",
        f"  media-edge   ws://{host}:{ports.edge}/twilio/stream",
        f"  ops          {ops} (/metrics, /healthz, /readyz)",
        f"  NATS         {platform.nats_url}"
        + ("   (each service as its own user, deploy/k8s/nats-authorization.conf)" if nats_tools_url else ""),
        *(
            [f"  NATS tools   {nats_tools_url}   (every right; this run's password)"]
            if nats_tools_url
            else []
        ),
        *(f"  {line}" for line in providers.banner(ports)),
    ]
    if emulated:
        lines.append(f"  demo voice   {demo_voice()}")
    lines += [
        f"  listening on {bind}",
        "",
        "  Place a call (in another terminal):",
        f"    {demo_command(cwd)}",
        "  Ctrl-C stops the services, then NATS.",
        "=" * 100,
    ]
    return lines

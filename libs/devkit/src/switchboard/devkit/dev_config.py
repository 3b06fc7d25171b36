"""What `make dev` runs: the services and, for each provider without credentials, its emulator.

Fixed local ports keep the demo reproducible: call-control on :8080 (API and Twilio webhooks), media-edge on
:8081, the emulators on :9400-9402, ops endpoints on :9101-9105, NATS on :4222.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from switchboard.devkit.platform import ProcessSpec

DEV_API_KEY = "dev-api-key-0123456789"
EDGE_PUBLIC_URL = "wss://edge.switchboard.local/twilio/stream"
CALL_CONTROL_PORT, EDGE_PORT = 8080, 8081
TWILIO_EMULATOR_PORT, OPENAI_EMULATOR_PORT, GEMINI_EMULATOR_PORT = 9400, 9401, 9402
DEV_NUMBER = "+14155550100"


@dataclass(frozen=True, slots=True)
class Providers:
    """Which providers are real (credentials in the environment) and which are emulated."""

    twilio_sid: str | None
    twilio_token: str | None
    openai_key: str | None
    gemini_key: str | None
    public_base_url: str | None
    public_stream_url: str | None

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Providers:
        """Read the real credentials, if any: TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN, OPENAI_API_KEY, GEMINI_API_KEY."""
        return cls(
            twilio_sid=env.get("TWILIO_ACCOUNT_SID") or None,
            twilio_token=env.get("TWILIO_AUTH_TOKEN") or None,
            openai_key=env.get("OPENAI_API_KEY") or None,
            gemini_key=env.get("GEMINI_API_KEY") or None,
            public_base_url=env.get("SWITCHBOARD_PUBLIC_BASE_URL") or None,
            public_stream_url=env.get("SWITCHBOARD_PUBLIC_STREAM_URL") or None,
        )

    @property
    def real_twilio(self) -> bool:
        """Twilio credentials and the public URLs Twilio needs are all set."""
        return bool(self.twilio_sid and self.twilio_token and self.public_base_url and self.public_stream_url)

    def banner(self) -> list[str]:
        """One line per provider: real or emulated."""
        return [
            f"Twilio:        {'REAL account ' + (self.twilio_sid or '') if self.real_twilio else 'emulated on :9400'}",
            f"OpenAI:        {'REAL (OPENAI_API_KEY)' if self.openai_key else 'emulated on :9401'}",
            f"Gemini Live:   {'REAL (GEMINI_API_KEY)' if self.gemini_key else 'emulated on :9402 (TLS, test CA)'}",
        ]


@dataclass(slots=True)
class DevPlatform:
    """The child processes of the local platform and their environment."""

    nats_url: str
    state_dir: Path
    providers: Providers
    processes: list[ProcessSpec] = field(default_factory=list)

    def build(self) -> list[ProcessSpec]:
        """Every process, emulators first."""
        python = sys.executable
        p = self.providers
        dev_token = "dev-twilio-token-" + secrets.token_hex(8)
        stream_secret = secrets.token_hex(16)
        account_sid = p.twilio_sid if p.real_twilio and p.twilio_sid else "AC" + secrets.token_hex(16)
        twilio_token = p.twilio_token if p.real_twilio and p.twilio_token else dev_token
        public_base = (
            p.public_base_url
            if p.real_twilio and p.public_base_url
            else f"http://127.0.0.1:{CALL_CONTROL_PORT}"
        )
        stream_url = p.public_stream_url if p.real_twilio and p.public_stream_url else EDGE_PUBLIC_URL
        gemini_ca = self.state_dir / "gemini-ca.pem"
        specs: list[ProcessSpec] = []
        if not p.real_twilio:
            specs.append(
                ProcessSpec(
                    "twilio-emulator",
                    [python, "-m", "switchboard.sim.twilio_rest", "--port", str(TWILIO_EMULATOR_PORT),
                     "--account-sid", account_sid, "--auth-token", twilio_token,
                     "--media-route", f"{EDGE_PUBLIC_URL.rsplit('/twilio', 1)[0]}=ws://127.0.0.1:{EDGE_PORT}",
                     "--number", f"{DEV_NUMBER}=http://127.0.0.1:{CALL_CONTROL_PORT}/twilio/voice",
                     "--status-callback", f"http://127.0.0.1:{CALL_CONTROL_PORT}/twilio/status"],
                )
            )  # fmt: skip
        if not p.openai_key:
            specs.append(
                ProcessSpec(
                    "openai-emulator",
                    [python, "-m", "switchboard.sim.openai_realtime", "--port", str(OPENAI_EMULATOR_PORT),
                     "--api-key", "dev-openai-key"],
                )
            )  # fmt: skip
        if not p.gemini_key:
            specs.append(
                ProcessSpec(
                    "gemini-emulator",
                    [python, "-m", "switchboard.sim.gemini_live", "--port", str(GEMINI_EMULATOR_PORT),
                     "--api-key", "dev-gemini-key", "--ca-file", str(gemini_ca)],
                )
            )  # fmt: skip
        common = {"LOG_FORMAT": "console", "NATS_URL": self.nats_url}
        specs.append(_service("transcoder", "switchboard.transcoder.main", "TRANSCODER_", common))
        specs.append(
            _service(
                "media-edge",
                "switchboard.media_edge.main",
                "MEDIA_EDGE_",
                {**common, "PORT": str(EDGE_PORT), "PUBLIC_STREAM_URL": stream_url,
                 "TWILIO_AUTH_TOKEN": twilio_token, "STREAM_SECRET": stream_secret},
            )
        )  # fmt: skip
        specs.append(
            _service(
                "agent-openai",
                "switchboard.agent_openai.main",
                "AGENT_OPENAI_",
                {**common, "API_KEY": p.openai_key}
                if p.openai_key
                else {
                    **common,
                    "API_KEY": "dev-openai-key",
                    "BASE_URL": f"http://127.0.0.1:{OPENAI_EMULATOR_PORT}/v1",
                },
            )
        )
        specs.append(
            _service(
                "agent-gemini",
                "switchboard.agent_gemini.main",
                "AGENT_GEMINI_",
                {**common, "API_KEY": p.gemini_key}
                if p.gemini_key
                else {**common, "API_KEY": "dev-gemini-key", "BASE_URL": f"https://127.0.0.1:{GEMINI_EMULATOR_PORT}",
                      "CA_FILE": str(gemini_ca)},
            )
        )  # fmt: skip
        specs.append(
            _service(
                "call-control",
                "switchboard.call_control.main",
                "CALL_CONTROL_",
                {**common, "HTTP_PORT": str(CALL_CONTROL_PORT),
                 "API_KEYS": os.environ.get("SWITCHBOARD_API_KEY", DEV_API_KEY),
                 "TWILIO_ACCOUNT_SID": account_sid or "", "TWILIO_AUTH_TOKEN": twilio_token,
                 "TWILIO_FROM_NUMBER": os.environ.get("TWILIO_FROM_NUMBER", DEV_NUMBER),
                 "TWILIO_API_BASE_URL": "" if p.real_twilio else f"http://127.0.0.1:{TWILIO_EMULATOR_PORT}",
                 "PUBLIC_BASE_URL": public_base, "MEDIA_STREAM_URL": stream_url, "STREAM_SECRET": stream_secret,
                 "PROFILES_DIR": "profiles", "ALLOWED_COUNTRIES": "US,CA,MX",
                 "INBOUND_PROFILES": f"{DEV_NUMBER}=receptionist-openai"},
            )
        )  # fmt: skip
        self.processes = specs
        return specs


def _service(name: str, module: str, prefix: str, env: Mapping[str, str]) -> ProcessSpec:
    return ProcessSpec(
        name, [sys.executable, "-m", module], {prefix + key: value for key, value in env.items()}
    )

"""What the local platform runs: the services and, for each provider without credentials, its emulator.

`make dev` uses fixed local ports (call-control :8080, media-edge :8081, emulators :9400-9402, ops :9101-9105,
NATS :4222); the end-to-end tests and the benchmark pass free ports and run the emulators themselves.
Everything listens on 127.0.0.1 unless `bind_host` opens the services' ports (API, edge, ops) wider; the
emulators and NATS stay on loopback, as nothing outside this machine needs them.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from switchboard.devkit.nats_server import free_port
from switchboard.devkit.platform import ProcessSpec
from switchboard.devkit.readiness import ReadyProbe

DEV_API_KEY = "dev-api-key-0123456789"
EDGE_PUBLIC_URL = "wss://edge.switchboard.local/twilio/stream"
DEV_NUMBER = "+14155550100"
DEV_GEMINI_NUMBER = "+14155550101"
"""A second number of the emulated providers: inbound calls to it reach the Gemini receptionist."""
DEV_LIVEKIT_TRUNK = "ST_dev_outbound"
"""The outbound trunk of the LiveKit emulator in `make dev`."""
NATS_USER_OF = {
    "transcoder": "transcoder",
    "media-edge": "media-edge",
    "call-control": "call-control",
    "agent-openai": "agent",
    "agent-gemini": "agent",
}
"""Each service's NATS user (deploy/k8s/nats-authorization.conf), as the Kubernetes manifests set it."""


@dataclass(frozen=True, slots=True)
class Ports:
    """Where each process listens."""

    call_control: int = 8080
    edge: int = 8081
    twilio_emulator: int = 9400
    openai_emulator: int = 9401
    gemini_emulator: int = 9402
    call_control_ops: int = 9101
    edge_ops: int = 9102
    transcoder_ops: int = 9103
    agent_openai_ops: int = 9104
    agent_gemini_ops: int = 9105
    livekit_emulator: int = 7880

    @classmethod
    def free(cls) -> Ports:
        """Ports nobody listens on right now, for a platform beside another one (tests, benchmarks)."""
        return cls(**{f.name: free_port() for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class Secrets:
    """The secrets the services share; fresh random ones for every run."""

    twilio_account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    twilio_auth_token: str = field(default_factory=lambda: "dev-twilio-token-" + secrets.token_hex(8))
    stream_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    api_key: str = DEV_API_KEY
    openai_key: str = "dev-openai-key"
    gemini_key: str = "dev-gemini-key"
    livekit_api_key: str = "devkey"
    livekit_api_secret: str = field(default_factory=lambda: "dev-livekit-secret-" + secrets.token_hex(16))


@dataclass(frozen=True, slots=True)
class Providers:
    """Which providers are real (credentials in the environment) and which are emulated."""

    twilio_sid: str | None = None
    twilio_token: str | None = None
    openai_key: str | None = None
    gemini_key: str | None = None
    public_base_url: str | None = None
    public_stream_url: str | None = None
    livekit_url: str | None = None
    livekit_api_key: str | None = None
    livekit_api_secret: str | None = None
    livekit_trunk: str | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Providers:
        """Real credentials, if set: TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN, OPENAI_API_KEY, GEMINI_API_KEY."""
        return cls(
            twilio_sid=env.get("TWILIO_ACCOUNT_SID") or None,
            twilio_token=env.get("TWILIO_AUTH_TOKEN") or None,
            openai_key=env.get("OPENAI_API_KEY") or None,
            gemini_key=env.get("GEMINI_API_KEY") or None,
            public_base_url=env.get("SWITCHBOARD_PUBLIC_BASE_URL") or None,
            public_stream_url=env.get("SWITCHBOARD_PUBLIC_STREAM_URL") or None,
            livekit_url=env.get("LIVEKIT_URL") or None,
            livekit_api_key=env.get("LIVEKIT_API_KEY") or None,
            livekit_api_secret=env.get("LIVEKIT_API_SECRET") or None,
            livekit_trunk=env.get("LIVEKIT_OUTBOUND_TRUNK_ID") or None,
        )

    @property
    def real_livekit(self) -> bool:
        """A LiveKit server (URL, key, secret) and its outbound trunk are all set."""
        return bool(
            self.livekit_url and self.livekit_api_key and self.livekit_api_secret and self.livekit_trunk
        )

    @property
    def real_twilio(self) -> bool:
        """Twilio credentials and the public URLs Twilio needs are all set."""
        return bool(self.twilio_sid and self.twilio_token and self.public_base_url and self.public_stream_url)

    def banner(self, ports: Ports) -> list[str]:
        """One line per provider: real, or emulated and where."""
        twilio = (
            f"REAL account {self.twilio_sid}"
            if self.real_twilio
            else f"emulated at http://127.0.0.1:{ports.twilio_emulator} (its phones answer every number)"
        )
        openai = (
            "REAL (OPENAI_API_KEY)"
            if self.openai_key
            else f"emulated at ws://127.0.0.1:{ports.openai_emulator}/v1/realtime"
        )
        gemini = (
            "REAL (GEMINI_API_KEY)"
            if self.gemini_key
            else f"emulated at https://127.0.0.1:{ports.gemini_emulator} (TLS, its own CA)"
        )
        livekit = (
            f"REAL at {self.livekit_url} (trunk {self.livekit_trunk})"
            if self.real_livekit
            else f"emulated at ws://127.0.0.1:{ports.livekit_emulator} (its SIP phones answer every number)"
        )
        return [
            f"Twilio       {twilio}",
            f"LiveKit      {livekit}",
            f"OpenAI       {openai}",
            f"Gemini Live  {gemini}",
        ]


@dataclass(slots=True)
class DevPlatform:
    """The child processes of the platform and their environment."""

    nats_url: str
    state_dir: Path
    providers: Providers = field(default_factory=Providers)
    ports: Ports = field(default_factory=Ports)
    keys: Secrets = field(default_factory=Secrets)
    extra_env: dict[str, str] = field(default_factory=dict)
    bind_host: str = "127.0.0.1"
    """Where the services' ports (API, edge, ops) listen; 0.0.0.0 opens them to the network."""
    drain_s: float | None = None
    """How long the services let calls go on after SIGTERM (None: their own default, 15 minutes)."""
    nats_passwords: Mapping[str, str] = field(default_factory=dict)
    """NATS user → password (`EmbeddedNats.authorization.service_passwords`): each service connects as its own
    user (`NATS_USER_OF`); empty: anonymously."""
    nats_tools_url: str | None = None
    """How the emulators that watch the bus connect (`EmbeddedNats.url`, the all-rights dev user); None:
    `nats_url`."""

    def __post_init__(self) -> None:
        if urlsplit(self.nats_url).username is not None:
            raise ValueError(
                "the services connect to NATS as their own users: give the server's address "
                "(EmbeddedNats.address), not a URL with credentials"
            )
        missing = set(NATS_USER_OF.values()) - set(self.nats_passwords)
        if self.nats_passwords and missing:
            raise ValueError(f"no NATS password for the users {sorted(missing)}")

    @property
    def probe_host(self) -> str:
        """Where to reach the services from this machine."""
        return "127.0.0.1" if self.bind_host in ("0.0.0.0", "::", "") else self.bind_host

    def ready_probes(self, names: list[str]) -> list[ReadyProbe]:
        """How to tell that each of the named processes is ready."""
        ports, host = self.ports, self.probe_host
        services = {
            "call-control": ports.call_control_ops,
            "media-edge": ports.edge_ops,
            "transcoder": ports.transcoder_ops,
            "agent-openai": ports.agent_openai_ops,
            "agent-gemini": ports.agent_gemini_ops,
        }
        emulators = {
            "twilio-emulator": ReadyProbe("twilio-emulator", ports.twilio_emulator),
            "openai-emulator": ReadyProbe("openai-emulator", ports.openai_emulator),
            "gemini-emulator": ReadyProbe(
                "gemini-emulator", ports.gemini_emulator, needs_file=self.gemini_ca
            ),
            "livekit-emulator": ReadyProbe("livekit-emulator", ports.livekit_emulator),
        }
        return [
            ReadyProbe(name, services[name], path="/readyz", host=host)
            if name in services
            else emulators[name]
            for name in names
        ]

    @property
    def gemini_ca(self) -> Path:
        """Where the Gemini emulator writes its CA certificate, and agent-gemini reads it."""
        return self.state_dir / "gemini-ca.pem"

    @property
    def twilio_account_sid(self) -> str:
        """The account call-control uses."""
        p = self.providers
        return p.twilio_sid if p.real_twilio and p.twilio_sid else self.keys.twilio_account_sid

    @property
    def twilio_auth_token(self) -> str:
        """The token Twilio signs with."""
        p = self.providers
        return p.twilio_token if p.real_twilio and p.twilio_token else self.keys.twilio_auth_token

    def emulators(self) -> list[ProcessSpec]:
        """The emulator processes of the providers without credentials."""
        python, p, ports, keys = sys.executable, self.providers, self.ports, self.keys
        edge_public = EDGE_PUBLIC_URL.rsplit("/twilio", 1)[0]
        specs: list[ProcessSpec] = []
        if not p.real_twilio:
            specs.append(
                ProcessSpec(
                    "twilio-emulator",
                    [python, "-m", "switchboard.sim.twilio_rest", "--port", str(ports.twilio_emulator),
                     "--account-sid", keys.twilio_account_sid, "--auth-token", keys.twilio_auth_token,
                     "--media-route", f"{edge_public}=ws://127.0.0.1:{ports.edge}",
                     "--number", f"{DEV_NUMBER}=http://127.0.0.1:{ports.call_control}/twilio/voice",
                     "--number", f"{DEV_GEMINI_NUMBER}=http://127.0.0.1:{ports.call_control}/twilio/voice",
                     "--status-callback", f"http://127.0.0.1:{ports.call_control}/twilio/status"],
                )
            )  # fmt: skip
        if not p.real_livekit:
            specs.append(
                ProcessSpec(
                    "livekit-emulator",
                    [python, "-m", "switchboard.sim.livekit", "--port", str(ports.livekit_emulator),
                     "--api-key", keys.livekit_api_key, "--api-secret", keys.livekit_api_secret,
                     "--outbound-trunk", f"{DEV_LIVEKIT_TRUNK}={self.from_number}",
                     "--inbound-number", self.from_number, "--inbound-number", DEV_GEMINI_NUMBER,
                     "--room-prefix", "call-",
                     "--webhook", f"http://127.0.0.1:{ports.call_control}/livekit/webhook",
                     "--clears-from", self.nats_tools_url or self.nats_url],
                )
            )  # fmt: skip
        if not p.openai_key:
            specs.append(
                ProcessSpec(
                    "openai-emulator",
                    [python, "-m", "switchboard.sim.openai_realtime", "--port", str(ports.openai_emulator),
                     "--api-key", keys.openai_key],
                )
            )  # fmt: skip
        if not p.gemini_key:
            specs.append(
                ProcessSpec(
                    "gemini-emulator",
                    [python, "-m", "switchboard.sim.gemini_live", "--port", str(ports.gemini_emulator),
                     "--api-key", keys.gemini_key, "--ca-file", str(self.gemini_ca)],
                )
            )  # fmt: skip
        return specs

    @property
    def from_number(self) -> str:
        """The platform's number: caller ID of outbound calls, and the number inbound calls are made to."""
        return os.environ.get("TWILIO_FROM_NUMBER", DEV_NUMBER)

    def livekit(self, *, signalling: bool) -> dict[str, str]:
        """The LiveKit settings of a service (the edge connects by WebSocket, call-control by HTTP)."""
        p, ports, keys = self.providers, self.ports, self.keys
        if p.real_livekit and p.livekit_url and p.livekit_api_key and p.livekit_api_secret:
            url = p.livekit_url
            if not signalling:
                url = url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
            return {
                "LIVEKIT_URL": url,
                "LIVEKIT_API_KEY": p.livekit_api_key,
                "LIVEKIT_API_SECRET": p.livekit_api_secret,
            }
        scheme = "ws" if signalling else "http"
        return {
            "LIVEKIT_URL": f"{scheme}://127.0.0.1:{ports.livekit_emulator}",
            "LIVEKIT_API_KEY": keys.livekit_api_key,
            "LIVEKIT_API_SECRET": keys.livekit_api_secret,
        }

    def services(self) -> list[ProcessSpec]:
        """The five services, configured for the real providers or the emulators."""
        p, ports, keys = self.providers, self.ports, self.keys
        local = f"http://127.0.0.1:{ports.call_control}"
        public_base = p.public_base_url if p.real_twilio and p.public_base_url else local
        stream_url = p.public_stream_url if p.real_twilio and p.public_stream_url else EDGE_PUBLIC_URL
        common = {
            "LOG_FORMAT": "console",
            "NATS_URL": self.nats_url,
            "OPS_HOST": self.bind_host,
            **({"DRAIN_TIMEOUT_S": str(self.drain_s)} if self.drain_s is not None else {}),
            **self.extra_env,
        }
        number = os.environ.get("TWILIO_FROM_NUMBER", DEV_NUMBER)
        openai = (
            {"API_KEY": p.openai_key}
            if p.openai_key
            else {"API_KEY": keys.openai_key, "BASE_URL": f"http://127.0.0.1:{ports.openai_emulator}/v1"}
        )
        gemini = (
            {"API_KEY": p.gemini_key}
            if p.gemini_key
            else {
                "API_KEY": keys.gemini_key,
                "BASE_URL": f"https://127.0.0.1:{ports.gemini_emulator}",
                "CA_FILE": str(self.gemini_ca),
            }
        )
        return [
            self._service("transcoder", "TRANSCODER_", {**common, "OPS_PORT": str(ports.transcoder_ops)}),
            self._service(
                "media-edge",
                "MEDIA_EDGE_",
                {
                    **common,
                    "HOST": self.bind_host,
                    "PORT": str(ports.edge),
                    **({"DRAIN_DEADLINE_S": str(self.drain_s)} if self.drain_s is not None else {}),
                    "OPS_PORT": str(ports.edge_ops),
                    "PUBLIC_STREAM_URL": stream_url,
                    "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
                    "STREAM_SECRET": keys.stream_secret,
                    **self.livekit(signalling=True),
                },
            ),
            self._service(
                "agent-openai", "AGENT_OPENAI_", {**common, "OPS_PORT": str(ports.agent_openai_ops), **openai}
            ),
            self._service(
                "agent-gemini", "AGENT_GEMINI_", {**common, "OPS_PORT": str(ports.agent_gemini_ops), **gemini}
            ),
            self._service(
                "call-control",
                "CALL_CONTROL_",
                {
                    **common,
                    "HTTP_HOST": self.bind_host,
                    "HTTP_PORT": str(ports.call_control),
                    "OPS_PORT": str(ports.call_control_ops),
                    "API_KEYS": keys.api_key,
                    "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
                    "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
                    "TWILIO_FROM_NUMBER": number,
                    "TWILIO_API_BASE_URL": ""
                    if p.real_twilio
                    else f"http://127.0.0.1:{ports.twilio_emulator}",
                    "PUBLIC_BASE_URL": public_base,
                    "MEDIA_STREAM_URL": stream_url,
                    "STREAM_SECRET": keys.stream_secret,
                    "PROFILES_DIR": "profiles",
                    "ALLOWED_COUNTRIES": "US,CA,MX",
                    **self.livekit(signalling=False),
                    "LIVEKIT_OUTBOUND_TRUNK_ID": p.livekit_trunk
                    if p.real_livekit and p.livekit_trunk
                    else DEV_LIVEKIT_TRUNK,
                    "INBOUND_PROFILES": os.environ.get(
                        "SWITCHBOARD_INBOUND_PROFILES",
                        f"{number}=receptionist-openai,{DEV_GEMINI_NUMBER}=receptionist-gemini",
                    ),
                    # result webhooks may go to a receiver on this machine, in plain http
                    "RESULT_WEBHOOK_URL": os.environ.get("SWITCHBOARD_WEBHOOK_URL", ""),
                    "RESULT_WEBHOOK_SECRET": os.environ.get(
                        "SWITCHBOARD_WEBHOOK_SECRET", "dev-webhook-secret-0123456789"
                    ),
                    "RESULT_WEBHOOK_ALLOW_HTTP": "true",
                    "RESULT_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,localhost",
                },
            ),
        ]

    def _service(self, name: str, prefix: str, env: Mapping[str, str]) -> ProcessSpec:
        module = f"switchboard.{name.replace('-', '_')}.main"
        user = NATS_USER_OF[name]
        credentials = (
            {"NATS_USER": user, "NATS_PASSWORD": self.nats_passwords[user]} if self.nats_passwords else {}
        )
        return ProcessSpec(
            name,
            [sys.executable, "-m", module],
            {prefix + key: value for key, value in {**env, **credentials}.items()},
        )

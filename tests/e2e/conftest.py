"""The whole platform for end-to-end tests: every service a real process on a real NATS; the outside world
(Twilio, OpenAI, Gemini, the phone) emulated in this process, so a test can script the models and be the callee."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from livekit.protocol import sip

from switchboard.devkit.dev_config import (
    DEV_GEMINI_NUMBER,
    DEV_LIVEKIT_TRUNK,
    DEV_NUMBER,
    EDGE_PUBLIC_URL,
    DevPlatform,
    Ports,
    Secrets,
)
from switchboard.devkit.nats_authorization import NatsAuthorization
from switchboard.devkit.nats_server import EmbeddedNats, free_port
from switchboard.devkit.platform import ProcessGroup, ProcessSpec
from switchboard.sim.gemini_live import GeminiLiveConfig, GeminiLiveEmulator, GeminiScript, ScriptedToolCall
from switchboard.sim.livekit import ApiKeys, LiveKitEmulator
from switchboard.sim.openai_realtime import Behaviour, FunctionCallSpec, OpenAIRealtimeEmulator, Script, Turn
from switchboard.sim.phone import MediaStreamCall
from switchboard.sim.twilio_rest.behaviour import Callee
from switchboard.sim.twilio_rest.server import TwilioRestEmulator

CALLEE = "+14155550123"
LONG_ANSWER = (
    "Of course. We have openings on Tuesday at nine in the morning, on Wednesday at ten, on Thursday at two in "
    "the afternoon, and on Friday at four. Which one would suit you best?"
)
GOODBYE = "Thank you for calling, have a wonderful day. Goodbye!"
OPENAI_REPLICAS = 3
"""agent-openai runs three replicas (instance ids agent-openai-a, -b, …): a test that kills one serving a call
finds another to take it over, and a new one is started in its place."""


def openai_script() -> Script:
    return Script(
        greeting="Thank you for calling Bright Smile Dental. How can I help you today?",
        turns=(
            Turn("I would like to book a cleaning.", LONG_ANSWER),
            Turn("Tuesday at nine, please.", "Perfect, you are booked for Tuesday at nine."),
            Turn(
                "That is all, thank you.",
                GOODBYE,
                FunctionCallSpec("end_call", {"reason": "caller_done"}, reply_after=lambda _output: GOODBYE),
            ),
        ),
    )


def gemini_script() -> GeminiScript:
    return GeminiScript(
        greeting="Thank you for calling Bright Smile Dental. How can I help you today?",
        replies=[LONG_ANSWER, "Perfect, you are booked for Tuesday at nine.", GOODBYE],
        caller_transcripts=[
            "I would like to book a cleaning.",
            "Tuesday at nine, please.",
            "That is all, thank you.",
        ],
        tool_calls={2: (ScriptedToolCall("end_call", {"reason": "caller_done"}),)},
    )


@dataclass
class Platform:
    """The running platform and the emulators a test steers."""

    api: str
    keys: Secrets
    twilio: TwilioRestEmulator
    openai: OpenAIRealtimeEmulator
    gemini: GeminiLiveEmulator
    http: aiohttp.ClientSession
    openai_agents: dict[str, asyncio.subprocess.Process]
    """The agent-openai replicas by instance id."""
    nats: EmbeddedNats
    """The NATS server every service uses (a test may kill it and start it again), with production's users and
    permissions: each service connects as its own user, a test's client with `nats.url` (the all-rights dev
    user)."""
    ops_ports: dict[str, list[int]] = field(default_factory=dict)
    """Each service's ops ports (/metrics, /readyz), one per replica."""
    nats_monitor: str = ""
    """NATS's monitoring endpoint (/varz)."""
    livekit: LiveKitEmulator | None = None
    """The LiveKit emulator (its SIP service dials and places the LiveKit calls)."""
    nats_log: Path | None = None
    """nats-server's log: a message a service may not send or receive is logged there as a violation."""
    group: ProcessGroup | None = None
    openai_spec: ProcessSpec | None = None
    """How an agent-openai replica is started (its instance id and ops port are added)."""
    _nats_log_read: int = 0
    _replicas_started: int = 0

    def new_permission_violations(self) -> list[str]:
        """The violations nats-server logged since the last look (a grant missing from the shared file)."""
        if self.nats_log is None or not self.nats_log.exists():
            return []
        with self.nats_log.open("rb") as log:
            log.seek(self._nats_log_read)
            text = log.read()
            self._nats_log_read = log.tell()
        return [line for line in text.decode(errors="replace").splitlines() if "Violation" in line]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys.api_key}"}

    async def place_call(self, profile: str, to: str = CALLEE, **extra: object) -> str:
        body = {"to": to, "profile": profile, "transport": "twilio", **extra}
        async with self.http.post(f"{self.api}/v1/calls", json=body, headers=self.auth) as response:
            assert response.status == 201, await response.text()
            return str((await response.json())["call_id"])

    async def call(self, call_id: str) -> dict[str, object]:
        async with self.http.get(f"{self.api}/v1/calls/{call_id}", headers=self.auth) as response:
            assert response.status == 200, await response.text()
            result: dict[str, object] = await response.json()
            return result

    async def wait_for_record(
        self, call_id: str, *statuses: str, within_s: float = 20.0
    ) -> dict[str, object]:
        async with asyncio.timeout(within_s):
            while True:
                record = await self.call(call_id)
                if record["status"] in statuses:
                    return record
                await asyncio.sleep(0.2)

    async def phone(self, call_id: str) -> MediaStreamCall:
        """The simulated phone that took `call_id`, once its media stream is up."""
        async with asyncio.timeout(20):
            call = await self.twilio.wait_for_call(
                lambda c: any(s.parameters.get("call_id") == call_id for s in c.log.streams)
            )
            return await call.wait_for_phone()

    async def start_openai_replica(self) -> str:
        """Start one more agent-openai replica (not waiting for it to be ready); its instance id."""
        assert self.group is not None and self.openai_spec is not None
        instance = f"agent-openai-{chr(ord('a') + self._replicas_started)}"
        self._replicas_started += 1
        port = free_port()
        self.ops_ports.setdefault("agent-openai", []).append(port)
        env = {
            **self.openai_spec.env,
            "AGENT_OPENAI_INSTANCE_ID": instance,
            "AGENT_OPENAI_OPS_PORT": str(port),
        }
        self.openai_agents[instance] = await self.group.start(
            ProcessSpec(instance, self.openai_spec.argv, env)
        )
        return instance

    async def kill_agent(self, instance: str) -> None:
        """SIGKILL an agent-openai replica: the pod dies, nothing drains; and, as its Deployment would, start a
        new one in its place, so each test that kills one finds the same number of replicas."""
        self.openai_agents.pop(instance).send_signal(signal.SIGKILL)
        await self.start_openai_replica()

    async def calls_count(self) -> int:
        async with self.http.get(f"{self.api}/v1/calls?limit=100", headers=self.auth) as response:
            assert response.status == 200
            return len((await response.json())["calls"])


def configure_livekit(livekit: LiveKitEmulator) -> None:
    """The outbound trunk call-control dials on, and an inbound trunk for our numbers with a dispatch rule."""
    livekit.sip.add_outbound_trunk(
        sip.SIPOutboundTrunkInfo(sip_trunk_id=DEV_LIVEKIT_TRUNK, numbers=[DEV_NUMBER])
    )
    trunk = livekit.sip.add_inbound_trunk(sip.SIPInboundTrunkInfo(numbers=[DEV_NUMBER, DEV_GEMINI_NUMBER]))
    individual = sip.SIPDispatchRuleIndividual(room_prefix="call-")
    livekit.sip.add_dispatch_rule(
        sip.SIPDispatchRuleInfo(
            rule=sip.SIPDispatchRule(dispatch_rule_individual=individual), trunk_ids=[trunk.sip_trunk_id]
        )
    )


async def _ready(http: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


@pytest.fixture(autouse=True)
def no_permission_violations(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that used the platform fails when a service was refused a subject (production would refuse it)."""
    yield
    for value in request.node.funcargs.values():
        if isinstance(value, Platform):
            violations = value.new_permission_violations()
            assert not violations, "NATS refused these (deploy/k8s/nats-authorization.conf):\n" + "\n".join(
                violations
            )
            return


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    state = tmp_path_factory.mktemp("platform")
    keys = Secrets()
    ports = Ports(**{name: free_port() for name in Ports.__dataclass_fields__})
    authorization = NatsAuthorization.random()
    with EmbeddedNats(
        monitor_port=free_port(), authorization=authorization, log_file=state / "nats.log"
    ) as nats:
        async with (
            contextlib.AsyncExitStack() as stack,
            OpenAIRealtimeEmulator(
                script=openai_script(),
                behaviour=Behaviour(first_delta_latency_s=0.2),
                api_key=keys.openai_key,
            ) as openai,
            GeminiLiveEmulator(gemini_script(), GeminiLiveConfig(api_key=keys.gemini_key)) as gemini,
        ):
            gemini.write_ca_pem(state / "gemini-ca.pem")
            ports = replace(ports, openai_emulator=openai.port, gemini_emulator=gemini.port)
            async with TwilioRestEmulator(
                account_sid=keys.twilio_account_sid,
                auth_token=keys.twilio_auth_token,
                media_routes={EDGE_PUBLIC_URL.rsplit("/twilio", 1)[0]: f"ws://127.0.0.1:{ports.edge}"},
                default_callee=Callee.answering(0.3),
            ) as twilio:
                twilio.add_number(
                    DEV_NUMBER,
                    f"http://127.0.0.1:{ports.call_control}/twilio/voice",
                    status_callback=f"http://127.0.0.1:{ports.call_control}/twilio/status",
                )
                ports = replace(ports, twilio_emulator=int(twilio.base_url.rsplit(":", 1)[1]))
                livekit = await stack.enter_async_context(
                    LiveKitEmulator(
                        keys=ApiKeys(keys.livekit_api_key, keys.livekit_api_secret),
                        port=ports.livekit_emulator,
                        webhook_urls=[f"http://127.0.0.1:{ports.call_control}/livekit/webhook"],
                    )
                )
                configure_livekit(livekit)
                # the tests poll the API for records several times a second; its rate limit has its own tests
                dev = DevPlatform(
                    nats.address,
                    state,
                    ports=ports,
                    keys=keys,
                    extra_env={"LOG_LEVEL": "INFO", "RATE_LIMIT_PER_S": "50"},
                    nats_passwords=authorization.service_passwords,
                )
                group = ProcessGroup(colour=False)
                ops_ports = {
                    "transcoder": [ports.transcoder_ops],
                    "media-edge": [ports.edge_ops],
                    "agent-gemini": [ports.agent_gemini_ops],
                    "call-control": [ports.call_control_ops],
                    "agent-openai": [],
                }
                try:
                    async with aiohttp.ClientSession() as http:
                        platform = Platform(
                            f"http://127.0.0.1:{ports.call_control}",
                            keys,
                            twilio,
                            openai,
                            gemini,
                            http,
                            {},
                            nats,
                            ops_ports,
                            nats.monitor_url or "",
                            livekit,
                            state / "nats.log",
                            group,
                        )
                        for spec in dev.services():
                            if spec.name != "agent-openai":
                                await group.start(spec)
                                continue
                            platform.openai_spec = spec
                            for _ in range(OPENAI_REPLICAS):
                                await platform.start_openai_replica()
                        async with asyncio.timeout(120):
                            for port in [port for replicas in ops_ports.values() for port in replicas]:
                                while not await _ready(http, port):
                                    assert not group.exited.is_set(), "a service exited during start-up"
                                    await asyncio.sleep(0.2)
                        yield platform
                finally:  # also when start-up fails: no service outlives the session
                    await group.stop()

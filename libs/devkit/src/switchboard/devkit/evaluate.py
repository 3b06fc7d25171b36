"""``switchboard-eval``: simulated drivers register their trips through the whole platform; the records are scored.

It starts NATS, the services and the emulators on free ports (the models are real when OPENAI_API_KEY or
GEMINI_API_KEY is set; the callee is always the simulated phone), places one call per driver and prints the
seed's own figures. With the emulated models the run is deterministic: the same seed gives the same table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import aiohttp

from switchboard.devkit.dev_config import DEV_NUMBER, EDGE_PUBLIC_URL, DevPlatform, Ports, Providers, Secrets
from switchboard.devkit.nats_authorization import NatsAuthorization
from switchboard.devkit.nats_server import EmbeddedNats, free_port
from switchboard.devkit.platform import ProcessGroup
from switchboard.sim.drivers import draw
from switchboard.sim.evaluation import Report, Target, evaluate
from switchboard.sim.flow_following import carrier_registration
from switchboard.sim.gemini_live import GeminiLiveConfig, GeminiLiveEmulator, GeminiScript
from switchboard.sim.openai_realtime import Behaviour, OpenAIRealtimeEmulator
from switchboard.sim.openai_realtime.script import english_receptionist, with_scenarios
from switchboard.sim.phone import MediaStreamCall
from switchboard.sim.twilio_rest.behaviour import Callee
from switchboard.sim.twilio_rest.server import TwilioRestEmulator

PROFILES = {"openai": "carrier-registration", "gemini": "carrier-registration-gemini"}


async def run(calls: int, seed: int, provider: str, *, fast: bool) -> Report:
    """Start the platform, run the evaluation, stop everything; returns the report."""
    keys = Secrets()
    env = Providers.from_environment(os.environ)
    providers = Providers(openai_key=env.openai_key, gemini_key=env.gemini_key)  # the callee stays simulated
    ports = Ports(**{name: free_port() for name in Ports.__dataclass_fields__})
    authorization = NatsAuthorization.random()  # each service as its own user, as in production
    with (
        tempfile.TemporaryDirectory(prefix="switchboard-eval-") as state_dir,
        EmbeddedNats(authorization=authorization) as nats,
    ):
        state = Path(state_dir)
        async with (
            OpenAIRealtimeEmulator(
                script=english_receptionist(),
                behaviour=Behaviour(reply_audio_ms=500 if fast else None),
                api_key=keys.openai_key,
            ) as openai,
            GeminiLiveEmulator(
                GeminiScript.english_receptionist(),
                GeminiLiveConfig(api_key=keys.gemini_key, max_reply_s=0.5 if fast else None),
            ) as gemini,
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
                dev = DevPlatform(
                    nats.address,
                    state,
                    providers,
                    ports=ports,
                    keys=keys,
                    extra_env={"LOG_LEVEL": "WARNING"},
                    nats_passwords=authorization.service_passwords,
                )
                group = ProcessGroup(colour=False)
                for spec in dev.services():
                    await group.start(spec)
                async with aiohttp.ClientSession() as http:
                    await _wait_ready(http, group, ports)

                    def hear(lines: Sequence[str]) -> None:
                        scenario = replace(carrier_registration(), caller_lines=tuple(lines))
                        openai.script = with_scenarios(english_receptionist(), (scenario,))
                        gemini.script = GeminiScript.english_receptionist().with_scenarios((scenario,))

                    async def phone(call_id: str) -> MediaStreamCall:
                        async with asyncio.timeout(30):
                            call = await twilio.wait_for_call(
                                lambda c: any(s.parameters.get("call_id") == call_id for s in c.log.streams)
                            )
                            return await call.wait_for_phone()

                    target = Target(f"http://127.0.0.1:{ports.call_control}", keys.api_key, http, phone, hear)
                    try:
                        return await evaluate(target, draw(calls, seed), PROFILES[provider])
                    finally:
                        await group.stop()


async def _wait_ready(http: aiohttp.ClientSession, group: ProcessGroup, ports: Ports) -> None:
    ops = (
        ports.transcoder_ops,
        ports.edge_ops,
        ports.agent_openai_ops,
        ports.agent_gemini_ops,
        ports.call_control_ops,
    )
    async with asyncio.timeout(300):  # a loaded machine starts the services slowly
        for port in ops:
            while True:
                if group.exited.is_set():
                    raise SystemExit("a service exited during start-up")
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, run the evaluation, print the table."""
    parser = argparse.ArgumentParser(prog="switchboard-eval", description=__doc__)
    parser.add_argument("--calls", type=int, default=10, help="how many drivers call")
    parser.add_argument("--seed", type=int, default=7, help="draws the drivers (same seed, same drivers)")
    parser.add_argument("--provider", choices=sorted(PROFILES), default="openai")
    parser.add_argument(
        "--fast", action="store_true", help="emulated replies cut to 0.5 s (seconds per call shrink)"
    )
    args = parser.parse_args(argv)
    report = asyncio.run(run(args.calls, args.seed, args.provider, fast=args.fast))
    sys.stdout.write(report.table() + "\n")


if __name__ == "__main__":
    main()

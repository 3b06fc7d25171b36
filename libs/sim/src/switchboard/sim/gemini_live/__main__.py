"""Run the Gemini Live emulator on its own, e.g. for `make dev` without a Gemini key.

    python -m switchboard.sim.gemini_live --port 9443 --api-key dev-key --ca-file /tmp/switchboard/gemini-ca.pem

The agent then uses base URL `https://127.0.0.1:9443` and trusts the CA file (for example through
`SSL_CERT_FILE`, which the SDK reads when it builds its own SSL context).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal

from switchboard.sim.flow_following import scenarios
from switchboard.sim.gemini_live.config import GeminiLiveConfig
from switchboard.sim.gemini_live.script import GeminiScript
from switchboard.sim.gemini_live.server import GeminiLiveEmulator

logger = logging.getLogger("switchboard.sim.gemini_live")


def _arguments() -> argparse.Namespace:
    defaults = GeminiLiveConfig()
    parser = argparse.ArgumentParser(
        prog="python -m switchboard.sim.gemini_live",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (logged)")
    parser.add_argument("--api-key", default=defaults.api_key)
    parser.add_argument("--ca-file", help="write the CA certificate (PEM) here")
    parser.add_argument("--language", choices=("en", "es"), default="en")
    parser.add_argument("--time-to-first-chunk", type=float, default=defaults.time_to_first_chunk_s)
    parser.add_argument("--connection-lifetime", type=float, default=None, help="seconds before goAway")
    return parser.parse_args()


async def _run(arguments: argparse.Namespace) -> None:
    script = (
        GeminiScript.spanish_receptionist()
        if arguments.language == "es"
        else GeminiScript.english_receptionist()
    ).with_scenarios(scenarios())  # a flow profile plays its scenario
    config = GeminiLiveConfig(
        api_key=arguments.api_key,
        time_to_first_chunk_s=arguments.time_to_first_chunk,
        connection_lifetime_s=arguments.connection_lifetime,
        record_audio=False,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with GeminiLiveEmulator(script, config, host=arguments.host, port=arguments.port) as emulator:
        if arguments.ca_file:
            logger.info("CA certificate written to %s", emulator.write_ca_pem(arguments.ca_file))
        logger.info("Gemini Live emulator listening on %s", emulator.base_url)
        await stop.wait()


def main() -> None:
    """Serve until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(_arguments()))
    gc.freeze()  # served and closed: exit without collecting the whole heap first


if __name__ == "__main__":
    main()

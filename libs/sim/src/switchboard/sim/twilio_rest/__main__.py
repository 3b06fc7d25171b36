r"""Run the Twilio REST emulator on its own, e.g. for `make dev` without Twilio credentials.

    python -m switchboard.sim.twilio_rest --port 9400 --account-sid AC… --auth-token dev-token \\
        --media-route wss://edge.example.com=ws://127.0.0.1:8081 \\
        --number +15550100100=http://127.0.0.1:8080/twilio/voice

call-control then uses API base URL `http://127.0.0.1:9400`. `POST /_emulator/inbound {"from": …, "to": …}`
places an inbound call; `GET /_emulator/calls` lists the calls with their streams.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal

from switchboard.sim.twilio_rest.behaviour import Callee
from switchboard.sim.twilio_rest.server import TwilioRestEmulator

logger = logging.getLogger("switchboard.sim.twilio_rest")


def _pair(text: str) -> tuple[str, str]:
    left, separator, right = text.partition("=")
    if not separator or not left or not right:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return left, right


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m switchboard.sim.twilio_rest", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (logged)")
    parser.add_argument("--account-sid", default=None, help="default: a random AC… SID (logged)")
    parser.add_argument("--auth-token", default="emulator-auth-token")
    parser.add_argument(
        "--media-route", type=_pair, action="append", default=[], metavar="PUBLIC=LOCAL",
        help="connect <Stream> URLs starting with PUBLIC to LOCAL instead (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--number", type=_pair, action="append", default=[], metavar="E164=VOICE_URL",
        help="a number of the account and its voice webhook (repeatable)",
    )  # fmt: skip
    parser.add_argument("--status-callback", default="", help="status callback URL of the numbers")
    parser.add_argument(
        "--ring-seconds", type=float, default=2.0, help="how long callees ring before answering"
    )
    return parser.parse_args()


async def _run(arguments: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with TwilioRestEmulator(
        account_sid=arguments.account_sid,
        auth_token=arguments.auth_token,
        host=arguments.host,
        port=arguments.port,
        media_routes=dict(arguments.media_route),
        default_callee=Callee.answering(arguments.ring_seconds),
    ) as emulator:
        for number, voice_url in arguments.number:
            emulator.add_number(number, voice_url, status_callback=arguments.status_callback)
        logger.info(
            "Twilio REST emulator listening on %s (account %s)", emulator.base_url, emulator.account_sid
        )
        await stop.wait()


def main() -> None:
    """Serve until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(_arguments()))
    gc.freeze()  # served and closed: exit without collecting the whole heap first


if __name__ == "__main__":
    main()

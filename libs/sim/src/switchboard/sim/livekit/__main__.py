r"""Run the LiveKit emulator on its own, e.g. for `make dev` without LiveKit credentials.

    python -m switchboard.sim.livekit --port 7880 --api-key devkey --api-secret devsecret… \\
        --outbound-trunk ST_outbound=+15550100000 --inbound-number +15550100000 --room-prefix call- \\
        --webhook http://127.0.0.1:8080/livekit/webhook --clears-from nats://127.0.0.1:4222

Clients use `ws://127.0.0.1:7880` (rtc) and `http://127.0.0.1:7880` (livekit-api). `--inbound-number` creates an
inbound trunk for the number and a `dispatchRuleIndividual` rule with `--room-prefix`; place a call with
`POST /_emulator/inbound {"from": …, "to": …}` (see `switchboard.sim.livekit.control`). `--clears-from` watches a
Switchboard bus for `ctl.clear` and notes each flush on the call's phone, so its report counts the barge-ins.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from urllib.parse import urlsplit

from livekit.protocol import sip

from switchboard.sim.livekit.auth import ApiKeys
from switchboard.sim.livekit.clear_watch import ClearWatch
from switchboard.sim.livekit.server import LiveKitEmulator

logger = logging.getLogger("switchboard.sim.livekit")


def _pair(text: str) -> tuple[str, str]:
    left, separator, right = text.partition("=")
    if not separator or not left or not right:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return left, right


def _arguments() -> argparse.Namespace:
    defaults = ApiKeys()
    parser = argparse.ArgumentParser(prog="python -m switchboard.sim.livekit", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7880, help="0 picks a free port (logged)")
    parser.add_argument("--api-key", default=defaults.api_key)
    parser.add_argument("--api-secret", default=defaults.api_secret)
    parser.add_argument(
        "--outbound-trunk", type=_pair, action="append", default=[], metavar="TRUNK_ID=E164",
        help="an outbound trunk and its caller number (repeatable)",
    )  # fmt: skip
    parser.add_argument("--inbound-number", action="append", default=[], help="a number of the inbound trunk")
    parser.add_argument("--room-prefix", default="call-", help="room prefix of the inbound dispatch rule")
    parser.add_argument("--webhook", action="append", default=[], help="a URL that receives room webhooks")
    parser.add_argument(
        "--clears-from", default="", metavar="NATS_URL",
        help="a Switchboard bus whose ctl.clear flushes are noted on the calls' phones (their barge-ins)",
    )  # fmt: skip
    return parser.parse_args()


def configure(emulator: LiveKitEmulator, arguments: argparse.Namespace) -> None:
    """Create the trunks and the dispatch rule the arguments ask for."""
    for trunk_id, number in arguments.outbound_trunk:
        emulator.sip.add_outbound_trunk(sip.SIPOutboundTrunkInfo(sip_trunk_id=trunk_id, numbers=[number]))
    if arguments.inbound_number:
        trunk = emulator.sip.add_inbound_trunk(sip.SIPInboundTrunkInfo(numbers=arguments.inbound_number))
        individual = sip.SIPDispatchRuleIndividual(room_prefix=arguments.room_prefix)
        emulator.sip.add_dispatch_rule(
            sip.SIPDispatchRuleInfo(
                rule=sip.SIPDispatchRule(dispatch_rule_individual=individual), trunk_ids=[trunk.sip_trunk_id]
            )
        )


async def _run(arguments: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    emulator = LiveKitEmulator(
        keys=ApiKeys(arguments.api_key, arguments.api_secret),
        host=arguments.host,
        port=arguments.port,
        webhook_urls=arguments.webhook,
    )
    configure(emulator, arguments)
    async with emulator, contextlib.AsyncExitStack() as stack:
        if arguments.clears_from:
            watch = ClearWatch(emulator.sip)
            await watch.start(arguments.clears_from)
            stack.push_async_callback(watch.close)
            where = urlsplit(arguments.clears_from)  # its credentials, if any, stay out of the log
            logger.info("noting Switchboard's flushes from %s:%s on the phones", where.hostname, where.port)
        logger.info("LiveKit emulator listening on %s (API key %s)", emulator.ws_url, emulator.keys.api_key)
        await stop.wait()


def main() -> None:
    """Serve until SIGINT or SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(_arguments()))


if __name__ == "__main__":
    main()

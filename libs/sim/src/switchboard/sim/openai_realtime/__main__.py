"""Run the emulator on its own: `python -m switchboard.sim.openai_realtime --port 8765 --language es`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal

from switchboard.sim.flow_following import scenarios
from switchboard.sim.openai_realtime import _audio
from switchboard.sim.openai_realtime.behaviour import Behaviour
from switchboard.sim.openai_realtime.script import (
    Script,
    english_receptionist,
    spanish_receptionist,
    with_scenarios,
)
from switchboard.sim.openai_realtime.server import OpenAIRealtimeEmulator
from switchboard.sim.openai_realtime.session_config import PCM_RATE

logger = logging.getLogger("switchboard.sim.openai_realtime")


def main() -> None:
    """Serve until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description="OpenAI Realtime API emulator (GA protocol)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default=None, help="the only key accepted (default: any key)")
    parser.add_argument("--language", choices=("en", "es"), default="en", help="the scripted receptionist")
    parser.add_argument("--latency", type=float, default=0.25, help="seconds to the first audio delta")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(_serve(args))
    gc.freeze()  # served and closed: exit without collecting the whole heap first


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    script = with_scenarios(  # a flow profile plays its scenario
        spanish_receptionist() if args.language == "es" else english_receptionist(), scenarios()
    )
    behaviour = Behaviour(first_delta_latency_s=args.latency)
    await asyncio.to_thread(prepare_voice, script, behaviour)
    emulator = OpenAIRealtimeEmulator(
        script=script,
        behaviour=behaviour,
        api_key=args.api_key,
        host=args.host,
        port=args.port,
    )
    async with emulator:
        logger.info("base_url=%s", emulator.base_url)
        await stop.wait()


def prepare_voice(script: Script, behaviour: Behaviour) -> None:
    """Synthesize the script's fixed lines before listening, so that the first session does not wait for them.

    The real service answers as fast on the first session as on the next ones; so does the emulator.
    """
    lines = [script.greeting, script.fallback_reply, *(turn.reply for turn in script.turns)]
    for text in lines:
        _audio.cached_reply_audio(text, PCM_RATE, script.language, behaviour.speech, behaviour.reply_audio_ms)


if __name__ == "__main__":
    main()

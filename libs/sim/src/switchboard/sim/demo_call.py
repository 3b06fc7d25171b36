"""``switchboard-call``: place a call through the API, speak as the callee, save and report the conversation.

Against `make dev`: call-control places the call through the Twilio emulator (or, with `--transport livekit`,
through the LiveKit emulator's SIP service), whose simulated phone answers; this command speaks through that
phone (the emulator's control API), then saves the conversation as a stereo WAV
(the caller left, what the caller heard right) and prints time to first audio, turn latencies and barge-ins.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import numpy.typing as npt

from switchboard.sim.flow_following import scenarios
from switchboard.sim.vad import dbfs

_POLL_S = 0.2
_BLOCK_S = 0.02


@dataclass(slots=True)
class Conversation:
    """Turn timing read off the two channels of the conversation WAV."""

    rate: int
    caller: npt.NDArray[np.int16]
    heard: npt.NDArray[np.int16]
    threshold_dbfs: float = -45.0
    turns: list[tuple[float, float]] = field(default_factory=list)

    @classmethod
    def from_wav(cls, data: bytes) -> Conversation:
        """Split a stereo WAV into the caller's and the heard channel."""
        with wave.open(io.BytesIO(data)) as wav:
            frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
            return cls(wav.getframerate(), frames[:, 0].copy(), frames[:, 1].copy())

    def active(self, samples: npt.NDArray[np.int16]) -> npt.NDArray[np.bool_]:
        """Per 20 ms block: is there sound above the threshold."""
        block = int(self.rate * _BLOCK_S)
        count = samples.size // block
        return np.array(
            [dbfs(samples[i * block : (i + 1) * block]) > self.threshold_dbfs for i in range(count)]
        )

    def first_audio_s(self) -> float | None:
        """When the caller first heard the agent."""
        heard = self.active(self.heard)
        return float(np.argmax(heard)) * _BLOCK_S if heard.any() else None

    def turn_latencies_s(self) -> list[float]:
        """For each caller utterance: from its end to the first agent sound after it (the caller's experience)."""
        said, heard = self.active(self.caller), self.active(self.heard)
        latencies = []
        index = 0
        while index < said.size:
            if said[index]:
                end = index
                while end < said.size and (said[end] or said[end : end + 25].any()):
                    end += 1  # an utterance ends after 0.5 s without sound
                reply = np.flatnonzero(heard[end:])
                if reply.size:
                    latencies.append(float(reply[0]) * _BLOCK_S)
                index = end + 1
            else:
                index += 1
        return latencies


DEFAULT_EMULATORS = {"twilio": "http://127.0.0.1:9400", "livekit": "http://127.0.0.1:7880"}
"""Where `make dev` runs the emulator whose phones answer, per transport."""


async def _json(response: aiohttp.ClientResponse) -> Any:
    if response.status >= 400:
        raise SystemExit(f"{response.method} {response.url}: {response.status} {await response.text()}")
    return await response.json()


async def _find_call(session: aiohttp.ClientSession, emulator: str, call_id: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with session.get(f"{emulator}/_emulator/calls") as response:
            for call in await _json(response):
                for stream in call.get("streams", []):
                    if stream.get("parameters", {}).get("call_id") == call_id and not stream.get("error"):
                        return str(call["sid"])
                if call.get("status") in ("busy", "failed", "no-answer", "canceled"):
                    raise SystemExit(f"the call ended {call['status']} before it connected")
        await asyncio.sleep(_POLL_S)
    raise SystemExit(f"no media stream for call {call_id} within {timeout_s}s: is `make dev` running?")


async def _find_livekit_call(
    session: aiohttp.ClientSession, emulator: str, call_id: str, timeout_s: float
) -> str:
    """The SIP call id of the LiveKit emulator's phone in the call's room, once it answered."""
    deadline = time.monotonic() + timeout_s
    room = f"call-{call_id}"
    while time.monotonic() < deadline:
        async with session.get(f"{emulator}/_emulator/calls") as response:
            for call in await _json(response):
                if call.get("room") != room:
                    continue
                if call.get("status") == "active":
                    return str(call["call_id"])
                if call.get("status") == "hangup":
                    raise SystemExit("the call ended before it connected")
        await asyncio.sleep(_POLL_S)
    raise SystemExit(f"no answered SIP phone for call {call_id} within {timeout_s}s: is `make dev` running?")


async def _wait_for_phone(session: aiohttp.ClientSession, phone_url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with session.get(f"{phone_url}/report") as response:
            if response.status == 200:
                return
        await asyncio.sleep(_POLL_S)
    raise SystemExit("the phone's media stream did not connect")


async def _wait_for_quiet(
    session: aiohttp.ClientSession, phone_url: str, quiet_s: float, timeout_s: float, after_audio: bool = True
) -> dict[str, Any]:
    """Poll the phone's report until the agent has spoken (if asked) and then been quiet for `quiet_s`."""
    deadline = time.monotonic() + timeout_s
    last_audible, last_change = -1.0, time.monotonic()
    start_audible: float | None = None
    report: dict[str, Any] = {}
    while time.monotonic() < deadline:
        async with session.get(f"{phone_url}/report") as response:
            if response.status == 409:
                return report
            report = await _json(response)
        audible = float(report.get("audible_ms") or 0.0)
        start_audible = audible if start_audible is None else start_audible
        if audible != last_audible:
            last_audible, last_change = audible, time.monotonic()
        spoke = audible > start_audible or not after_audio
        if spoke and time.monotonic() - last_change >= quiet_s:
            return report
        await asyncio.sleep(_POLL_S)
    return report


async def _answers(session: aiohttp.ClientSession, url: str) -> bool:
    """Whether `url` answers 200; a refused key ends the command (waiting would not help)."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
            if response.status in (401, 403):
                raise SystemExit(f"{url}: {response.status}: the API refused the key (set --api-key)")
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def wait_for_platform(session: aiohttp.ClientSession, api: str, emulator: str, within_s: float) -> None:
    """Return once the API and the phone's emulator answer; end with a clear message after `within_s`."""
    probes = {"the API": f"{api}/v1/calls?limit=1", "the emulator": f"{emulator}/_emulator/calls"}
    deadline = time.monotonic() + within_s
    said = False
    while True:
        missing = [name for name, url in probes.items() if not await _answers(session, url)]
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise SystemExit(
                f"{' and '.join(missing)} did not answer within {within_s:.0f} s ({api}, {emulator}): "
                "start the platform with `make dev` and wait for its READY banner"
            )
        if not said:
            sys.stdout.write(f"waiting for the platform at {api} (`make dev` prints READY when it is)\n")
            sys.stdout.flush()
            said = True
        await asyncio.sleep(_POLL_S)


async def run(args: argparse.Namespace) -> None:
    """Wait for the platform, place the call, talk, hang up, save and report."""
    headers = {"Authorization": f"Bearer {args.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        emulator = args.emulator or DEFAULT_EMULATORS[args.transport]
        await wait_for_platform(session, args.api, emulator, args.wait)
        body = {"to": args.to, "profile": args.profile, "transport": args.transport}
        async with session.post(f"{args.api}/v1/calls", json=body) as response:
            call_id = str((await _json(response))["call_id"])
        sys.stdout.write(f"call {call_id} placed over {args.transport} with profile {args.profile}\n")
        find = _find_livekit_call if args.transport == "livekit" else _find_call
        sid = await find(session, emulator, call_id, args.timeout)
        phone = f"{emulator}/_emulator/calls/{sid}"
        await _wait_for_phone(session, phone, args.timeout)
        sys.stdout.write("answered; listening to the greeting\n")
        await _wait_for_quiet(session, phone, quiet_s=1.2, timeout_s=args.timeout)
        for index, text in enumerate(args.say):
            sys.stdout.write(f"caller: {text}\n")
            async with session.post(
                f"{phone}/say", json={"text": text, "language": args.language}
            ) as response:
                spoken = await _json(response)
            await asyncio.sleep(float(spoken["duration_s"]))
            if args.barge_in and index == len(args.say) - 1:
                await asyncio.sleep(args.barge_in_after)
                sys.stdout.write(f"caller (over the agent): {args.barge_in_text}\n")
                async with session.post(
                    f"{phone}/say", json={"text": args.barge_in_text, "language": args.language}
                ) as response:
                    await _json(response)
            await _wait_for_quiet(session, phone, quiet_s=1.2, timeout_s=args.timeout)
        async with session.post(
            f"{args.api}/v1/calls/{call_id}/hangup", json={"reason": "demo_done"}
        ) as response:
            if response.status not in (202, 409):
                sys.stdout.write(f"hangup: {response.status} {await response.text()}\n")
        await asyncio.sleep(1.0)
        async with session.get(f"{phone}/conversation.wav") as response:
            wav = await response.read()
        async with session.get(f"{phone}/report") as response:
            report = await _json(response)
        async with session.get(f"{args.api}/v1/calls/{call_id}") as response:
            record = await _json(response)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(wav)
    _print_report(call_id, args.out, Conversation.from_wav(wav), report, record)


def _print_report(
    call_id: str, path: Path, conversation: Conversation, report: dict[str, Any], record: dict[str, Any]
) -> None:
    out = sys.stdout
    first = conversation.first_audio_s()
    latencies = conversation.turn_latencies_s()
    timeline = record.get("timeline", [])
    out.write(f"\nconversation saved to {path} (left: caller, right: what the caller heard)\n")
    out.write(f"call {call_id}: status {record.get('status')}, ended {record.get('ended_reason') or '-'}\n")
    out.write(
        f"time to first audio: {first * 1000:.0f} ms after the stream started\n" if first is not None else ""
    )
    for number, latency in enumerate(latencies, 1):
        out.write(f"turn {number}: the agent answered {latency * 1000:.0f} ms after the caller stopped\n")
    out.write(f"barge-ins: {len(report.get('clears', []))} (audio heard after a clear: ")
    out.write(", ".join(f"{c.get('heard_after_ms', 0):.0f} ms" for c in report.get("clears", [])) or "none")
    out.write(")\n")
    for event in timeline:
        if event.get("type") == "transcript":
            out.write(f"  {event.get('role', '?'):>6}: {event.get('text', '')}\n")
    if record.get("outcome"):
        at = f" at {record['call_back_at']}" if record.get("call_back_at") else ""
        out.write(f"outcome: {record['outcome']}{at}\n")
    for captured in record.get("fields", []):
        mark = "confirmed" if captured.get("confirmed") else "NOT confirmed"
        out.write(
            f"  {captured.get('id')}: {captured.get('value')!r} ({mark}, {captured.get('attempts')} attempts; "
            f"said: {' | '.join(captured.get('raw', []))})\n"
        )


def main() -> None:
    """Parse the command line and run the demo call."""
    parser = argparse.ArgumentParser(prog="switchboard-call", description=__doc__)
    parser.add_argument("--api", default="http://127.0.0.1:8080", help="call-control's URL")
    parser.add_argument("--api-key", default=os.environ.get("SWITCHBOARD_API_KEY", "dev-api-key-0123456789"))
    parser.add_argument("--transport", choices=sorted(DEFAULT_EMULATORS), default="twilio")
    parser.add_argument(
        "--emulator", default="", help="the phone's emulator (default: Twilio :9400, LiveKit :7880)"
    )
    parser.add_argument("--profile", default="receptionist-openai")
    parser.add_argument("--to", default="+14155550123", help="the number to call (E.164)")
    parser.add_argument(
        "--say",
        action="append",
        default=[],
        help="what the callee says (repeatable; a flow profile's scenario lines by default)",
    )
    parser.add_argument("--language", default="en")
    parser.add_argument("--barge-in", action="store_true", help="speak over the agent's last answer")
    parser.add_argument("--barge-in-after", type=float, default=1.5, help="seconds into the answer")
    parser.add_argument("--barge-in-text", default="Sorry, one more question.")
    parser.add_argument("--out", type=Path, default=Path("out/call.wav"))
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for the platform to answer before giving up"
    )
    args = parser.parse_args()
    scenario = next((s for s in scenarios() if args.profile.startswith(s.name)), None)
    if not args.say and scenario is not None:  # the lines the emulated model of this profile expects to hear
        args.say, args.language = list(scenario.caller_lines), scenario.language
    if not args.say:
        args.say = ["Hi, I would like to book a cleaning next week."]
    try:
        asyncio.run(run(args))
    except aiohttp.ClientConnectionError as error:
        raise SystemExit(f"lost the platform ({error}): is `make dev` still running?") from None


if __name__ == "__main__":
    main()

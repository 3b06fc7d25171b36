"""Measuring the carrier registration: simulated drivers call through the whole platform, records are scored.

`evaluate` places one call per driver (one after another), speaks the driver's lines through the simulated phone,
reads the call's record from the API and scores it the way the seed scored itself: per-field exact match,
completeness (share of fields with a value), share confirmed, attempts per field, turns and seconds per call,
and outcomes. With the emulated models the drivers' lines are what the model hears, so a run is deterministic;
with a real model it hears the synthesized speech.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from switchboard.sim.drivers import FIELD_IDS, Driver
from switchboard.sim.phone import MediaStreamCall
from switchboard.sim.phone.errors import CallEnded

Hear = Callable[[Sequence[str]], None]
"""Tells emulated models what the caller will say (does nothing for a real model)."""
FindPhone = Callable[[str], Awaitable[MediaStreamCall]]


@dataclass(frozen=True, slots=True)
class Target:
    """The running platform: its API, and how to reach the simulated phone of a call."""

    api: str
    api_key: str
    http: aiohttp.ClientSession
    phone: FindPhone
    hear: Hear
    language: str = "es"


@dataclass(slots=True)
class CallResult:
    """One driver's call: what the record says, against the truth."""

    driver: Driver
    call_id: str
    outcome: str
    fields: dict[str, dict[str, Any]]
    turns: int
    seconds: float

    def exact(self, field_id: str) -> bool:
        """The field's value is the truth."""
        return self.fields.get(field_id, {}).get("value") == self.driver.truth[field_id]


@dataclass(slots=True)
class Report:
    """Every call's result, and the figures over them."""

    results: list[CallResult] = field(default_factory=list)

    @property
    def registrations(self) -> list[CallResult]:
        """Calls whose driver agreed to register."""
        return [r for r in self.results if r.driver.answer == "accept"]

    def exact_match(self, field_id: str) -> float:
        """Share of registrations whose field is exactly right."""
        return _share(r.exact(field_id) for r in self.registrations)

    def completeness(self) -> float:
        """Share of fields with a value, over the registrations."""
        return _share(
            r.fields.get(f, {}).get("value") is not None for r in self.registrations for f in FIELD_IDS
        )

    def confirmed(self) -> float:
        """Share of fields the driver confirmed, over the registrations."""
        return _share(
            bool(r.fields.get(f, {}).get("confirmed")) for r in self.registrations for f in FIELD_IDS
        )

    def attempts(self, field_id: str) -> float:
        """Mean answers given for the field."""
        values = [float(r.fields.get(field_id, {}).get("attempts") or 0) for r in self.registrations]
        return statistics.fmean(values) if values else 0.0

    def calls_fully_right(self) -> float:
        """Share of registrations with all six fields exactly right."""
        return _share(all(r.exact(f) for f in FIELD_IDS) for r in self.registrations)

    def outcomes(self) -> Counter[str]:
        """How many calls ended with each outcome."""
        return Counter(r.outcome for r in self.results)

    def expected_outcomes(self) -> float:
        """Share of calls whose outcome is what the driver asked for."""
        return _share(r.outcome == r.driver.expected_outcome for r in self.results)

    def table(self) -> str:
        """The figures as a text table."""
        lines = [f"calls: {len(self.results)} ({len(self.registrations)} registrations)", ""]
        lines.append(f"{'field':<16} {'exact match':>11} {'attempts':>9}")
        for field_id in FIELD_IDS:
            lines.append(
                f"{field_id:<16} {self.exact_match(field_id):>10.0%} {self.attempts(field_id):>9.2f}"
            )
        lines += [
            "",
            f"calls fully right     {self.calls_fully_right():.0%}",
            f"completeness          {self.completeness():.0%}",
            f"share confirmed       {self.confirmed():.0%}",
            f"turns per call        {statistics.fmean([r.turns for r in self.results] or [0]):.1f}",
            f"seconds per call      {statistics.fmean([r.seconds for r in self.results] or [0]):.1f}",
            f"expected outcome      {self.expected_outcomes():.0%}",
            "outcomes              " + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes().items())),
        ]
        return "\n".join(lines)


def _share(values: Any) -> float:
    flags = list(values)
    return sum(flags) / len(flags) if flags else 0.0


async def evaluate(
    target: Target, drivers: Sequence[Driver], profile: str, *, turn_timeout_s: float = 30.0
) -> Report:
    """Place one call per driver, one after another, and score each record."""
    report = Report()
    for driver in drivers:
        report.results.append(await _call(target, driver, profile, turn_timeout_s))
    return report


async def _call(target: Target, driver: Driver, profile: str, turn_timeout_s: float) -> CallResult:
    lines = driver.lines()
    target.hear(lines)
    headers = {"Authorization": f"Bearer {target.api_key}"}
    body = {"to": "+14155550123", "profile": profile, "transport": "twilio"}
    async with target.http.post(f"{target.api}/v1/calls", json=body, headers=headers) as response:
        response.raise_for_status()
        call_id = str((await response.json())["call_id"])
    phone = await target.phone(call_id)
    try:
        async with asyncio.timeout(turn_timeout_s):
            await phone.wait_for_audio()
            await phone.wait_for_silence(0.6)
        for line in lines:
            spoken = await phone.say(line, language=target.language)
            await spoken.wait()
            said_at = phone.elapsed_s()
            async with asyncio.timeout(turn_timeout_s):
                await phone.wait_for_audio(after_s=said_at)
                await phone.wait_for_silence(0.6)
    except (CallEnded, TimeoutError):
        pass  # the agent ended the call (the last line's goodbye), or stopped answering
    record = await _final_record(target, call_id, headers)
    return CallResult(
        driver=driver,
        call_id=call_id,
        outcome=str(record.get("outcome") or ""),
        fields={str(f["id"]): f for f in record.get("fields", [])},
        turns=len(lines),
        seconds=float(record.get("duration_s") or 0.0),
    )


async def _final_record(target: Target, call_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """The call's record once it is over (hung up here when the agent did not end it)."""
    url = f"{target.api}/v1/calls/{call_id}"
    for attempt in range(100):
        async with target.http.get(url, headers=headers) as response:
            record: dict[str, Any] = await response.json()
        if record.get("status") in ("completed", "failed", "busy", "no-answer", "canceled"):
            return record
        if attempt == 25:
            async with target.http.post(f"{url}/hangup", json={"reason": "evaluation"}, headers=headers):
                pass
        await asyncio.sleep(0.2)
    return record

"""Attempts of an outbound call: when another one is placed, and the hours in which a callee may be called.

Stored on the call record (msgspec), as the profile or the API request gave them (validated there, by pydantic).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

RetryableOutcome = Literal["no_answer", "busy", "failed", "voicemail"]
"""Outcomes a retry policy may name: the call did not reach the person."""
RETRYABLE_OUTCOMES: tuple[str, ...] = get_args(RetryableOutcome)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; raises `ValueError` for one that does not exist."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


class CallingHours(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """When a callee may be called, in the callee's local time: from `start` to `end` on `days` (0 = Monday)."""

    start: str = "09:00"
    end: str = "20:00"
    days: tuple[int, ...] = (0, 1, 2, 3, 4, 5)

    def opens(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The first moment at or after `moment` inside the hours (aware, in UTC)."""
        start, end = _clock(self.start), _clock(self.end)
        local = moment.astimezone(zone)
        for day in range(8):
            date = (local + timedelta(days=day)).date()
            if date.weekday() not in self.days:
                continue
            opening = datetime.combine(date, start, zone)
            closing = datetime.combine(date, end, zone)
            candidate = max(local, opening)
            if candidate < closing:
                return candidate.astimezone(UTC)
        raise ValueError("the calling hours have no open time in a week")

    def contains(self, moment: datetime, zone: ZoneInfo) -> bool:
        """Whether `moment` is inside the hours."""
        return self.opens(moment, zone) == moment.astimezone(UTC)


class RetryPolicy(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Which unanswered outcomes are tried again, how many attempts in all, how long between them, and when."""

    on: tuple[str, ...] = ("no_answer", "busy")
    max_attempts: int = 1
    delay_s: int = 600
    calling_hours: CallingHours | None = None


def _clock(text: str) -> time:
    hours, _, minutes = text.partition(":")
    return time(int(hours), int(minutes))

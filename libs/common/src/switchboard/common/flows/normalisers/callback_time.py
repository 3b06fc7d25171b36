"""When to call back, as an absolute time: "en veinte minutos", "mañana a las nueve", "el lunes en la mañana".

Resolved against the call's clock in the callee's time zone. Conventions, so nothing is left to chance:
- a bare hour from 1 to 12 is read within calling hours, 08:00 to 19:59 ("a las nueve" is 09:00, "a las
  cinco" 17:00, "a las ocho" 08:00);
- a part of the day without an hour is its usual calling time: mañana 09:00, mediodía 12:00, tarde 16:00,
  noche 20:00; "temprano" 08:00;
- a time of day with no day is the next time it comes (today, or tomorrow when it has passed);
- a day without a time ("el lunes", "mañana"), "al rato", "más tarde" or a number without a unit is unclear.
"""

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from switchboard.common.flows.normalisers import _numbers
from switchboard.common.flows.normalisers._text import after_last_correction, join_utterances
from switchboard.common.flows.normalisers.result import Normalised
from switchboard.common.flows.normalisers.time_24h import clock_time, shape_of, take_period, time_tokens

_WEEKDAYS = {"lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4, "sabado": 5, "domingo": 6}
_PART_DEFAULTS = {"am": 9, "pm": 16, "night": 20, "noon": 12, "day": 12}
_UNITS = {
    "minuto": 1, "minutos": 1, "minutito": 1, "minutitos": 1, "min": 1, "mins": 1,
    "hora": 60, "horas": 60, "horita": 60, "horitas": 60, "hr": 60, "hrs": 60,
}  # fmt: skip
_VAGUE = (
    "al rato",
    "mas tarde",
    "luego",
    "despues",
    "otro dia",
    "un rato",
    "ratito",
    "en un momento",
    "pronto",
)
_CALLING_START, _CALLING_END = 8, 20


def resolve_callback_time(utterances: Sequence[str], now: datetime, tz: ZoneInfo) -> Normalised:
    """The absolute call-back time as an ISO 8601 string with its offset, or a refusal saying why."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local_now = now.astimezone(tz).replace(second=0, microsecond=0)
    text = join_utterances(utterances)
    if not text:
        return Normalised.refuse("nothing was said")
    text, _ = after_last_correction(text)
    tokens = time_tokens(text)
    joined = " ".join(tokens)
    relative = _relative(tokens)
    if isinstance(relative, str):
        return Normalised.refuse(relative)
    if relative is not None:
        return Normalised.ok(_iso(local_now + relative))
    day, day_note = _day(tokens, local_now)
    tokens, period, clash = take_period(_without_day_words(tokens))
    if clash:
        return Normalised.refuse(clash)
    if "temprano" in tokens and period in (None, "am") and not any(map(_numbers.is_number_token, tokens)):
        period, tokens = "am", [*tokens, "8"]
    said = shape_of(tokens)
    if isinstance(said, str):
        if said == "no time was heard" and period is not None:
            hour, minute = _PART_DEFAULTS[period], 0
        elif said == "no time was heard" and day is not None:
            return Normalised.refuse("a day without a time; ask at what time")
        elif said == "no time was heard" and any(phrase in joined for phrase in _VAGUE):
            return Normalised.refuse("no time was given; ask when exactly")
        else:
            return Normalised.refuse(said)
    else:
        clock = clock_time(said, period if period is not None else _calling_hours_period(said.spoken_hour))
        if not clock.valid:
            return clock
        hour, minute = (int(part) for part in str(clock.value).split(":"))
    start = day if day is not None else local_now
    target = datetime(start.year, start.month, start.day, hour, minute, tzinfo=tz)
    if target <= local_now:
        if day is not None:
            return Normalised.refuse("that time has already passed")
        target += timedelta(days=1)
        day_note = "tomorrow: that time has passed today"
    return Normalised.ok(_iso(target), day_note)


def _relative(tokens: list[str]) -> timedelta | str | None:
    """A delay from now ("en veinte minutos", "dentro de una hora y media"), a reason it is unclear, or None."""
    joined = " ".join(tokens)
    match = re.search(r"\b(?:en|dentro de|de aqui a|en unos|en unas)\b(.*)$", joined)
    if match is None:
        return None
    rest = match.group(1).split()
    rest = [token for token in rest if token not in ("unos", "unas", "como", "mas", "o", "menos")]
    if not rest or rest[0] in ("la", "el", "punto"):
        return None
    if rest[:2] in (["media", "hora"], ["media", "horita"]):
        return timedelta(minutes=30)
    if rest[:3] == ["un", "par", "de"] and len(rest) > 3 and rest[3] in _UNITS:
        return timedelta(minutes=2 * _UNITS[rest[3]])
    i = 0
    while i < len(rest) and (_numbers.is_number_token(rest[i]) or rest[i] == "y"):
        i += 1
    if i == 0:
        return None
    chunks = _numbers.read_chunks(rest[:i])
    if len(chunks) != 1:
        return "the delay is not clear"
    amount = int(chunks[0])
    unit = rest[i] if i < len(rest) else ""
    if unit in ("rato", "ratito", "ratote", "momento", "momentito"):
        return "no time was given; ask when exactly"
    if unit not in _UNITS:
        return "a delay without minutes or hours is unclear"
    minutes = amount * _UNITS[unit]
    if rest[i + 1 : i + 3] == ["y", "media"] and _UNITS[unit] == 60:
        minutes += 30
    if minutes <= 0 or minutes > 7 * 24 * 60:
        return "the delay is out of range"
    return timedelta(minutes=minutes)


def _day(tokens: list[str], now: datetime) -> tuple[datetime | None, str]:
    joined = " ".join(tokens)
    if "pasado manana" in joined:
        return now + timedelta(days=2), ""
    if re.search(r"(?<!de la )(?<!en la )(?<!por la )\bmanana\b", joined):
        return now + timedelta(days=1), ""
    if re.search(r"\bhoy\b", joined):
        return now, ""
    for name, weekday in _WEEKDAYS.items():
        if re.search(rf"\b{name}\b", joined):
            ahead = (weekday - now.weekday()) % 7 or 7
            return now + timedelta(days=ahead), ""
    return None, ""


def _without_day_words(tokens: list[str]) -> list[str]:
    out: list[str] = []
    for i, token in enumerate(tokens):
        if token in _WEEKDAYS or token in ("hoy", "pasado"):
            continue
        if token == "manana" and tokens[i - 1 : i] != ["la"]:
            continue
        out.append(token)
    return out


def _calling_hours_period(hour: int) -> str | None:
    """A bare hour 1–12 read within calling hours (08:00–19:59); 13–23 and 0 need no period."""
    if not 1 <= hour <= 12:
        return None
    return "am" if _CALLING_START <= hour <= 11 else "pm"


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")

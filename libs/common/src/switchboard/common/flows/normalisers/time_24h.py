"""Clock times as "HH:MM" (24 h) from every common Mexican phrasing.

"catorce treinta", "las dos y media de la tarde", "cuarto para las tres de la tarde", "mediodía", "las ocho de
la noche", "5:30 p. m.". An hour from 1 to 12 with nothing that says morning or afternoon is unclear and
refused, never guessed; so are ranges ("entre las tres y las cuatro") and alternatives ("tres o cuatro").
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from switchboard.common.flows.normalisers import _numbers
from switchboard.common.flows.normalisers._text import (
    after_last_correction,
    fold,
    join_utterances,
    without_asides,
)
from switchboard.common.flows.normalisers.result import Normalised

# Phrases that say which half of the day an hour from 1 to 12 is in, longest first.
PERIODS: tuple[tuple[str, str], ...] = (
    ("de la manana", "am"), ("en la manana", "am"), ("por la manana", "am"), ("de manana", "am"),
    ("de la madrugada", "am"), ("en la madrugada", "am"), ("de madrugada", "am"), ("am", "am"),
    ("de la tarde", "pm"), ("en la tarde", "pm"), ("por la tarde", "pm"), ("de tarde", "pm"), ("pm", "pm"),
    ("de la noche", "night"), ("en la noche", "night"), ("por la noche", "night"), ("de noche", "night"),
    ("del mediodia", "noon"), ("de mediodia", "noon"), ("del dia", "day"),
)  # fmt: skip
# Words that shape a time; every other word around it is ignored.
_KEYWORDS = {
    "y": "y", "con": "con", "menos": "menos", "para": "para", "cuarto": "cuarto", "media": "media",
    "medio": "media", "horas": "horas", "hora": "horas", "hrs": "horas", "hr": "horas", "h": "horas",
    "minutos": "minutos", "minuto": "minutos", "min": "minutos", "mins": "minutos", "punto": "punto",
    "mediodia": "mediodia", "medianoche": "medianoche", "entre": "entre", "o": "o", "u": "o", "faltan": "",
    "falta": "", "pasadas": "", "pasaditas": "", "pico": "pico",
}  # fmt: skip
_RELATIVE = re.compile(
    r"\b(?:en|dentro de)\s+(?:\S+\s+){0,3}?(?:horas?|minutos?|hrs?|mins?|horitas?|ratito|rato)\b"
)
_SHAPES: tuple[tuple[str, str], ...] = (
    (r"N", "hour"),
    (r"N (?:horas )?punto", "hour"),
    (r"N horas", "hour"),
    (r"N (?:horas )?(?:y |con )?N(?: minutos| horas)?", "hour_minute"),
    (r"N (?:horas )?(?:y|con) cuarto", "quarter_past"),
    (r"N (?:horas )?(?:y|con) media", "half_past"),
    (r"N menos cuarto", "quarter_to"),
    (r"N menos N(?: minutos)?", "minutes_to"),
    (r"cuarto para N(?: horas)?", "quarter_before"),
    (r"N(?: minutos)? para N(?: horas)?", "minutes_before"),
    (r"para N(?: horas)?", "hour"),
    (r"mediodia", "noon"),
    (r"N mediodia", "hour"),
    (r"medianoche", "midnight"),
    (r"N medianoche", "hour"),
    (r"mediodia (?:y|con) media", "half_past_noon"),
)
_HOUR_WORDS = {1: "una", 21: "veintiuna"}
# Hours 1–12 whose 24-hour reading is not "same hour" (am) or "plus twelve" (pm, night): None is unclear.
_FIXED_HOURS: dict[str, dict[int, int | None]] = {
    "am": {12: None},
    "pm": {12: 12},
    "noon": {12: 12, 1: 13, 2: 14},
    "night": {12: 0, 1: 1, 2: 2, 3: 3, 4: 4},
    "day": {12: 12, 6: None, 7: 7, 8: 8, 9: 9, 10: 10, 11: 11},
}


@dataclass(frozen=True, slots=True)
class Said:
    """The shape of a time as said ("N y cuarto", "cuarto para N") and its numbers."""

    shape: str
    numbers: list[int]
    literals: list[str]

    @property
    def spoken_hour(self) -> int:
        """The hour as said (the "seis" of "diez para las seis")."""
        if not self.numbers:
            return 12 if self.shape == "noon" else 0
        return self.numbers[1] if self.shape == "minutes_before" else self.numbers[0]


def normalise_time_24h(utterances: Sequence[str]) -> Normalised:
    """The time said, as "HH:MM"; refused when the half of the day or the time itself is unclear."""
    text = join_utterances(utterances)
    if not text:
        return Normalised.refuse("nothing was said")
    text, _ = after_last_correction(without_asides(text))
    tokens = time_tokens(text)
    if _RELATIVE.search(" ".join(tokens)):
        return Normalised.refuse("a time from now needs the clock; ask for the hour")
    if re.search(r"\b(?:despues|antes|pasadas)\s+de\s+las?\b", " ".join(tokens)):
        return Normalised.refuse("a bound (before or after), not a time")
    tokens, period, clash = take_period(tokens)
    if clash:
        return Normalised.refuse(clash)
    said = shape_of(tokens)
    if isinstance(said, str):
        return Normalised.refuse(said)
    return clock_time(said, period)


def time_tokens(text: str) -> list[str]:
    """Folded tokens, with "p. m." as "pm", "14:30" as two numbers and "medio día" as one word."""
    folded = fold(text).replace("ñ", "n")
    folded = re.sub(r"\bp\.?\s?m\b\.?", " pm ", folded)
    folded = re.sub(r"\ba\.?\s?m\b\.?", " am ", folded)
    folded = re.sub(r"(\d{1,2})\s*[:.h]\s*(\d{2})(?!\d)", r" \1 \2 ", folded)
    folded = re.sub(r"\bmedio\s+dia\b", "mediodia", folded)
    folded = re.sub(r"\bmedia\s+noche\b", "medianoche", folded)
    folded = re.sub(r"\ben\s+punto\b", "punto", folded)
    return re.sub(r"[^\w\s]", " ", folded).split()


def take_period(tokens: list[str]) -> tuple[list[str], str | None, str]:
    """The tokens without their morning/afternoon phrases, the period said, and a clash if two were said."""
    found: set[str] = set()
    out = list(tokens)
    for phrase, period in PERIODS:
        needle = phrase.split()
        i = 0
        while i <= len(out) - len(needle):
            if out[i : i + len(needle)] == needle:
                found.add(period)
                del out[i : i + len(needle)]
            else:
                i += 1
    # "mañana" left now means tomorrow, which a clock time does not carry.
    if len(found) > 1:
        return out, None, f"two different parts of the day were said: {', '.join(sorted(found))}"
    return out, (found.pop() if found else None), ""


def shape_of(tokens: list[str]) -> Said | str:
    """What shape of time the tokens say, or why it is not a time."""
    symbols: list[str] = []
    numbers: list[int] = []
    literals: list[str] = []
    for numeric, run in _numbers.runs(tokens):
        if numeric:
            chunks = _numbers.read_chunks(run)
            # "dieciocho cero cinco": a zero before a single digit is the minutes' first digit.
            for k in range(len(chunks) - 1):
                if chunks[k] == "0" and len(chunks[k + 1]) == 1:
                    chunks[k : k + 2] = ["0" + chunks[k + 1]]
                    break
            if len(chunks) > 2:
                return f"too many numbers for a time: {' '.join(chunks)}"
            for chunk in chunks:
                symbols.append("N")
                numbers.append(int(chunk))
                literals.append(chunk)
            continue
        symbols.extend(keyword for token in run if (keyword := _KEYWORDS.get(token)))
    if "entre" in symbols:
        return "a range was given, not one time"
    if re.search(r"N o N", " ".join(symbols)):
        return "two times were given as alternatives"
    symbols = [symbol for symbol in symbols if symbol not in ("o", "entre")]
    # "la hora de llegada", "y llego a las…": unit words only count after a number, links only between parts.
    symbols = [
        s for i, s in enumerate(symbols) if s not in ("horas", "minutos") or symbols[i - 1 : i] == ["N"]
    ]
    while symbols and symbols[0] in ("y", "con"):
        symbols = symbols[1:]
    while symbols and symbols[-1] in ("y", "con", "para", "menos"):
        symbols = symbols[:-1]
    joined = " ".join(symbols)
    if not numbers and not {"mediodia", "medianoche"} & set(symbols):
        return "no time was heard"
    for pattern, shape in _SHAPES:
        if re.fullmatch(pattern, joined):
            if shape == "hour" and len(numbers) == 1 and len(literals[0]) >= 3:
                # "1430 horas", "mil cuatrocientos treinta": hours and minutes in one figure.
                return Said("hour_minute", [numbers[0] // 100, numbers[0] % 100], literals)
            return Said(shape, numbers, literals)
    return f"the time is not clear ({joined})"


def clock_time(said: Said, period: str | None) -> Normalised:
    """Hours and minutes from the shape said, placed in the day by the period."""
    n = said.numbers
    if said.shape == "noon":
        return _fixed(12, 0, period, {"pm", "noon", "day"})
    if said.shape == "half_past_noon":
        return _fixed(12, 30, period, {"pm", "noon", "day"})
    if said.shape == "midnight":
        return _fixed(0, 0, period, {"night"})
    spoken_hour, minute, before = said.spoken_hour, 0, 0
    if said.shape == "hour_minute":
        minute = n[1]
    elif said.shape == "quarter_past":
        minute = 15
    elif said.shape == "half_past":
        minute = 30
    elif said.shape in ("quarter_to", "quarter_before"):
        before = 15
    elif said.shape == "minutes_to":
        before = n[1]
    elif said.shape == "minutes_before":
        before = n[0]
    if minute > 59 or before > 59:
        return Normalised.refuse(f"{max(minute, before)} is not a number of minutes")
    hour = day_hour(spoken_hour, period)
    if isinstance(hour, str):
        return Normalised.refuse(hour)
    total = (hour * 60 + minute - before) % (24 * 60)
    return Normalised.ok(f"{total // 60:02d}:{total % 60:02d}")


def day_hour(hour: int, period: str | None) -> int | str:
    """The 24-hour hour for an hour said with a period, or why it is unclear."""
    if hour > 24:
        return f"{hour} is not an hour"
    if hour in (0, 24):
        return 0 if period in (None, "night") else f"hour {hour} does not go with that part of the day"
    if hour > 12:
        return hour if period in (None, "pm", "night", "day") else f"{hour} h is not in the morning"
    if period is None:
        return f"{hour} without saying morning, afternoon or night is unclear"
    table = _FIXED_HOURS[period]
    if hour in table:
        resolved = table[hour]
        return resolved if resolved is not None else f"{hour} with that part of the day is unclear"
    if period == "am":
        return hour
    if period == "noon":
        return f"{hour} is not around midday"
    return hour + 12


def _fixed(hour: int, minute: int, period: str | None, fits: set[str]) -> Normalised:
    if period is not None and period not in fits:
        return Normalised.refuse("the part of the day said does not fit that time")
    return Normalised.ok(f"{hour:02d}:{minute:02d}")


def read_back_time_24h(value: str) -> str:
    """A 24-hour time as said in Mexico: "las catorce treinta", "la una cero cinco", "las nueve horas"."""
    hour, minute = (int(part) for part in value.split(":"))
    hour_words = _HOUR_WORDS.get(hour, _numbers.to_words(hour))
    article = "la" if hour == 1 else "las"
    if minute == 0:
        return f"{article} {hour_words} horas" if hour != 1 else "la una en punto"
    minute_words = _numbers.to_words(minute) if minute >= 10 else f"cero {_numbers.to_words(minute)}"
    return f"{article} {hour_words} {minute_words}"

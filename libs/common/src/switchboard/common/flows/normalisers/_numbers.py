"""Spanish numbers as speech recognition writes them: words of any size, digits, and both mixed.

A run of number tokens is read as a sequence of *chunks*: each chunk is the longest stretch that is one
grammatical Spanish number ("mil doscientos treinta y cuatro" is one chunk, 1234), and a token that cannot
continue the chunk starts a new one ("uno dos tres" is three chunks, "doce treinta y cuatro" two). A number
field is the chunks' digits side by side, which is how people read long numbers on the phone: digit by digit,
in pairs, or as one quantity.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["zero", "unit", "teen", "tens", "hundred", "scale"]

_UNITS = {
    "uno": 1,
    "un": 1,
    "una": 1,
    "dos": 2,
    "tres": 3,
    "cuatro": 4,
    "cinco": 5,
    "sinco": 5,
    "seis": 6,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
}
_TEENS = {
    "diez": 10,
    "dies": 10,
    "once": 11,
    "doce": 12,
    "trece": 13,
    "catorce": 14,
    "quince": 15,
    "dieciseis": 16,
    "diesiseis": 16,
    "diecisiete": 17,
    "diesisiete": 17,
    "dieciocho": 18,
    "diesiocho": 18,
    "diecinueve": 19,
    "diesinueve": 19,
    "veintiuno": 21,
    "veintiun": 21,
    "veintiuna": 21,
    "veintidos": 22,
    "veintitres": 23,
    "veinticuatro": 24,
    "veinticinco": 25,
    "veintiseis": 26,
    "veintisiete": 27,
    "veintiocho": 28,
    "veintinueve": 29,
}
_TENS = {
    "veinte": 20,
    "treinta": 30,
    "cuarenta": 40,
    "cincuenta": 50,
    "sesenta": 60,
    "setenta": 70,
    "ochenta": 80,
    "noventa": 90,
}
_HUNDREDS = {
    "cien": 100,
    "ciento": 100,
    "doscientos": 200,
    "doscientas": 200,
    "trescientos": 300,
    "trescientas": 300,
    "cuatrocientos": 400,
    "cuatrocientas": 400,
    "quinientos": 500,
    "quinientas": 500,
    "seiscientos": 600,
    "seiscientas": 600,
    "setecientos": 700,
    "setecientas": 700,
    "ochocientos": 800,
    "ochocientas": 800,
    "novecientos": 900,
    "novecientas": 900,
}
_SCALES = {
    "mil": 10**3,
    "millon": 10**6,
    "millones": 10**6,
    "billon": 10**12,
    "billones": 10**12,
}
_TABLES: tuple[tuple[Kind, dict[str, int]], ...] = (
    ("unit", _UNITS),
    ("teen", _TEENS),
    ("tens", _TENS),
    ("hundred", _HUNDREDS),
)
_ZERO = frozenset({"cero", "ceros"})
_REPEATERS = {"doble": 2, "triple": 3}
_DIGITS = re.compile(r"^\d+$")

DIGIT_WORDS = ("cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve")


def classify(token: str) -> tuple[Kind, int] | None:
    """The kind and value of a folded number word, or None when it is not one."""
    if token in _ZERO:
        return "zero", 0
    for kind, table in _TABLES:
        if token in table:
            return kind, table[token]
    if token in _SCALES:
        return "scale", _SCALES[token]
    return None


def is_number_token(token: str) -> bool:
    """Whether a folded token is a number word or a string of digits."""
    return bool(_DIGITS.match(token)) or classify(token) is not None


@dataclass(slots=True)
class _Chunk:
    terms: list[int] = field(default_factory=list)
    group: int = 0
    hundred: bool = False
    tens: bool = False
    open_y: bool = False
    closed: bool = False
    literal: str | None = None

    @property
    def empty(self) -> bool:
        return not self.terms and self.group == 0 and not self.closed and self.literal is None

    def text(self) -> str:
        if self.literal is not None:
            return self.literal
        return str(sum(self.terms) + self.group)

    def accepts(self, kind: Kind, value: int) -> bool:
        if self.literal is not None:
            return False
        only_hundred = self.hundred and not self.tens and not self.closed
        if kind == "unit":
            return (self.group == 0 and not self.closed) or only_hundred or (self.tens and not self.closed)
        if kind in ("teen", "tens"):
            return (self.group == 0 and not self.closed) or only_hundred
        if kind == "hundred":
            return self.group == 0 and not self.closed
        if kind == "scale":
            if self.group == 0 and self.terms and value <= max(self.terms):
                return False
            kept = [term for term in self.terms if term >= value]
            return not kept or self._absorbed(value) * value < min(kept)
        return False

    def _absorbed(self, scale: int) -> int:
        return sum(term for term in self.terms if term < scale) + self.group or 1

    def add(self, kind: Kind, value: int) -> None:
        if kind == "scale":
            absorbed = self._absorbed(value)
            self.terms = [term for term in self.terms if term >= value] + [absorbed * value]
            self.group, self.hundred, self.tens, self.open_y, self.closed = 0, False, False, False, False
            return
        self.group += value
        if kind == "hundred":
            self.hundred = True
        elif kind == "tens":
            self.tens = True
        else:
            self.closed = True


def read_chunks(tokens: Sequence[str]) -> list[str]:
    """The digit strings of the numbers said in a run of number tokens ("y", "doble" and "triple" included)."""
    chunks: list[str] = []
    chunk = _Chunk()

    def close() -> None:
        nonlocal chunk
        if not chunk.empty:
            chunks.append(chunk.text())
        chunk = _Chunk()

    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in _REPEATERS and following and _single_digit(following) is not None:
            close()
            chunks.append(str(_single_digit(following)) * _REPEATERS[token])
            i += 2
            continue
        if token == "y":
            if chunk.tens and not chunk.closed:
                chunk.open_y = True
            else:
                close()
            i += 1
            continue
        if _DIGITS.match(token):
            if chunk.open_y and len(token) == 1 and token != "0":
                chunk.add("unit", int(token))
            elif (
                chunk.terms
                and chunk.group == 0
                and token == str(int(token))
                and int(token) < min(chunk.terms)
            ):
                # "3 mil 500": digits completing a number said with a scale word.
                chunk.group, chunk.closed = int(token), True
            elif following in _SCALES:
                close()
                chunk.group, chunk.closed = int(token), True
            else:
                close()
                chunk.literal = token
                close()
            i += 1
            continue
        classified = classify(token)
        if classified is None:
            close()
            i += 1
            continue
        kind, value = classified
        if kind == "zero":
            close()
            chunks.append("0")
        else:
            if not chunk.accepts(kind, value):
                close()
            chunk.add(kind, value)
            chunk.closed = chunk.closed or token == "cien"
        i += 1
    close()
    return chunks


def _single_digit(token: str) -> int | None:
    if len(token) == 1 and token.isdigit():
        return int(token)
    classified = classify(token)
    if classified and classified[0] in ("zero", "unit"):
        return classified[1]
    return None


def runs(tokens: Sequence[str]) -> Iterator[tuple[bool, list[str]]]:
    """Split tokens into alternating runs: (True, number tokens) and (False, other tokens).

    "y" belongs to a number run only between two number tokens; "doble"/"triple" only before one.
    """
    current: list[str] = []
    numeric = False
    for i, token in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        prev = tokens[i - 1] if i > 0 else ""
        is_num = is_number_token(token) or (
            (token == "y" and is_number_token(prev) and is_number_token(nxt))
            or (token in _REPEATERS and _single_digit(nxt) is not None)
        )
        if current and is_num != numeric:
            yield numeric, current
            current = []
        numeric = is_num
        current.append(token)
    if current:
        yield numeric, current


def to_words(number: int) -> str:
    """Spanish words for a non-negative integer ("mil doscientos treinta y cuatro")."""
    if number == 0:
        return "cero"
    parts: list[str] = []
    for scale, singular, plural in ((10**12, "un billón", "billones"), (10**6, "un millón", "millones")):
        if number >= scale:
            count, number = divmod(number, scale)
            parts.append(singular if count == 1 else f"{to_words(count)} {plural}")
    if number >= 1000:
        count, number = divmod(number, 1000)
        parts.append("mil" if count == 1 else f"{_below_thousand(count, apocope=True)} mil")
    if number:
        parts.append(_below_thousand(number, apocope=False))
    return " ".join(parts)


_UNIT_NAMES = ("", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve")
_SPECIAL = {
    10: "diez",
    11: "once",
    12: "doce",
    13: "trece",
    14: "catorce",
    15: "quince",
    16: "dieciséis",
    17: "diecisiete",
    18: "dieciocho",
    19: "diecinueve",
    20: "veinte",
    21: "veintiuno",
    22: "veintidós",
    23: "veintitrés",
    24: "veinticuatro",
    25: "veinticinco",
    26: "veintiséis",
    27: "veintisiete",
    28: "veintiocho",
    29: "veintinueve",
}
_TENS_NAMES = {
    30: "treinta",
    40: "cuarenta",
    50: "cincuenta",
    60: "sesenta",
    70: "setenta",
    80: "ochenta",
    90: "noventa",
}
_HUNDRED_NAMES = {
    1: "ciento",
    2: "doscientos",
    3: "trescientos",
    4: "cuatrocientos",
    5: "quinientos",
    6: "seiscientos",
    7: "setecientos",
    8: "ochocientos",
    9: "novecientos",
}


def _below_thousand(number: int, *, apocope: bool) -> str:
    if number == 100:
        return "cien"
    hundreds, rest = divmod(number, 100)
    parts = [_HUNDRED_NAMES[hundreds]] if hundreds else []
    if rest:
        if rest < 10:
            word = _UNIT_NAMES[rest]
        elif rest in _SPECIAL:
            word = _SPECIAL[rest]
        else:
            tens, unit = divmod(rest, 10)
            word = _TENS_NAMES[tens * 10] + (f" y {_UNIT_NAMES[unit]}" if unit else "")
        if apocope and word.endswith("uno"):
            word = word[:-1] if not word.endswith("veintiuno") else "veintiún"
        parts.append(word)
    return " ".join(parts)

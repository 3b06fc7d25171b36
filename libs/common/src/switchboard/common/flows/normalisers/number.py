"""Numbers (tractor, trailer): a digit string from words, digits, or both mixed."""

import re
from collections.abc import Sequence

from switchboard.common.flows.normalisers import _numbers
from switchboard.common.flows.normalisers._text import (
    HESITATIONS,
    after_last_correction,
    contains_any,
    fold,
    join_utterances,
    plain_words,
    without_asides,
)
from switchboard.common.flows.normalisers.result import Normalised

# Words around a number that say nothing about its digits.
_FILLERS = HESITATIONS | {
    "es", "el", "la", "los", "las", "lo", "numero", "num", "no", "nro", "de", "del", "mi", "su", "son",
    "seria", "sería", "creo", "que", "como", "tengo", "aqui", "dice", "tractor", "trailer", "tráiler",
    "traila", "remolque", "caja", "digitos", "cifras", "numeros", "unidad", "economico", "camion", "si",
    "claro", "a", "ver", "ahi", "va", "le", "digo", "apunta", "apunte", "anota", "anote", "ok", "okay",
    "sale", "entonces", "exactamente", "nomas", "solo",
}  # fmt: skip
_DONT_KNOW = ("no se", "no me acuerdo", "no lo tengo", "no la tengo", "no recuerdo", "ni idea", "no lo se")
_MAX_DIGITS = 30
_COUNTED = frozenset({"digitos", "cifras", "numeros", "numeritos"})
_SHORT = 3
_REPEATED = 3


def normalise_number(utterances: Sequence[str]) -> Normalised:
    """The digits the caller said, in order; refused when there are none or words break them up."""
    text = join_utterances(utterances)
    if not text:
        return Normalised.refuse("nothing was said")
    if contains_any(plain_words(text), _DONT_KNOW):
        return Normalised.refuse("the caller does not know the number")
    text, _ = after_last_correction(without_asides(text))
    # Commas stay: a pause the recogniser marked separates two numbers ("noventa, uno" is 901, not 91).
    tokens = re.findall(r"[^\W_]+|,", fold(text))
    # "son cuatro dígitos: 8 8 1 2": a count of digits is not part of the number.
    tokens = [t for i, t in enumerate(tokens) if not (tokens[i + 1 : i + 2] and tokens[i + 1] in _COUNTED)]
    return digits_in(tokens, _FILLERS | {","})


def digits_in(tokens: Sequence[str], fillers: frozenset[str] | set[str]) -> Normalised:
    """The digit string said in tokens; unknown words between digits make it unclear."""
    groups: list[str] = []
    pending_unknown: list[str] = []
    for numeric, run in _numbers.runs(tokens):
        if numeric:
            if groups and pending_unknown:
                unknown = " ".join(pending_unknown)
                return Normalised.refuse(f"words not understood between the digits: {unknown}")
            groups.append("".join(_numbers.read_chunks(run)))
            pending_unknown = []
        else:
            pending_unknown += [token for token in run if token not in fillers]
    # "el 1578, uno cinco siete ocho": a number said again to be clear is one number (pairs such as
    # "cuarenta, cuarenta" are how 4040 is read, so only groups of three digits or more count as repeats).
    if len(groups) > 1 and len(set(groups)) == 1 and len(groups[0]) >= _REPEATED:
        return Normalised.ok(groups[0], "the caller said the number more than once")
    value = "".join(groups)
    if not value:
        return Normalised.refuse("no number was heard")
    if len(value) > _MAX_DIGITS:
        return Normalised.refuse(f"too many digits ({len(value)})")
    return Normalised.ok(value)


def read_back_number(value: str) -> str:
    """Short numbers as a quantity ("ciento veintitrés"), longer ones digit by digit."""
    if len(value) <= _SHORT and not (len(value) > 1 and value.startswith("0")):
        return _numbers.to_words(int(value))
    return ", ".join(_numbers.DIGIT_WORDS[int(digit)] for digit in value)

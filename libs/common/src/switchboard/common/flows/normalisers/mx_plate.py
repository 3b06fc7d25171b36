"""Mexican licence plates: upper-case letters and digits, no hyphen, in a known Mexican shape."""

import re
from collections.abc import Sequence

from switchboard.common.flows.normalisers import _letters, _numbers
from switchboard.common.flows.normalisers._text import (
    HESITATION_PHRASES,
    HESITATIONS,
    after_last_correction,
    contains_any,
    drop_phrases,
    fold,
    join_utterances,
    without_asides,
)
from switchboard.common.flows.normalisers.result import Normalised

# Shapes of Mexican plates (L letter, 9 digit), after the hyphens are dropped.
SHAPES = {
    "LLL9999": "ABC1234 (particular, series anteriores)",
    "LLL999L": "ABC123D (particular, NOM-001-SCT-2-2016)",
    "LL999LL": "AB123CD",
    "LLL999": "ABC123",
    "999LLL": "123ABC",
    "99LL9L": "12AB3C (autotransporte federal)",
    "999LL9": "123AB4 (remolque federal)",
    "L999LL": "A123BC",
    "LL9999": "AB1234",
    "LL99999": "AB12345",
    "99L999": "12A345",
    "LLL99L": "ABC12D",
}
_PREAMBLES = sorted(
    (
        "las placas del tractor son", "las placas del trailer son", "las placas de la caja son",
        "las placas del remolque son", "placas del tractor", "placas del trailer", "placas de la caja",
        "placas del remolque", "placa del tractor", "las de la caja son", "las del tractor son",
        "las del trailer son", "las del remolque son", "las de la caja", "las del tractor", "las del trailer",
        "las del remolque", "placa del trailer", "placa de la caja", "placas de tractor", "las placas son",
        "la placa es", "mis placas son", "mi placa es", "las placas", "la placa", "placas", "placa",
        "son las", "es la", "son", "es", "y luego", "luego", "despues", "sigue", "siguen", "todo junto",
        "con guion", "guion", "guion medio", "espacio", "letra", "letras", "numero", "numeros", "mayuscula",
        "mayusculas", "la", "las", "el", "del", "tractor", "trailer", "remolque", "caja", "mi", "sus", "su",
        "ok", "si", "claro", "nada mas", "nomas", "eso es todo", "es todo", "ya", "listo", "dice", "van",
        "primero", "trae", "tiene", "traigo", "tengo", "despues viene", "termina en", "al final",
        "y al final", "al principio", "al ultimo", "la ultima es", "la primera es", "la ultima", "la primera",
        "termina con", "y termina con", "y termina en", "acaba en", "acaba con", "empieza con",
    ),
    key=lambda phrase: -len(phrase.split()),
)  # fmt: skip
_DONT_KNOW = ("no se", "no me acuerdo", "no las tengo", "no la tengo", "no recuerdo", "no traigo", "ni idea")
# Words and digits, and commas: a pause the recogniser marked separates two numbers ("noventa, uno").
_TOKEN = re.compile(r"[^\W_]+|,", re.UNICODE)


def normalise_mx_plate(utterances: Sequence[str]) -> Normalised:
    """The plate as upper-case letters and digits; refused when a part is unclear or the shape is not Mexican."""
    text = join_utterances(utterances)
    if not text:
        return Normalised.refuse("nothing was said")
    if contains_any(fold(text).replace(",", " ").split(), _DONT_KNOW):
        return Normalised.refuse("the caller does not know the plate")
    text, _ = after_last_correction(without_asides(text))
    raw = _TOKEN.findall(text)
    folded = drop_phrases([fold(token) for token in raw], (*HESITATION_PHRASES, *_PHRASES))
    cased = _recase(raw, folded)
    folded, cased = _without_states(folded, cased)
    characters, unclear = _spell(folded, cased)
    if unclear:
        return Normalised.refuse(unclear)
    value = "".join(characters)
    if not value:
        return Normalised.refuse("no letters or digits were heard")
    half = len(value) // 2
    if len(value) % 2 == 0 and value[:half] == value[half:] and _shape(value[:half]) in SHAPES:
        value, note = value[:half], "the caller said the plate twice"
    else:
        note = ""
    if "Ñ" in value:
        return Normalised.refuse("Mexican plates have no Ñ; the letter may have been N")
    if _shape(value) not in SHAPES:
        return Normalised.refuse(
            f"{value} is not the shape of a Mexican plate (e.g. ABC1234, ABC123D, AB123CD)"
        )
    return Normalised.ok(value, note)


def _shape(value: str) -> str:
    return re.sub(r"\d", "9", re.sub(r"[A-Z]", "L", value))


def _without_states(tokens: list[str], cased: dict[int, str]) -> tuple[list[str], dict[int, str]]:
    """Tokens without "de Jalisco", "del estado de Nuevo León" (a state is not part of the plate).

    "jota de Jalisco" keeps its radio word: "de" right after a letter name links the letter to it.
    """
    drop: set[int] = set()
    for i, token in enumerate(tokens):
        if token not in ("de", "del"):
            continue
        start, j = i, i + 1
        if tokens[j : j + 2] == ["estado", "de"]:
            j += 2
        for state in _STATES:
            words = state.split()
            if tokens[j : j + len(words)] == words and (
                j > i + 1 or i == 0 or tokens[i - 1] not in _letters.SINGLE
            ):
                drop.update(range(start, j + len(words)))
    kept = [i for i in range(len(tokens)) if i not in drop]
    return [tokens[i] for i in kept], {new: cased.get(old, tokens[old]) for new, old in enumerate(kept)}


def read_back_mx_plate(value: str) -> str:
    """Letter by letter, digits as words: "A, B, C, uno, dos, tres, cuatro"."""
    return ", ".join(_numbers.DIGIT_WORDS[int(char)] if char.isdigit() else char for char in value)


def _recase(raw: list[str], folded: list[str]) -> dict[int, str]:
    """The original spelling of each kept folded token, by position (upper-case tokens are literal letters)."""
    out: dict[int, str] = {}
    j = 0
    for i, token in enumerate(folded):
        while j < len(raw) and fold(raw[j]) != token:
            j += 1
        out[i] = raw[j] if j < len(raw) else token
        j += 1
    return out


def _spell(tokens: list[str], cased: dict[int, str]) -> tuple[list[str], str]:
    out: list[str] = []
    unknown: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        original = cased.get(i, token)
        if token == "," or (token in ("un", "una") and nxt in _letters.SINGLE):
            # A pause, or an article before a letter ("y al final una ce").
            i += 1
            continue
        if len(original) > 1 and original.isupper() and _is_literal(original):
            out.extend(fold(original).upper())
            i += 1
            continue
        if (token, nxt) in _letters.DOUBLE and tuple(tokens[i + 1 : i + 3]) not in _letters.DOUBLE:
            letter, i = _letters.DOUBLE[token, nxt], i + 2
        elif token in ("doble", "triple") and nxt in _letters.SINGLE and nxt not in ("ve", "u", "uve", "be"):
            out.append(_letters.SINGLE[nxt] * (2 if token == "doble" else 3))
            i += 2
            continue
        elif _numbers.is_number_token(token) or (
            token in ("doble", "triple") and _numbers.is_number_token(nxt)
        ):
            j = i
            while j < len(tokens) and (
                _numbers.is_number_token(tokens[j])
                or tokens[j] in ("doble", "triple")
                or (tokens[j] == "y" and j + 1 < len(tokens) and _numbers.is_number_token(tokens[j + 1]))
            ):
                j += 1
            out.extend(_numbers.read_chunks(tokens[i:j]))
            i = j
            continue
        elif token in _letters.SINGLE and not _is_link(tokens, i):
            letter, i = _letters.SINGLE[token], i + 1
        elif token in _letters.RADIO_ALONE:
            letter, i = _letters.RADIO_ALONE[token], i + 1
        elif token in HESITATIONS or token in _FILLER_WORDS or token == "y":
            i += 1
            continue
        elif _is_literal(original):
            out.extend(fold(original).upper())
            i += 1
            continue
        else:
            unknown.append(token)
            i += 1
            continue
        # A radio word after the letter: "A de avión", "be de burro", "ce como casa".
        for link in _letters.RADIO_LINKS:
            size = len(link)
            if tuple(tokens[i : i + size]) == link and i + size < len(tokens):
                word = tokens[i + size]
                if word in _letters.SINGLE or _numbers.is_number_token(word) or len(word) < 3:
                    continue
                settled = _letters.settle(letter, word)
                if settled is None:
                    return [], f"the letter {letter} and the example word {word!r} do not match"
                letter, i = settled, i + size + 1
                break
        out.append(letter)
    if unknown:
        return [], f"not understood as letters or digits: {' '.join(unknown)}"
    return out, ""


def _is_link(tokens: list[str], i: int) -> bool:
    """Whether "de" at i joins a letter to its radio word ("A de avión") rather than being the letter D."""
    if tokens[i] not in ("de", "como", "por") or i == 0:
        return False
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    return bool(nxt) and nxt not in _letters.SINGLE and not _numbers.is_number_token(nxt) and len(nxt) >= 3


def _is_literal(token: str) -> bool:
    """Letters and digits the recogniser wrote as such: "ABC", "ABC1234", "12AB3C" (not Spanish words)."""
    if not token.isalnum() or len(token) > 8:
        return False
    has_digit = any(char.isdigit() for char in token)
    if has_digit and any(char.isalpha() for char in token):
        return True
    if token.isupper() and len(token) <= 4:
        return True
    # "abc", "bcd": a short run of letters that is not a Spanish word.
    short = len(token) <= 3 and fold(token) not in _COMMON_WORDS
    return not has_digit and (short or not re.search(r"[aeiou]", fold(token)))


_STATES = (
    "aguascalientes", "baja california", "baja california sur", "campeche", "chiapas", "chihuahua", "coahuila",
    "colima", "durango", "guanajuato", "guerrero", "hidalgo", "jalisco", "mexico", "michoacan", "morelos", "nayarit",
    "nuevo leon", "oaxaca", "puebla", "queretaro", "quintana roo", "san luis potosi", "sinaloa", "sonora", "tabasco",
    "tamaulipas", "tlaxcala", "veracruz", "yucatan", "zacatecas", "la ciudad de mexico", "la cdmx", "cdmx",
    "el estado de mexico", "la frontera", "los estados unidos", "estados unidos", "texas", "california",
)  # fmt: skip
_COMMON_WORDS = frozenset(
    {"que", "por", "con", "sin", "hay", "muy", "mas", "ya", "les", "nos", "tan", "sea", "ver", "voy", "fue", "era",
     "oye", "asi", "pos", "pue", "aja", "eso", "esa", "mis", "tus", "sus", "los", "mmm", "eh", "ah", "am", "pm"}
)  # fmt: skip
_FILLER_WORDS = frozenset(phrase for phrase in _PREAMBLES if " " not in phrase)
_PHRASES = tuple(phrase for phrase in _PREAMBLES if " " in phrase)

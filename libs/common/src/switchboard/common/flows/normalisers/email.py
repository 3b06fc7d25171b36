"""E-mail addresses as said on the phone: "juan punto pérez arroba gmail punto com", spelled or written."""

import re
from collections.abc import Sequence

from switchboard.common.flows.normalisers import _letters, _numbers
from switchboard.common.flows.normalisers._text import (
    HESITATIONS,
    after_last_correction,
    contains_any,
    fold,
    join_utterances,
    strip_accents,
    without_asides,
)
from switchboard.common.flows.normalisers.result import Normalised

# Spoken symbols, longest first.
_SYMBOLS: tuple[tuple[str, str], ...] = (
    ("guion bajo", "_"), ("guion abajo", "_"), ("bajo guion", "_"), ("underscore", "_"), ("subguion", "_"),
    ("guion medio", "-"), ("guion", "-"), ("menos", "-"), ("arroba", "@"), ("aroba", "@"),
    ("arrova", "@"), ("at", "@"), ("punto", "."), ("dot", "."),
)  # fmt: skip
# How recognisers write the common providers' names when they are said.
_PROVIDERS = {
    "gmail": "gmail", "g mail": "gmail", "ge mail": "gmail", "je mail": "gmail", "jimeil": "gmail",
    "gimeil": "gmail", "yimeil": "gmail", "gimail": "gmail", "g meil": "gmail", "hotmail": "hotmail",
    "hot mail": "hotmail", "jotmail": "hotmail", "jot mail": "hotmail", "hotmeil": "hotmail",
    "jotmeil": "hotmail", "yahoo": "yahoo", "yahu": "yahoo", "yaju": "yahoo", "ya ju": "yahoo",
    "outlook": "outlook", "outluk": "outlook", "aut luk": "outlook", "autluk": "outlook", "out look": "outlook",
    "icloud": "icloud", "i cloud": "icloud", "aicloud": "icloud", "ai claud": "icloud", "live": "live",
    "prodigy": "prodigy", "prodigi": "prodigy",
}  # fmt: skip
_TLDS = {
    "com": "com",
    "con": "com",
    "comm": "com",
    "net": "net",
    "org": "org",
    "mx": "mx",
    "edu": "edu",
    "es": "es",
    "gob": "gob",
}
_PREAMBLES = (
    "mi correo electronico es", "mi correo es", "el correo es", "mi email es", "mi mail es", "es el", "correo",
    "email", "mail", "es", "seria", "apunta", "apunte", "anota", "anote", "si", "claro", "ok", "todo junto",
    "junto", "sin espacios", "todo en minusculas", "en minusculas", "minusculas", "minuscula", "mayuscula",
    "con", "de", "la", "el", "y", "luego", "despues", "letra", "letras", "numero", "numeros", "nada mas",
    "electronico", "mi", "mandamelo a", "mandamelo al", "mandalo a", "enviamelo a", "envialo a",
)  # fmt: skip
_DONT_KNOW = ("no se", "no tengo correo", "no tengo email", "no me acuerdo", "no uso correo")
_ANNOUNCERS = frozenset({"correo", "email", "mail", "emeil", "imeil", "direccion"})
_TRAILING = frozenset({"si", "verdad", "ok", "okay", "gracias", "va", "sale", "porfa", "eso", "todo", "es"})
_CLARIFICATION = re.compile(
    r"(?<!punto)(?:^|\s)(?:es\s+)?con\s+(?:la\s+|una\s+)?(?:hache|ache|zeta|ese|doble\s+ele|ye|i\s+griega|y\s+griega"
    r"|i\s+latina|be\s+grande|be\s+larga|ve\s+chica|ve\s+corta|jota|ge|equis|acento|tilde)\b"
)
_VALID = re.compile(
    r"^[a-z0-9](?:[a-z0-9._%+-]*[a-z0-9_])?@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*\.[a-z]{2,}$"
)


def normalise_email(utterances: Sequence[str]) -> Normalised:
    """The address in lower case; refused without an "arroba", with a domain cut short, or with unclear parts."""
    text = join_utterances(utterances)
    if not text:
        return Normalised.refuse("nothing was said")
    if contains_any(fold(text).replace(",", " ").split(), _DONT_KNOW):
        return Normalised.refuse("the caller gave no address")
    text, _ = after_last_correction(without_asides(text))
    # "mi correo es el de la empresa, ventas arroba …": what announces the address ends at its last comma.
    before_at = re.split(r"\barroba\b|@", text, maxsplit=1)[0]
    segments = before_at.split(",")
    announced = [i for i, segment in enumerate(segments[:-1]) if set(fold(segment).split()) & _ANNOUNCERS]
    if announced:
        text = ",".join(text.split(",")[announced[-1] + 1 :])
    # A dot followed by a space ends a sentence or an initial ("J. Martínez"); in an address it never does.
    text = re.sub(r"\.(?=\s|$)", " ", text)
    # "Martha con hache": a spelling clarification of a word already said.
    text = _CLARIFICATION.sub(" ", fold(text))
    folded = strip_accents(fold(text)).replace("ñ", "n")
    # Written addresses keep their own punctuation: "juan.perez@gmail.com".
    folded = re.sub(r"(?<=\w)\s*@\s*(?=\w)", " @ ", folded)
    tokens = re.findall(r"[a-z0-9]+|[@._-]", folded)
    pieces = _pieces(tokens)
    if isinstance(pieces, Normalised):
        return pieces
    pieces = _without_spelled_repeats(pieces)
    while len(pieces) > 1 and pieces[-1] in _TRAILING and pieces[-2] != ".":
        pieces = pieces[:-1]
    address = "".join(pieces).strip(".")
    if address.count("@") != 1:
        return Normalised.refuse("no arroba was heard" if "@" not in address else "more than one arroba")
    domain = address.split("@")[1]
    if "." not in domain:
        return Normalised.refuse(f"the domain {domain or '(none)'} is incomplete (punto com?)")
    if not _VALID.match(address):
        return Normalised.refuse(f"{address} is not a valid e-mail address")
    return Normalised.ok(address)


def read_back_email(value: str) -> str:
    """The address with its symbols said: "juan punto perez arroba gmail punto com"."""
    spoken = {"@": " arroba ", ".": " punto ", "_": " guion bajo ", "-": " guion "}
    return re.sub(r"\s+", " ", "".join(spoken.get(char, char) for char in value)).strip()


def _pieces(tokens: list[str]) -> list[str] | Normalised:
    tokens = _drop_preamble(tokens)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        matched = _match(tokens, i)
        if matched is not None:
            piece, size = matched
            out.append(piece)
            i += size
            continue
        token = tokens[i]
        if _numbers.is_number_token(token) and not (out and out[-1] == "." and token in _TLDS):
            j = i
            while j < len(tokens) and (_numbers.is_number_token(tokens[j]) or tokens[j] == "y"):
                j += 1
            out.append("".join(_numbers.read_chunks(tokens[i:j])))
            i = j
            continue
        if token in ("doble", "triple") and i + 1 < len(tokens) and tokens[i + 1] in _letters.SINGLE:
            out.append(_letters.SINGLE[tokens[i + 1]].lower() * (2 if token == "doble" else 3))
            i += 2
            continue
        if token in _letters.SINGLE and tokens[i + 1 : i + 2] == ["de"] and i + 2 < len(tokens):
            # "ele de limón": a letter with its radio word.
            word = tokens[i + 2]
            if len(word) >= 3 and word not in _letters.SINGLE and not _numbers.is_number_token(word):
                settled = _letters.settle(_letters.SINGLE[token], word)
                if settled is None:
                    return Normalised.refuse(f"the letter {token} and the example word {word!r} do not match")
                out.append(settled.lower())
                i += 3
                continue
        if token in HESITATIONS or token in _FILLERS:
            i += 1
            continue
        out.append(_LETTER_WORDS.get(token, token))
        i += 1
    return out


def _without_spelled_repeats(pieces: list[str]) -> list[str]:
    """A word followed by its own spelling ("juan, jota u a ene") is kept once."""
    out = list(pieces)
    i = 0
    while i < len(out):
        word = out[i]
        size = len(word)
        if size > 1 and word.isalpha() and "".join(out[i + 1 : i + 1 + size]) == word:
            if all(len(piece) == 1 for piece in out[i + 1 : i + 1 + size]):
                del out[i + 1 : i + 1 + size]
        i += 1
    return out


def _match(tokens: list[str], i: int) -> tuple[str, int] | None:
    """A spoken symbol, provider name, top-level domain or two-word letter name starting at i."""
    if tokens[i] in "@._-":
        return tokens[i], 1
    for phrase, symbol in _SYMBOLS:
        size = len(phrase.split())
        if tokens[i : i + size] == phrase.split():
            return symbol, size
    for size in (2, 1):
        phrase = " ".join(tokens[i : i + size])
        if phrase in _PROVIDERS and len(tokens[i : i + size]) == size:
            return _PROVIDERS[phrase], size
    if i > 0 and tokens[i - 1] in (".", "punto", "dot") and tokens[i] in _TLDS:
        return _TLDS[tokens[i]], 1
    if (tokens[i], tokens[i + 1] if i + 1 < len(tokens) else "") in _letters.DOUBLE:
        return _letters.DOUBLE[tokens[i], tokens[i + 1]].lower(), 2
    if tokens[i : i + 2] == ["eme", "equis"]:
        return "mx", 2
    return None


def _drop_preamble(tokens: list[str]) -> list[str]:
    # "el correo de la empresa es …": whatever announces the address ends at its first "es".
    at = next(
        (i for i, token in enumerate(tokens) if token in ("@", "arroba", "aroba", "arrova")), len(tokens)
    )
    named = next((i for i, token in enumerate(tokens[:at]) if token in _ANNOUNCERS), None)
    if named is not None and "es" in tokens[named:at]:
        tokens = tokens[tokens.index("es", named) + 1 :]
    changed = True
    while changed:
        changed = False
        for phrase in sorted(_PREAMBLES, key=lambda p: -len(p.split())):
            needle = phrase.split()
            if tokens[: len(needle)] == needle and len(tokens) > len(needle):
                tokens, changed = tokens[len(needle) :], True
                break
    return tokens


# Spelled letters become letters; words that are not letter names are kept as words.
_LETTER_WORDS = {name: letter.lower() for name, letter in _letters.SINGLE.items()}
_FILLERS = frozenset(
    {"todo", "junto", "sin", "espacios", "minusculas", "minuscula", "mayuscula", "mayusculas"}
)

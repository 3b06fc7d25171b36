"""A caller's full name: capitalised words, without "me llamo", "soy", titles or hesitations."""

import re
from collections.abc import Sequence

from switchboard.common.flows.normalisers._text import (
    HESITATIONS,
    after_last_correction,
    contains_any,
    fold,
    join_utterances,
    without_asides,
)
from switchboard.common.flows.normalisers.result import Normalised

# Phrases that introduce a name; stripped from the start, longest first.
_INTRODUCTIONS = sorted(
    (
        "me llamo", "mi nombre es", "mi nombre completo es", "mi nombre completo", "mi nombre", "soy", "yo soy",
        "habla", "le habla", "te habla", "aqui", "aqui habla", "aqui con", "con", "es", "el nombre es", "el nombre",
        "nombre completo", "nombre", "se llama", "el chofer es", "el operador es", "yo me llamo", "si", "claro",
        "si claro", "ok", "okay", "a sus ordenes", "para servirle", "servidor", "mucho gusto", "a ver", "el chofer",
        "el operador", "soy el operador", "soy el chofer", "el que maneja", "don", "dona", "senor", "senora",
        "senorita", "ingeniero", "licenciado", "licenciada", "profe", "joven", "mi nombre seria", "seria", "hola",
        "que tal", "hola que tal", "buenas tardes", "buenos dias", "buenas noches", "buen dia", "buenas", "el senor",
        "la senora", "reportandose", "aqui reportandose", "pues",
    ),
    key=lambda phrase: -len(phrase.split()),
)  # fmt: skip
_TRAILERS = (
    "para servirle", "a sus ordenes", "mucho gusto", "servidor", "gracias", "a la orden", "verdad", "buenas tardes",
    "buenos dias", "buenas noches", "buen dia", "buenas",
)  # fmt: skip
# Particles written in lower case inside a name ("María de la Luz").
_PARTICLES = frozenset({"de", "del", "la", "las", "los", "y", "e", "van", "von", "da", "di"})
# Words that are not part of a Mexican name: an answer holding them is something else.
_NOT_NAME = frozenset(
    {
        "que", "es", "soy", "voy", "estoy", "esta", "estan", "no", "si", "pero", "porque", "ahorita", "tengo",
        "pasa", "lo", "le", "me", "mi", "tu", "su", "el", "un", "una", "con", "por", "para", "como", "cuando",
        "donde", "ya", "hay", "son", "manejando", "trabajo", "llamo", "llama", "quien", "habla", "nombre",
        "tractor", "placas", "numero", "hola", "yo", "gracias", "favor", "senorita", "disculpe", "momento",
        "ocupado", "ocupada", "despues", "luego", "llamar", "puedo", "quiero", "sabe", "se", "dicen", "digo",
        "transportes", "fletes", "logistica", "empresa", "compania", "grupo", "sa", "cv", "mudanzas", "autotransportes",
    }
)  # fmt: skip
# A spelling clarification after a surname ("Pérez con zeta") cannot be applied reliably; it is dropped.
_SPELLING = re.compile(
    r"\b(?:con|es\s+con)\s+(?:(?:be|ve|b|v)\s+(?:grande|chica|corta|larga|alta|baja|de\s+\w+)|zeta|z|ese|s|ce|c"
    r"|jota|j|ge|g|hache|h|i\s+griega|y\s+griega|y|i\s+latina|doble\s+ele|elle|ll"
    r"|(?:acento|tilde)(?:\s+en\s+la\s+\w+)?)(?:\s+al\s+final|\s+al\s+principio|\s+en\s+medio)?\b",
    re.IGNORECASE,
)
# What follows "pero" is a nickname or an aside ("Juan Pérez, pero me dicen el Güero").
_ASIDE = re.compile(r"[,;.]?\s+pero\s+.*$", re.IGNORECASE)
_RESTART = re.compile(r"\b((?:\w+\s+){0,2}\w+)\s*(?:[,.;…]+\s*)+\1\b", re.IGNORECASE)
_HESITATION_WORDS = re.compile(r"\b(?:este|eh+|em+|m+|hmm)\b", re.IGNORECASE)
_DONT_SAY = ("no se", "para que", "por que", "no le voy a dar", "no te voy a dar", "no quiero", "quien habla")
_MAX_WORDS = 7
_PURE_HESITATIONS = frozenset({"eh", "ehh", "em", "emm", "mm", "mmm", "hmm", "este", "ah"})


def normalise_person_name(utterances: Sequence[str]) -> Normalised:
    """The name as capitalised words; refused when it is a single word, has digits, or is not a name."""
    text = join_utterances(utterances)
    if not text:
        return Normalised.refuse("nothing was said")
    if contains_any(re.sub(r"[^\w\s]", " ", fold(without_asides(text))).split(), _DONT_SAY):
        return Normalised.refuse("the caller did not give a name")
    text, _ = after_last_correction(without_asides(text))
    text = _ASIDE.sub("", _SPELLING.sub(" ", text))
    # "Roberto, Roberto Sánchez": a word said again after a pause is a restart; "Pérez Pérez" is a name.
    text = _RESTART.sub(r"\1", _HESITATION_WORDS.sub(" ", text))
    if re.search(r"\d", text):
        return Normalised.refuse("a name has no digits; the answer holds something else")
    # An initial keeps its dot ("J. Guadalupe"); other punctuation separates words.
    raw = [word.strip("-'’") for word in re.findall(r"\b\w\.|[\w'’-]+", text)]
    raw = _strip_edges([word for word in raw if word])
    if not raw:
        return Normalised.refuse("no name was heard")
    if len(raw) == 1:
        return Normalised.refuse("only one name was heard; the full name is needed")
    if len(raw) > _MAX_WORDS:
        return Normalised.refuse("too many words for a name")
    if fold(raw[0]) in _PARTICLES:
        return Normalised.refuse(f"not a name: starts with {raw[0]!r}")
    strange = [word for word in raw if fold(word) in _NOT_NAME]
    if strange:
        return Normalised.refuse(f"not a name: {' '.join(strange)}")
    if all(len(word.rstrip(".")) == 1 for word in raw):
        return Normalised.refuse("spelled letters, not a name")
    return Normalised.ok(" ".join(_capitalise(word, first=i == 0) for i, word in enumerate(raw)))


def _strip_edges(raw: list[str]) -> list[str]:
    # Pure hesitations go anywhere; words that are also surnames ("Bueno", "Mira") only at the edges.
    words = [word for word in raw if fold(word) not in _PURE_HESITATIONS]
    changed = True
    while changed and words:
        changed = False
        while words and (fold(words[0]) in HESITATIONS or (fold(words[0]) == "no" and len(words) > 2)):
            words, changed = words[1:], True
        while words and fold(words[-1]) in HESITATIONS:
            words, changed = words[:-1], True
        folded = [fold(word).replace("ñ", "n") for word in words]
        for phrase in _INTRODUCTIONS:
            size = len(phrase.split())
            if folded[:size] == phrase.split() and len(words) > size:
                words, changed = words[size:], True
                break
        folded = [fold(word) for word in words]
        for phrase in _TRAILERS:
            size = len(phrase.split())
            if size <= len(folded) and folded[-size:] == phrase.split():
                words, changed = words[:-size], True
                break
    while words and fold(words[-1]) in _PARTICLES:
        words = words[:-1]
    return words


def _capitalise(word: str, *, first: bool) -> str:
    lower = word.lower()
    if not first and fold(lower) in _PARTICLES:
        return lower
    return "-".join(part[:1].upper() + part[1:] for part in lower.split("-"))

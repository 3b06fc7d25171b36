"""A caller's full name: capitalised words, without "me llamo", "soy" or hesitations."""

import re
from collections.abc import Sequence

from switchboard.common.flows.normalisers._text import (
    HESITATIONS,
    after_last_correction,
    contains_any,
    fold,
    join_utterances,
)
from switchboard.common.flows.normalisers.result import Normalised

# Phrases that introduce a name, longest first so "mi nombre completo es" wins over "mi nombre".
_INTRODUCTIONS = sorted(
    (
        "me llamo",
        "mi nombre es",
        "mi nombre completo es",
        "mi nombre completo",
        "mi nombre",
        "soy",
        "yo soy",
        "habla",
        "le habla",
        "te habla",
        "aqui",
        "aqui habla",
        "con",
        "es",
        "el nombre es",
        "el nombre",
        "nombre completo",
        "nombre",
        "se llama",
        "el chofer es",
        "el operador es",
        "yo me llamo",
        "si",
        "claro",
        "si claro",
        "ok",
        "okay",
        "a sus ordenes",
        "para servirle",
        "servidor",
        "mucho gusto",
    ),
    key=lambda phrase: -len(phrase.split()),
)
_TRAILERS = ("para servirle", "a sus ordenes", "mucho gusto", "servidor", "gracias", "a la orden")
# Particles written in lower case inside a name ("María de la Luz").
_PARTICLES = frozenset({"de", "del", "la", "las", "los", "y", "e", "van", "von", "da", "di"})
# A spelling clarification after a surname ("Pérez con zeta") cannot be applied reliably; it is dropped.
_SPELLING = re.compile(
    r"\b(?:con|es\s+con)\s+(?:(?:be|ve|b|v)\s+(?:grande|chica|corta|larga|alta|baja|de\s+\w+)|zeta|z|ese|s|ce|c"
    r"|jota|j|ge|g|hache|h|i\s+griega|y\s+griega|y|i\s+latina|doble\s+ele|elle|ll|acento|tilde)\b",
    re.IGNORECASE,
)
_DONT_SAY = ("no se", "para que", "por que", "no le voy a dar", "no te voy a dar", "no quiero", "quien habla")
_MAX_WORDS = 7
_PURE_HESITATIONS = frozenset({"eh", "ehh", "em", "emm", "mm", "mmm", "hmm", "este", "ah"})


def normalise_person_name(utterances: Sequence[str]) -> Normalised:
    """The name as capitalised words; refused when it is a single word, has digits, or is not a name."""
    text = join_utterances(utterances)
    if not text:
        return Normalised.refuse("nothing was said")
    if contains_any(fold(text).replace(",", " ").replace("?", " ").replace("¿", " ").split(), _DONT_SAY):
        return Normalised.refuse("the caller did not give a name")
    text, _ = after_last_correction(text)
    text = _SPELLING.sub(" ", text)
    if re.search(r"\d", text):
        return Normalised.refuse("a name has no digits")
    raw = [word for word in re.split(r"[^\w'’-]+", text) if word and not word.isdigit()]
    raw = [word.strip("-'’") for word in raw if word.strip("-'’")]
    raw = _strip_edges(raw)
    if not raw:
        return Normalised.refuse("no name was heard")
    if len(raw) == 1:
        return Normalised.refuse("only one name was heard; the full name is needed")
    if len(raw) > _MAX_WORDS:
        return Normalised.refuse("too many words for a name")
    if all(len(word) == 1 for word in raw):
        return Normalised.refuse("spelled letters, not a name")
    return Normalised.ok(" ".join(_capitalise(word, first=i == 0) for i, word in enumerate(raw)))


def _strip_edges(raw: list[str]) -> list[str]:
    # Pure hesitations go anywhere; words that are also surnames ("Bueno", "Mira") only at the edges.
    words = [word for word in raw if fold(word) not in _PURE_HESITATIONS]
    changed = True
    while changed and words:
        changed = False
        while words and fold(words[0]) in HESITATIONS:
            words, changed = words[1:], True
        while words and fold(words[-1]) in HESITATIONS:
            words, changed = words[:-1], True
        folded = [fold(word) for word in words]
        for phrase in _INTRODUCTIONS:
            size = len(phrase.split())
            if folded[:size] == phrase.split():
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

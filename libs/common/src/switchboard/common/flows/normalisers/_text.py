"""Text clean-up shared by the normalisers: what phone speech recognition gives is noisy.

Capitals and punctuation are arbitrary, accents come and go, hesitations ("este", "eh", "mmm") sit anywhere,
and callers correct themselves mid-answer ("tres, perdón, cuatro"). These helpers turn utterances into
lower-case tokens and cut an answer at its last self-correction.
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence

# Hesitations and discourse fillers that carry no content in any field.
HESITATIONS = frozenset(
    {
        "eh", "ehh", "em", "emm", "mm", "mmm", "hmm", "ah", "este", "pues", "bueno", "aver", "verdad", "okey",
        "oiga", "oye", "mire", "mira", "fíjese", "fijese", "ajá", "aja",
    }
)  # fmt: skip

# Words that announce a self-correction: what follows replaces what came before.
_CORRECTION = re.compile(
    r"\b(?:perd[oó]n|no,?\s+perd[oó]n|disculpe?|digo|mejor\s+dicho|m[aá]s\s+bien|corrijo|me\s+equivoqu[eé]"
    r"|no\s*,\s*no|no\s+no|no\s+espere?|no\s+esp[eé]rate|esp[eé]ra(?:me|te)?|esp[eé]re(?:me)?"
    # "tres, no, cuatro": a "no" between pauses takes back what came before.
    r"|(?<=[,.;…]\s)no(?=\s*[,.;…]))\b[\s,.;:!¡?¿-]*",
    re.IGNORECASE,
)

_PUNCTUATION = re.compile(r"[^\w\s@:.+-]", re.UNICODE)


def strip_accents(text: str) -> str:
    """Remove diacritics but keep ñ, which is a letter of its own in Spanish."""
    out = []
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.category(char) == "Mn" and char != "\u0303":
            continue
        out.append(char)
    return unicodedata.normalize("NFC", "".join(out))


def fold(text: str) -> str:
    """Lower case without accents (ñ kept): the form every lookup table is written in."""
    return strip_accents(text.casefold())


def join_utterances(utterances: Iterable[str]) -> str:
    """One answer split over several utterances becomes one text; each piece ends a phrase."""
    return " , ".join(piece.strip() for piece in utterances if piece and piece.strip())


_QUESTION = re.compile(r"¿[^?¿]*\?|¿[^?¿]*$")
_CONTENT = re.compile(r"\w")


def without_asides(text: str) -> str:
    """The answer without the questions asked around it ("ABC 1234, ¿sí me copias?", "¿Mi nombre? Juan").

    A question is kept when nothing else was said: then it is the answer, and the normaliser judges it.
    """
    kept = _QUESTION.sub(" , ", text)
    return kept if _CONTENT.search(kept) else text


def after_last_correction(text: str) -> tuple[str, bool]:
    """The part of an answer after the caller's last self-correction, and whether there was one."""
    matches = list(_CORRECTION.finditer(text))
    if not matches:
        return text, False
    tail = text[matches[-1].end() :]
    return (tail, True) if tail.strip(" ,.;:") else (text[: matches[-1].start()], True)


def words(text: str) -> list[str]:
    """Folded word tokens; punctuation other than what a field may need (@ : . + -) becomes space."""
    cleaned = _PUNCTUATION.sub(" ", fold(text))
    cleaned = re.sub(r"(?<![\w])[.:+-]+|[.:+-]+(?![\w])", " ", cleaned)
    return cleaned.split()


def plain_words(text: str) -> list[str]:
    """Folded word tokens with every punctuation mark removed."""
    return re.sub(r"[^\w\s]", " ", fold(text)).split()


# Multi-word hesitations; removed as phrases because their words ("a", "o") are letters elsewhere.
HESITATION_PHRASES = ("o sea", "a ver", "a haber", "es que")


def drop_phrases(tokens: Sequence[str], phrases: Iterable[str]) -> list[str]:
    """The tokens with every occurrence of the given folded phrases removed."""
    out = list(tokens)
    for phrase in phrases:
        needle = phrase.split()
        size = len(needle)
        i = 0
        while i <= len(out) - size:
            if out[i : i + size] == needle:
                del out[i : i + size]
            else:
                i += 1
    return out


def contains_phrase(tokens: Sequence[str], phrase: str) -> bool:
    """Whether the folded phrase occurs as consecutive tokens."""
    needle = phrase.split()
    size = len(needle)
    return any(list(tokens[i : i + size]) == needle for i in range(len(tokens) - size + 1))


def contains_any(tokens: Sequence[str], phrases: Iterable[str]) -> bool:
    """Whether any of the folded phrases occurs as consecutive tokens."""
    return any(contains_phrase(tokens, phrase) for phrase in phrases)

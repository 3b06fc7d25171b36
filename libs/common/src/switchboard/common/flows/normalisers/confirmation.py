"""Answers to a read-back: "yes" or "no"; a "sí, pero…" is a no (something needs changing)."""

from collections.abc import Sequence

from switchboard.common.flows.normalisers._text import (
    contains_any,
    contains_phrase,
    drop_phrases,
    join_utterances,
    plain_words,
)
from switchboard.common.flows.normalisers.result import Normalised

_YES = (
    "si", "sip", "claro", "claro que si", "correcto", "es correcto", "esta correcto", "exacto", "exactamente",
    "asi es", "eso es", "afirmativo", "andale", "orale", "aja", "sale", "va", "esta bien", "ok", "okay",
    "oki", "perfecto", "de acuerdo", "simon", "efectivamente", "todo bien", "bien", "como no", "por supuesto",
    "ese mero", "esa mera", "ese es", "esa es", "eso mero", "asi", "todo correcto", "son correctas",
    "son correctos", "es ese", "es esa", "yes", "dale", "sii", "sí", "zi", "ajam", "aham", "seguro",
    "todo esta bien", "bien dicho", "tal cual", "justo", "justamente", "muy bien", "confirmo", "mjm", "mhm",
    "ajam", "aha", "uhum", "confirmado",
)  # fmt: skip
_NO = (
    "no", "nop", "nel", "negativo", "incorrecto", "esta mal", "estan mal", "mal", "para nada", "equivocado",
    "equivocada", "te equivocaste", "se equivoco", "no es", "no son", "tampoco", "error", "falso", "ni modo",
    "no exactamente", "casi", "cambia", "cambialo", "corrige", "corrigelo", "le falta", "falta", "sobra",
    "esta incorrecto", "no esta bien", "no esta correcto", "no no",
)  # fmt: skip
# A yes that goes on to change something is a no: the value must be asked again.
_BUT = (
    "pero", "nomas que", "nada mas que", "solo que", "solamente que", "excepto", "menos el", "menos la",
    "aunque", "sin embargo", "salvo",
)  # fmt: skip
# Idioms made of "no" words that mean yes.
_YES_IDIOMS = (
    "no hay problema",
    "no hay bronca",
    "no pasa nada",
    "no te preocupes",
    "no se preocupe",
    "como no",
)
# Negations of a yes phrase: no, whatever yes words they contain.
_NEGATED_YES = (
    "no esta bien", "no esta correcto", "no es correcto", "no es asi", "no es ese", "no es esa",
    "no son correctos", "no son correctas", "no exactamente", "no es eso", "no estan bien",
)  # fmt: skip
_UNSURE = (
    "no se", "tal vez", "quizas", "quiza", "a lo mejor", "mas o menos", "no estoy seguro", "no estoy segura",
    "no entendi", "repite", "repitelo", "repitemelo", "otra vez", "no escuche", "puede ser", "igual y",
    "no le entendi", "no te entendi", "que dijo", "que dijiste", "como dijo", "como dijiste",
)  # fmt: skip
# Whole answers that are a question back, not an answer.
_QUESTION_ONLY = {("que",), ("como",), ("mande",), ("perdon",), ("eh",), ("bueno",), ("si", "bueno")}


def normalise_confirmation(utterances: Sequence[str]) -> Normalised:
    """Yes or no to a read-back; unsure, mixed or unrelated answers are refused."""
    tokens = plain_words(join_utterances(utterances))
    if not tokens:
        return Normalised.refuse("nothing was said")
    if tuple(tokens) in _QUESTION_ONLY:
        return Normalised.refuse("the caller asked back instead of answering")
    yes = contains_any(drop_phrases(tokens, _NEGATED_YES), _YES) or contains_any(tokens, _YES_IDIOMS)
    without_idioms = drop_phrases(tokens, _YES_IDIOMS)
    no = contains_any(without_idioms, _NO)
    if contains_phrase(tokens, "creo que si") and not no:
        return Normalised.ok("yes", "the caller sounded unsure")
    if contains_phrase(tokens, "creo que no") and not yes:
        return Normalised.ok("no")
    if contains_any(without_idioms, _UNSURE):
        return Normalised.refuse("the caller is unsure or did not understand")
    if yes and contains_any(tokens, _BUT):
        return Normalised.ok("no", "the caller confirmed with a change")
    if yes and no:
        return Normalised.refuse("both yes and no were heard")
    if yes:
        return Normalised.ok("yes")
    if no:
        return Normalised.ok("no")
    return Normalised.refuse("neither yes nor no was heard")

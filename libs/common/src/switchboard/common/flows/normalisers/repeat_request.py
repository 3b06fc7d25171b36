"""Whether the caller asked to hear the question again ("no entendí", "¿mande?", "repite")."""

from collections.abc import Sequence

from switchboard.common.flows.normalisers._text import contains_any, join_utterances, plain_words
from switchboard.common.flows.normalisers.result import Normalised

_REPEAT = (
    "repite", "repitelo", "repitemelo", "repita", "repitame", "repitamelo", "repiteme", "se escucha mal",
    "se escucha muy mal", "se oye mal", "se oye muy mal", "te escucho mal", "le escucho mal", "no escucho",
    "que numero", "cual numero", "que placa", "que placas", "cuales placas", "que nombre", "que hora",
    "que dato", "que cosa", "repetir", "repites", "repetirme", "otra vez", "de nuevo", "nuevamente",
    "no entendi", "no le entendi", "no te entendi", "no entiendo", "no escuche", "no le escuche",
    "no te escuche", "no se escucha", "no te oi", "no te oigo", "no le oigo", "no lo oigo", "no la oigo",
    "no oigo", "no se te oye", "no se le oye", "cual dijo", "cual dijiste", "no le oi", "no oi", "no se oye",
    "se corto", "mas despacio", "mas lento", "que dijo", "que dijiste", "como dijo", "como dijiste",
    "que me dijo", "que me dijiste", "me lo puede decir", "puede decirlo", "una vez mas", "perdon que",
    "que pregunto", "que me pregunto", "como dice", "como dices", "que dice", "que dices", "no capte",
    "no alcance a oir", "no alcance a escuchar",
)  # fmt: skip
# Whole answers that only ask back.
_POLITE = frozenset({"disculpa", "disculpe", "perdon", "oiga", "oye", "senorita", "joven", "eh"})
_ASK_BACK = {
    ("que",),
    ("como",),
    ("mande",),
    ("perdon",),
    ("eh",),
    ("bueno",),
    ("disculpe",),
    ("que", "que"),
    ("cual",),
    ("bueno", "bueno"),
    ("mande", "mande"),
}


def normalise_repeat_request(utterances: Sequence[str]) -> Normalised:
    """True when the caller asks for the question again, false for any other answer; silence is refused."""
    tokens = plain_words(join_utterances(utterances))
    if not tokens:
        return Normalised.refuse("nothing was said")
    polite = tuple(token for token in tokens if token not in _POLITE)
    if tuple(tokens) in _ASK_BACK or (polite and polite in _ASK_BACK) or contains_any(tokens, _REPEAT):
        return Normalised.ok(True)
    return Normalised.ok(False)

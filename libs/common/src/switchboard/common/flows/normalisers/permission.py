"""The answer to "¿puede contestar ahora?": accept, decline, email, whatsapp, call_back or wait."""

from collections.abc import Sequence

from switchboard.common.flows.normalisers._text import (
    contains_any,
    drop_phrases,
    join_utterances,
    plain_words,
)
from switchboard.common.flows.normalisers.result import Normalised

_ACCEPT = (
    "si", "claro", "adelante", "digame", "dime", "puedo", "tengo tiempo", "andale", "va", "sale", "orale",
    "con gusto", "esta bien", "ok", "okay", "dale", "pregunte", "pregunta", "por supuesto", "como no",
    "de acuerdo", "perfecto", "listo", "aja", "simon", "si puedo", "no hay problema", "no hay bronca",
    "ahorita si", "le escucho", "te escucho", "lo escucho", "la escucho", "estoy listo", "estoy lista",
    "sin problema", "cuando guste", "a sus ordenes", "a la orden", "vamos", "empecemos", "empiece", "empieza",
    "bien",
)  # fmt: skip
_DECLINE = (
    "no", "no gracias", "no me interesa", "no puedo", "no quiero", "no tengo tiempo", "nel", "para nada",
    "ahorita no", "ahora no", "no moleste", "no me llame", "no me llames", "no estoy interesado",
    "no estoy interesada", "borreme", "quiteme", "negativo", "no voy a poder",
)  # fmt: skip
_EMAIL = (
    "correo", "email", "e mail", "mail", "imeil", "emeil", "correo electronico", "por escrito", "gmail",
)  # fmt: skip
_WHATSAPP = (
    "whatsapp", "guats", "guatsap", "guasa", "whats", "wats", "wasap", "guasap", "watsap", "whatsap", "wasa",
    "guatsap", "wasapp", "watsapp", "whats app", "wats app", "guas", "wuasap",
)  # fmt: skip
_CALL_BACK = (
    "llamame", "llameme", "llamarme", "llamarle", "me llamas", "me llama", "me llamaria", "me llamarias",
    "marcame", "marqueme", "me marcas", "me marca", "marcarme", "hablame", "hableme", "me hablas", "me habla",
    "me hablan", "regresame la llamada", "regreseme la llamada", "llamen", "llamas mas tarde",
    "llama mas tarde", "mas tarde", "luego", "despues", "al rato", "otro dia", "en otro momento",
    "otro momento", "manana", "en la tarde", "en la noche", "marca", "marcas", "vuelve a llamar",
    "vuelva a llamar", "volver a llamar", "llama en", "llame en", "en una hora", "en media hora", "al ratito",
    "mas al rato", "ahorita te marco",
)  # fmt: skip
_WAIT = (
    "espera", "esperame", "espereme", "espere", "un momento", "un momentito", "un segundo", "un segundito",
    "un minuto", "un minutito", "dame un", "deme un", "permiteme", "permitame", "aguantame", "aguanteme",
    "tantito", "dejame orillarme", "me estaciono", "me orillo", "dejame estacionarme", "me paro",
    "deja me orillo", "deja me estaciono", "deja me paro", "un ratito", "no cuelgues", "no cuelgue",
    "ahorita vengo", "ahorita regreso",
)  # fmt: skip
_UNCLEAR = ("quien habla", "quien es", "de que se trata", "que quiere", "que quieres", "para que", "de donde")


def normalise_permission(utterances: Sequence[str]) -> Normalised:
    """What the caller chose; a channel, a call-back or a wait outranks a bare yes or no."""
    tokens = [token.replace("ñ", "n") for token in plain_words(join_utterances(utterances))]
    if not tokens:
        return Normalised.refuse("nothing was said")
    if contains_any(tokens, ("mensaje", "mensajito")) and not contains_any(tokens, _WHATSAPP + _EMAIL):
        return Normalised.refuse("a message was asked for without saying where (e-mail or WhatsApp)")
    # "luego luego" is Mexican for "right away", not "later".
    tokens = [
        "adelante" if token == "luego" and "luego" in tokens[i + 1 : i + 2] else token
        for i, token in enumerate(tokens)
    ]
    tokens = [
        token
        for i, token in enumerate(tokens)
        if not (token == "luego" and tokens[i - 1 : i] == ["adelante"])
    ]
    specific = [
        name
        for name, phrases in (("email", _EMAIL), ("whatsapp", _WHATSAPP), ("call_back", _CALL_BACK))
        if contains_any(tokens, phrases)
    ]
    # A wait is a moment on the line; "llámame en un momento" is a call-back, not a wait.
    if contains_any(tokens, _WAIT) and "call_back" not in specific:
        specific.append("wait")
    if len(specific) > 1:
        return Normalised.refuse(f"more than one choice was heard: {', '.join(specific)}")
    if specific:
        return Normalised.ok(specific[0])
    idioms = ("no hay problema", "no hay bronca", "como no", "sin problema")
    negated = [phrase for phrase in _DECLINE if " " in phrase]
    yes = contains_any(drop_phrases(tokens, negated), _ACCEPT) or contains_any(tokens, idioms)
    no = contains_any(drop_phrases(tokens, idioms), _DECLINE)
    if yes and no:
        return Normalised.refuse("both yes and no were heard")
    if contains_any(tokens, _UNCLEAR) and not (yes or no):
        return Normalised.refuse("the caller asked a question instead of answering")
    if yes:
        return Normalised.ok("accept")
    if no:
        return Normalised.ok("decline")
    return Normalised.refuse("no clear answer to whether the caller can talk now")

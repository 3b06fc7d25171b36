"""Mexican-Spanish normalisers: what a caller said on the phone, as a clean value or a refusal with a reason.

`normalise(field, utterances)` reads the caller's consecutive utterances (as phone speech recognition wrote
them) and returns a `Normalised`; `read_back(field, value)` is how the agent says a value back in Spanish;
`resolve_callback_time` turns "en veinte minutos" or "mañana a las nueve" into an absolute time.
"""

from collections.abc import Callable, Sequence
from typing import get_args

from switchboard.common.flows.normalisers.callback_time import resolve_callback_time
from switchboard.common.flows.normalisers.confirmation import normalise_confirmation
from switchboard.common.flows.normalisers.email import normalise_email, read_back_email
from switchboard.common.flows.normalisers.mx_plate import normalise_mx_plate, read_back_mx_plate
from switchboard.common.flows.normalisers.number import normalise_number, read_back_number
from switchboard.common.flows.normalisers.permission import normalise_permission
from switchboard.common.flows.normalisers.person_name import normalise_person_name
from switchboard.common.flows.normalisers.repeat_request import normalise_repeat_request
from switchboard.common.flows.normalisers.result import FieldType, Normalised
from switchboard.common.flows.normalisers.time_24h import normalise_time_24h, read_back_time_24h

__all__ = ["FIELD_TYPES", "FieldType", "Normalised", "normalise", "read_back", "resolve_callback_time"]

FIELD_TYPES: tuple[FieldType, ...] = get_args(FieldType)

_PERMISSION_SAID = {
    "accept": "sí, puede contestar ahora",
    "decline": "no quiere contestar",
    "email": "por correo electrónico",
    "whatsapp": "por WhatsApp",
    "call_back": "que le llamemos más tarde",
    "wait": "que esperemos un momento",
}
_NORMALISERS: dict[FieldType, Callable[[Sequence[str]], Normalised]] = {
    "person_name": normalise_person_name,
    "number": normalise_number,
    "mx_plate": normalise_mx_plate,
    "time_24h": normalise_time_24h,
    "email": normalise_email,
    "confirmation": normalise_confirmation,
    "permission": normalise_permission,
    "repeat_request": normalise_repeat_request,
}


def normalise(field: FieldType, utterances: Sequence[str]) -> Normalised:
    """The value of `field` in the caller's consecutive utterances, or a refusal saying why."""
    if isinstance(utterances, str):
        raise TypeError("utterances is a sequence of strings, not one string")
    if field not in FIELD_TYPES:
        raise ValueError(f"unknown field type {field!r}; known: {', '.join(FIELD_TYPES)}")
    return _NORMALISERS[field](list(utterances))


def read_back(field: FieldType, value: str | bool) -> str:
    """How the agent reads a normalised value back to the caller, in Spanish."""
    if field == "number":
        return read_back_number(str(value))
    if field == "mx_plate":
        return read_back_mx_plate(str(value))
    if field == "time_24h":
        return read_back_time_24h(str(value))
    if field == "email":
        return read_back_email(str(value))
    if field == "confirmation":
        return "sí" if value == "yes" else "no"
    if field == "repeat_request":
        return "sí" if value else "no"
    if field == "permission":
        return _PERMISSION_SAID.get(str(value), str(value))
    return str(value)

"""Whatever a recogniser writes, a normaliser answers with a well-formed value or a refusal, and never raises."""

import random
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from switchboard.common.flows.normalisers import (
    FIELD_TYPES,
    FieldType,
    normalise,
    read_back,
    resolve_callback_time,
)
from switchboard.common.flows.normalisers.mx_plate import SHAPES

pytestmark = pytest.mark.unit

# Words from every field, sound-alike letters, numbers, symbols and noise, shuffled into utterances.
VOCABULARY = (
    "a be ce de e efe ge hache i jota ka ele eme ene eñe o pe cu erre ese te u uve ve doble equis ye zeta griega "
    "uno dos tres cuatro cinco seis siete ocho nueve diez once doce veinte treinta cien ciento mil millón cero y "
    "doscientos quinientos veintidós catorce quince media cuarto para menos las la de del en punto arroba guion "
    "bajo com mx gmail hotmail sí no pero claro correcto perdón digo espera llámame whatsapp correo mañana tarde "
    "noche mediodía medianoche horas minutos me llamo soy juan pérez ¿qué? ¿mande? repite otra vez 12 1234 ABC "
    "AB-123-CD 14:30 5:30 p.m. a.m. juan.perez@gmail.com , . ... ¿ ? ! @ _ - : ñ Ñ é á 0 00 007 9999999999"
).split()
SHAPE_PATTERNS = [
    re.compile("^" + shape.replace("L", "[A-Z]").replace("9", "[0-9]") + "$") for shape in SHAPES
]


def utterances(rng: random.Random) -> list[str]:
    return [
        " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(0, 9))) for _ in range(rng.randint(0, 3))
    ]


def well_formed(field: FieldType, value: str | bool) -> bool:
    match field:
        case "person_name":
            return isinstance(value, str) and value == value.strip() and not re.search(r"\d", value)
        case "number":
            return isinstance(value, str) and value.isdigit()
        case "mx_plate":
            return isinstance(value, str) and any(pattern.match(value) for pattern in SHAPE_PATTERNS)
        case "time_24h":
            return isinstance(value, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value) is not None
        case "email":
            return isinstance(value, str) and value == value.lower() and value.count("@") == 1
        case "confirmation":
            return value in ("yes", "no")
        case "permission":
            return value in ("accept", "decline", "email", "whatsapp", "call_back", "wait")
        case "repeat_request":
            return isinstance(value, bool)


@pytest.mark.parametrize("field", FIELD_TYPES)
def test_random_recogniser_output_gets_a_well_formed_value_or_a_refusal(field: FieldType) -> None:
    rng = random.Random(f"invariants-{field}")
    for _ in range(500):
        said = utterances(rng)
        result = normalise(field, said)
        if result.valid:
            assert result.value is not None and well_formed(field, result.value), (said, result)
            assert read_back(field, result.value)
        else:
            assert result.value is None and result.reason, (said, result)


def test_random_call_back_answers_resolve_to_the_future_or_are_refused() -> None:
    tz = ZoneInfo("America/Mexico_City")
    now = datetime(2026, 12, 4, 15, 10, tzinfo=tz)
    rng = random.Random("invariants-callback")
    for _ in range(500):
        said = utterances(rng)
        result = resolve_callback_time(said, now, tz)
        if result.valid:
            assert isinstance(result.value, str)
            assert datetime.fromisoformat(result.value) > now, (said, result)
        else:
            assert result.value is None and result.reason, (said, result)

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from switchboard.common.flows.normalisers import resolve_callback_time

pytestmark = pytest.mark.unit

TZ = ZoneInfo("America/Mexico_City")
# Friday 4 December 2026, 15:10:27 in Mexico City (UTC-6, no daylight saving).
NOW = datetime(2026, 12, 4, 15, 10, 27, tzinfo=TZ)


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        (["Llámame en veinte minutos."], "2026-12-04T15:30:00-06:00"),
        (["en 20 minutos"], "2026-12-04T15:30:00-06:00"),
        (["en media hora"], "2026-12-04T15:40:00-06:00"),
        (["dentro de una hora y media"], "2026-12-04T16:40:00-06:00"),
        (["en dos horas"], "2026-12-04T17:10:00-06:00"),
        (["en un par de horas"], "2026-12-04T17:10:00-06:00"),
        (["en unos cinco minutitos"], "2026-12-04T15:15:00-06:00"),
        (["Mañana a las nueve."], "2026-12-05T09:00:00-06:00"),
        (["a las cinco de la tarde"], "2026-12-04T17:00:00-06:00"),
        (["El lunes en la mañana"], "2026-12-07T09:00:00-06:00"),
        (["el lunes", "como a las diez"], "2026-12-07T10:00:00-06:00"),
        (["hoy en la noche"], "2026-12-04T20:00:00-06:00"),
        (["mañana temprano"], "2026-12-05T08:00:00-06:00"),
        (["pasado mañana a las 10 de la mañana"], "2026-12-06T10:00:00-06:00"),
        (["el viernes a las diez"], "2026-12-11T10:00:00-06:00"),
        (["cuarto para las seis"], "2026-12-04T17:45:00-06:00"),
        (["a las 18:30"], "2026-12-04T18:30:00-06:00"),
        (["a las cinco"], "2026-12-04T17:00:00-06:00"),
        (["mañana a mediodía"], "2026-12-05T12:00:00-06:00"),
        (["mañana a las ocho"], "2026-12-05T08:00:00-06:00"),
    ],
)
def test_call_back_times_resolve_against_the_clock_in_the_callee_zone(said: list[str], expected: str) -> None:
    resolved = resolve_callback_time(said, NOW, TZ)
    assert (resolved.value, resolved.valid) == (expected, True)


def test_a_time_already_gone_today_is_tomorrow_and_says_so() -> None:
    resolved = resolve_callback_time(["a las tres de la tarde"], NOW, TZ)
    assert resolved.value == "2026-12-05T15:00:00-06:00"
    assert "tomorrow" in resolved.reason


def test_a_clock_in_another_zone_is_read_in_the_callee_zone() -> None:
    utc_now = NOW.astimezone(ZoneInfo("UTC"))
    assert resolve_callback_time(["mañana a las nueve"], utc_now, TZ).value == "2026-12-05T09:00:00-06:00"


@pytest.mark.parametrize(
    "said",
    [
        ["al rato"],
        ["más tarde"],
        ["mañana"],
        ["el lunes"],
        ["en cinco"],
        ["en un rato"],
        ["luego te marco"],
        [""],
    ],
)
def test_vague_call_back_times_are_refused(said: list[str]) -> None:
    resolved = resolve_callback_time(said, NOW, TZ)
    assert resolved.value is None and not resolved.valid and resolved.reason


def test_a_naive_clock_is_an_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_callback_time(["en veinte minutos"], datetime(2026, 12, 4, 15, 0), TZ)

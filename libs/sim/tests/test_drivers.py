import pytest

from switchboard.common.flows.normalisers import normalise
from switchboard.sim.drivers import FIELD_IDS, draw, spoken, wrong_value

pytestmark = pytest.mark.unit

TYPES = {
    "driver_name": "person_name",
    "tractor_number": "number",
    "tractor_plates": "mx_plate",
    "trailer_number": "number",
    "trailer_plates": "mx_plate",
    "eta": "time_24h",
}


def test_the_same_seed_draws_the_same_drivers() -> None:
    assert draw(20, seed=3) == draw(20, seed=3)
    assert draw(20, seed=3) != draw(20, seed=4)
    assert {d.answer for d in draw(60)} == {"accept", "decline", "call_back", "email"}


def test_what_a_driver_says_normalises_to_the_truth_and_a_slip_does_not() -> None:
    for driver in draw(40, seed=11):
        for field_id in FIELD_IDS:
            value = driver.truth[field_id]
            heard = normalise(TYPES[field_id], [spoken(field_id, value)])  # type: ignore[arg-type]
            assert heard.value == value, (field_id, spoken(field_id, value), heard)
            assert wrong_value(field_id, value) != value


def test_a_driver_who_corrects_answers_no_then_gives_the_value_again() -> None:
    driver = next(d for d in draw(40, seed=45) if "correct" in d.habits.values())
    field_id = next(f for f, habit in driver.habits.items() if habit == "correct")
    lines = driver.lines()
    right = spoken(field_id, driver.truth[field_id])
    index = lines.index(right)
    assert lines[index - 1] == "No, perdón, está mal."
    assert lines[index - 2] == spoken(field_id, wrong_value(field_id, driver.truth[field_id]))
    assert lines[-1] == "Sí, todo bien."

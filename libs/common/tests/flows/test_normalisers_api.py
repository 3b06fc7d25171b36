import pytest

from switchboard.common.flows.normalisers import FIELD_TYPES, Normalised, normalise, read_back

pytestmark = pytest.mark.unit


def test_every_field_type_is_listed() -> None:
    assert set(FIELD_TYPES) == {
        "person_name", "number", "mx_plate", "time_24h", "email", "confirmation", "permission", "repeat_request",
    }  # fmt: skip


def test_a_plate_spelled_with_the_radio_alphabet_over_two_utterances() -> None:
    assert normalise(
        "mx_plate", ["A de avión, be de burro", "ce de casa, uno dos tres cuatro"]
    ) == Normalised("ABC1234", True, "")


def test_a_refusal_has_no_value_and_a_reason() -> None:
    refused = normalise("number", ["no me acuerdo"])
    assert refused.value is None and not refused.valid and refused.reason


def test_one_string_is_not_taken_for_a_list_of_characters() -> None:
    with pytest.raises(TypeError):
        normalise("number", "uno dos")


def test_an_unknown_field_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown field type"):
        normalise("colour", ["rojo"])  # type: ignore[arg-type]  # the mistake under test


def test_plates_are_read_back_letter_by_letter_with_digits_as_words() -> None:
    assert read_back("mx_plate", "ABC1234") == "A, B, C, uno, dos, tres, cuatro"


def test_short_numbers_are_read_as_a_quantity_long_ones_digit_by_digit() -> None:
    assert read_back("number", "123") == "ciento veintitrés"
    assert read_back("number", "04512") == "cero, cuatro, cinco, uno, dos"


def test_names_are_read_back_as_they_are_and_times_as_said_in_mexico() -> None:
    assert read_back("person_name", "María de la Luz Ramírez") == "María de la Luz Ramírez"
    assert read_back("time_24h", "14:30") == "las catorce treinta"
    assert read_back("time_24h", "13:05") == "las trece cero cinco"
    assert read_back("time_24h", "01:00") == "la una en punto"
    assert read_back("time_24h", "21:00") == "las veintiuna horas"


def test_e_mail_addresses_are_read_back_with_their_symbols_said() -> None:
    assert (
        read_back("email", "juan.perez_85@gmail.com")
        == "juan punto perez guion bajo 85 arroba gmail punto com"
    )


def test_answers_about_the_conversation_are_read_back_in_spanish() -> None:
    assert read_back("confirmation", "yes") == "sí"
    assert read_back("repeat_request", False) == "no"
    assert read_back("permission", "call_back") == "que le llamemos más tarde"

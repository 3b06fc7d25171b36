from pathlib import Path

import pytest

from switchboard.call_control.profile_files import ProfileFileError, load_profiles

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
VALID = """\
provider: openai
model: gpt-realtime
voice: marin
instructions: Be brief.
greeting: Hello!
"""


def test_the_shipped_profiles_are_valid() -> None:
    profiles = load_profiles(REPO / "profiles")
    assert set(profiles) == {
        "receptionist-openai",
        "receptionist-gemini",
        "carrier-registration",
        "carrier-registration-gemini",
    }
    same_flow = profiles["carrier-registration-gemini"]
    assert same_flow.provider == "gemini" and same_flow.flow == profiles["carrier-registration"].flow
    daisy = profiles["carrier-registration"]
    assert (daisy.provider, daisy.language) == ("openai", "es-MX")
    assert "Daisy" in daisy.greeting and daisy.flow is not None
    assert [f.id for f in daisy.flow.fields] == [
        "driver_name",
        "tractor_number",
        "tractor_plates",
        "trailer_number",
        "trailer_plates",
        "eta",
    ]
    assert profiles["receptionist-gemini"].provider == "gemini"


def test_every_problem_names_its_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(VALID)
    (tmp_path / "bad-values.yaml").write_text(
        VALID.replace("openai", "watson") + "turn_detection:\n  threshold: 1.5\ntools: [end_call, fax]\n"
    )
    (tmp_path / "unknown-field.yaml").write_text(VALID + "vioce: alloy\n")
    (tmp_path / "broken.yaml").write_text("provider: openai\ninstructions: [unclosed\n")
    (tmp_path / "renamed.yaml").write_text(VALID + "name: something-else\n")
    (tmp_path / "list.yml").write_text("- provider\n")
    with pytest.raises(ProfileFileError) as error:
        load_profiles(tmp_path)
    problems = "\n".join(error.value.problems)
    assert f"{tmp_path / 'bad-values.yaml'}: field 'provider'" in problems
    assert f"{tmp_path / 'bad-values.yaml'}: field 'turn_detection.threshold'" in problems
    assert f"{tmp_path / 'bad-values.yaml'}: field 'tools.1'" in problems
    assert f"{tmp_path / 'unknown-field.yaml'}: field 'vioce'" in problems
    assert f"{tmp_path / 'broken.yaml'}:3:1: not valid YAML" in problems
    assert f"{tmp_path / 'renamed.yaml'}: field 'name'" in problems
    assert f"{tmp_path / 'list.yml'}: expected a mapping" in problems
    assert "good.yaml" not in problems


def test_a_bad_flow_is_refused_naming_the_file_and_the_field(tmp_path: Path) -> None:
    daisy = (REPO / "profiles" / "carrier-registration.yaml").read_text(encoding="utf-8")
    (tmp_path / "bad-flow.yaml").write_text(
        daisy.replace("type: mx_plate", "type: licence_plate", 1)
        .replace("timezone: America/Mexico_City", "timezone: Mars/Olympus")
        .replace("Le confirmo el registro: {summary}.", "Le confirmo el registro.")
    )
    with pytest.raises(ProfileFileError) as error:
        load_profiles(tmp_path)
    problems = "\n".join(error.value.problems)
    assert f"{tmp_path / 'bad-flow.yaml'}: field 'flow.fields.2.type'" in problems
    assert f"{tmp_path / 'bad-flow.yaml'}: field 'flow.timezone': Value error, unknown time zone" in problems
    assert f"{tmp_path / 'bad-flow.yaml'}: field 'flow.final_read_back'" in problems


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileFileError, match="no profiles"):
        load_profiles(tmp_path)

"""The `switchboard-flow normalise` command, run as the installed console script."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

COMMAND = str(Path(sys.executable).parent / "switchboard-flow")


def run(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, "normalise", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_consecutive_utterances_on_stdin_give_one_object() -> None:
    lines = [json.dumps("A de avión, be de burro"), json.dumps("ce de casa, uno dos tres cuatro")]
    done = run("--field", "mx_plate", stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"value": "ABC1234", "valid": True, "reason": ""}


def test_a_refusal_prints_a_null_value_and_the_reason() -> None:
    done = run("--field", "time_24h", stdin=json.dumps("a las nueve") + "\n")
    answer = json.loads(done.stdout)
    assert answer["value"] is None and answer["valid"] is False and "morning" in answer["reason"]


def test_a_repeat_request_is_a_json_boolean() -> None:
    done = run("--field", "repeat_request", stdin=json.dumps("¿Mande?") + "\n")
    assert json.loads(done.stdout) == {"value": True, "valid": True, "reason": ""}


def test_no_utterances_is_a_refusal() -> None:
    done = run("--field", "number", stdin="")
    assert json.loads(done.stdout)["valid"] is False


def test_a_line_that_is_not_a_json_string_is_an_error_naming_the_line() -> None:
    done = run("--field", "number", stdin='"uno"\n{"a": 1}\n')
    assert done.returncode == 2 and "line 2" in done.stderr and not done.stdout


def test_an_unknown_field_type_is_refused_by_the_parser() -> None:
    done = run("--field", "colour", stdin="")
    assert done.returncode == 2 and "colour" in done.stderr


def test_batch_answers_each_request_in_order_echoing_ids_in_one_process() -> None:
    requests = [
        {"id": "a", "field": "number", "utterances": ["doce treinta y cuatro"], "expect": "ignored"},
        {"field": "person_name", "utterances": ["me llamo juan pérez"]},
        {"id": 3, "field": "confirmation", "utterances": ["Sí, pero", "el apellido está mal"]},
        {"id": 4, "field": "colour", "utterances": ["rojo"]},
        {"id": 5, "field": "number", "utterances": "uno"},
        {"id": 6, "field": "email", "utterances": ["juan punto pérez arroba gmail punto com"]},
    ]
    stdin = "\n".join(json.dumps(request, ensure_ascii=False) for request in requests) + "\nnot json\n"
    done = run("--batch", stdin=stdin)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert answers[0] == {"id": "a", "value": "1234", "valid": True, "reason": ""}
    assert answers[1] == {"value": "Juan Pérez", "valid": True, "reason": ""}
    assert answers[2]["id"] == 3 and answers[2]["value"] == "no"
    assert answers[3]["id"] == 4 and answers[3]["valid"] is False and "colour" in answers[3]["reason"]
    assert (
        answers[4]["id"] == 5 and answers[4]["valid"] is False and "list of strings" in answers[4]["reason"]
    )
    assert answers[5]["value"] == "juan.perez@gmail.com"
    assert answers[6]["valid"] is False and "line 7" in answers[6]["reason"]
    assert len(answers) == 7


def test_batch_runs_the_whole_corpus_file_format() -> None:
    corpus = Path(__file__).parent / "corpus" / "mx_plate.jsonl"
    lines = corpus.read_text(encoding="utf-8").splitlines()
    done = run("--batch", stdin="\n".join(lines) + "\n")
    assert len(done.stdout.splitlines()) == len(lines)

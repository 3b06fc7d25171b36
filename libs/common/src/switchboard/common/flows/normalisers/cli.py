"""`switchboard-flow normalise --field TYPE [--batch]`: the normalisers on stdin and stdout, as JSON lines."""

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any, cast

from switchboard.common.flows.normalisers import FIELD_TYPES, FieldType, normalise


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; the exit status is 0 unless the input could not be read at all."""
    parser = argparse.ArgumentParser(prog="switchboard-flow", description="Conversation-flow tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    norm = commands.add_parser(
        "normalise",
        help="normalise what a caller said",
        description="Reads the caller's consecutive utterances, one JSON string per line, and prints one JSON "
        'object {"value", "valid", "reason"}. With --batch, reads JSON lines {"field", "utterances", "id"?} '
        "and prints one object per line, in order.",
    )
    norm.add_argument("--field", choices=FIELD_TYPES, help="the field type (required without --batch)")
    norm.add_argument("--batch", action="store_true", help="one JSON request per line, each with its field")
    args = parser.parse_args(argv)
    if args.batch:
        return _batch(sys.stdin, sys.stdout)
    if args.field is None:
        parser.error("--field is required without --batch")
    return _single(cast(FieldType, args.field), sys.stdin, sys.stdout)


def _single(field: FieldType, source: IO[str], sink: IO[str]) -> int:
    utterances: list[str] = []
    for number, line in _lines(source):
        try:
            utterance = json.loads(line)
        except json.JSONDecodeError as e:
            sys.stderr.write(f"line {number}: not JSON ({e.msg})\n")
            return 2
        if not isinstance(utterance, str):
            sys.stderr.write(f"line {number}: expected a JSON string, got {type(utterance).__name__}\n")
            return 2
        utterances.append(utterance)
    sink.write(json.dumps(normalise(field, utterances).as_json(), ensure_ascii=False) + "\n")
    return 0


def _batch(source: IO[str], sink: IO[str]) -> int:
    """Each request is answered on its own line; a bad request gets an error object and the rest go on."""
    for number, line in _lines(source):
        answer = _answer(number, line)
        sink.write(json.dumps(answer, ensure_ascii=False) + "\n")
        sink.flush()
    return 0


def _answer(number: int, line: str) -> dict[str, Any]:
    try:
        request = json.loads(line)
    except json.JSONDecodeError as e:
        return {"value": None, "valid": False, "reason": f"line {number}: not JSON ({e.msg})", "error": True}
    if not isinstance(request, dict):
        return {"value": None, "valid": False, "reason": f"line {number}: expected an object", "error": True}
    echo = {"id": request["id"]} if "id" in request else {}
    field, utterances = request.get("field"), request.get("utterances")
    if field not in FIELD_TYPES:
        reason = f"line {number}: unknown field {field!r}; known: {', '.join(FIELD_TYPES)}"
        return {**echo, "value": None, "valid": False, "reason": reason, "error": True}
    if not isinstance(utterances, list) or not all(isinstance(u, str) for u in utterances):
        reason = f"line {number}: utterances must be a list of strings"
        return {**echo, "value": None, "valid": False, "reason": reason, "error": True}
    return {**echo, **normalise(cast(FieldType, field), utterances).as_json()}


def _lines(source: Iterable[str]) -> Iterable[tuple[int, str]]:
    for number, line in enumerate(source, start=1):
        if line.strip():
            yield number, line

"""Fuzzing a running call-control: schemathesis cases from its `/openapi.json`, and signed Twilio webhooks with
arbitrary values. Every case is sent; every 5xx and every request without an answer is kept.

Used by `test_fuzz.py` (a few hundred cases, fixed seed) and by `make fuzz` (more cases, same code).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import hypothesis
import hypothesis.errors
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode

from switchboard.common.security.twilio_signature import compute_signature

SEED = 20261205
CASES_ENV = "SWITCHBOARD_FUZZ_CASES"


@dataclass
class FuzzReport:
    """What a run did: cases sent, answers with a 5xx status, requests that got no answer at all."""

    cases: int = 0
    server_errors: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    by_status: dict[int, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for people: the counts, then the first few failures."""
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(self.by_status.items()))
        line = (
            f"fuzz: {self.cases} cases, {len(self.server_errors)} responses with status 5xx, "
            f"{len(self.crashes)} crashes (statuses {statuses})"
        )
        return "\n".join([line, *self.server_errors[:10], *self.crashes[:10]])


def cases_per_operation(default: int) -> int:
    """Cases per operation and generation mode; `SWITCHBOARD_FUZZ_CASES` overrides the default."""
    return int(os.environ.get(CASES_ENV, default))


def fuzz(base_url: str, api_key: str, *, cases_per_operation: int, seed: int = SEED) -> FuzzReport:
    """Send positive and negative cases of every operation; blocking (run it in a thread)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    report = FuzzReport()
    with requests.Session() as session:
        for operation in _operations(schema):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run(operation, mode, session, base_url, api_key, cases_per_operation, seed, report)
    return report


def _operations(schema: schemathesis.BaseSchema) -> Iterator[schemathesis.APIOperation]:
    for result in schema.get_all_operations():
        yield result.ok()


def _run(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    session: requests.Session,
    base_url: str,
    api_key: str,
    cases: int,
    seed: int,
    report: FuzzReport,
) -> None:
    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=cases,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def send(case: schemathesis.Case) -> None:
        report.cases += 1
        headers = {"Authorization": f"Bearer {api_key}"}
        try:
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        except requests.RequestException as e:
            report.crashes.append(f"{case.method} {case.formatted_path}: no answer ({e})")
            return
        report.by_status[response.status_code] = report.by_status.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            report.server_errors.append(
                f"{case.method} {case.formatted_path} body={case.body!r:.200} query={case.query!r:.200} "
                f"→ {response.status_code} {response.text[:200]}"
            )

    try:
        send()
    except hypothesis.errors.Unsatisfiable:
        pass  # no negative case exists for an operation without parameters (the webhooks)


def fuzz_signed_webhooks(
    base_url: str, auth_token: str, account_sid: str, call_id: str, *, cases: int, seed: int = SEED
) -> FuzzReport:
    """Post validly signed `/twilio/status` and `/twilio/voice` requests with arbitrary parameter values."""
    report = FuzzReport()
    names = st.sampled_from(
        ["SequenceNumber", "CallDuration", "AnsweredBy", "CallStatus", "From", "To", "CallSid", "Other"]
    )
    values = st.one_of(
        st.text(max_size=40),
        st.integers(min_value=-(10**20), max_value=10**20).map(str),
        st.text(alphabet="0123456789²³¹١٢٣１２", max_size=15),
        st.sampled_from(["human", "machine_start", "completed", "in-progress", "ringing", "+14155550100"]),
    )
    paths = st.sampled_from([f"/twilio/status?call_id={call_id}", "/twilio/voice"])

    with requests.Session() as session:

        @hypothesis.seed(seed)
        @hypothesis.settings(
            max_examples=cases,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(path=paths, extra=st.dictionaries(names, values, max_size=6))
        def send(path: str, extra: dict[str, str]) -> None:
            report.cases += 1
            params = {"AccountSid": account_sid, **extra}
            signature = compute_signature(auth_token, base_url + path, params)
            try:
                response = session.post(
                    base_url + path, data=params, headers={"X-Twilio-Signature": signature}, timeout=30
                )
            except requests.RequestException as e:
                report.crashes.append(f"POST {path} {params!r:.200}: no answer ({e})")
                return
            report.by_status[response.status_code] = report.by_status.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                report.server_errors.append(f"POST {path} {params!r:.300} → {response.status_code}")

        send()
    return report

"""Idempotency-Key for POST /v1/calls, shared by every replica through a NATS KV bucket with a TTL.

The first request with a key claims it atomically (KV `create`) and records its outcome when done; a replay
with the same body gets that outcome again (same call id), one with another body is refused (422), and one
that arrives while the first is still running is told to retry (409). Keys are scoped to the API client.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from switchboard.call_control.problems import ApiProblem
from switchboard.common.errors import ErrorCategory

MAX_KEY_LENGTH = 255


class _Entry(msgspec.Struct, kw_only=True):
    fingerprint: str
    call_id: str
    state: Literal["pending", "done"] = "pending"
    status_code: int = 0
    body: dict[str, Any] = msgspec.field(default_factory=dict)
    started_ns: int = msgspec.field(default_factory=time.time_ns)


@dataclass(frozen=True, slots=True)
class Claim:
    """The key is ours: the request must `finish` (or `release`) it."""

    kv_key: str
    revision: int
    fingerprint: str
    call_id: str


@dataclass(frozen=True, slots=True)
class Replay:
    """The key was used before with the same request: answer what was answered then."""

    status_code: int
    body: dict[str, Any]


def fingerprint(payload: Any) -> str:
    """A digest of a request body that ignores key order and whitespace."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    """Claims, outcomes and replays of Idempotency-Keys in the KV bucket `subjects.IDEMPOTENCY_BUCKET`."""

    def __init__(self, kv: KeyValue, *, pending_timeout_s: float = 60.0) -> None:
        self._kv = kv
        self._pending_timeout_ns = int(pending_timeout_s * 1e9)
        self._decoder = msgspec.json.Decoder(_Entry)

    @staticmethod
    def check_key(key: str) -> None:
        """Refuse keys that are empty, too long or not printable ASCII (400)."""
        if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
            raise ApiProblem(
                400,
                "invalid_idempotency_key",
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
            )

    async def claim(self, client_id: str, key: str, request_fingerprint: str, call_id: str) -> Claim | Replay:
        """Claim `key` for a new call `call_id`, or learn what an earlier request with it got."""
        kv_key = hashlib.sha256(f"{client_id}\0{key}".encode()).hexdigest()
        entry = _Entry(fingerprint=request_fingerprint, call_id=call_id)
        for _ in range(5):
            try:
                revision = await self._kv.create(kv_key, msgspec.json.encode(entry))
                return Claim(kv_key, revision, request_fingerprint, call_id)
            except KeyWrongLastSequenceError:
                pass
            try:
                stored = await self._kv.get(kv_key)
            except KeyNotFoundError:
                continue  # released or expired in between: claim it again
            existing = self._decoder.decode(stored.value or b"{}")
            if existing.fingerprint != request_fingerprint:
                raise ApiProblem(
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request body",
                    category=ErrorCategory.CONFLICT,
                )
            if existing.state == "done":
                return Replay(existing.status_code, existing.body)
            if time.time_ns() - existing.started_ns < self._pending_timeout_ns:
                raise ApiProblem(
                    409,
                    "idempotency_key_in_use",
                    "a request with this Idempotency-Key is still being processed: retry shortly",
                    category=ErrorCategory.CONFLICT,
                    headers={"Retry-After": "1"},
                )
            try:  # the replica that claimed it died mid-request: take the key over
                revision = await self._kv.update(kv_key, msgspec.json.encode(entry), last=stored.revision)
                return Claim(kv_key, revision, request_fingerprint, call_id)
            except KeyWrongLastSequenceError:
                continue
        raise ApiProblem(
            409,
            "idempotency_key_in_use",
            "this Idempotency-Key keeps changing: retry",
            category=ErrorCategory.CONFLICT,
        )

    async def finish(self, claim: Claim, status_code: int, body: dict[str, Any]) -> None:
        """Record the answer given, for replays."""
        done = _Entry(
            fingerprint=claim.fingerprint,
            call_id=claim.call_id,
            state="done",
            status_code=status_code,
            body=body,
        )
        await self._kv.update(claim.kv_key, msgspec.json.encode(done), last=claim.revision)

    async def release(self, claim: Claim) -> None:
        """Forget the key (the request failed in a way a retry with the same key may fix)."""
        try:
            await self._kv.delete(claim.kv_key, last=claim.revision)
        except KeyWrongLastSequenceError:
            pass

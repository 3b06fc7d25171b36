"""The KV bucket `calls`: create, read, and update records with compare-and-set."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from switchboard.common.bus import subjects
from switchboard.common.calls.record import RECORD_SCHEMA_VERSION, CallRecord
from switchboard.common.errors import DecodeError, ErrorCategory, SwitchboardError


class RecordNotFound(SwitchboardError):
    """No record for this call id."""

    def __init__(self, call_id: str) -> None:
        super().__init__(f"no call {call_id}", category=ErrorCategory.NOT_FOUND, code="call_not_found")


class RecordConflict(SwitchboardError):
    """The record kept changing under us (or already exists)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, category=ErrorCategory.CONFLICT, code="record_conflict", retryable=True)


async def bucket_keys(js: JetStreamContext, bucket: str) -> list[str]:
    """Every key of a KV bucket (deleted ones included), read from the stream's subject index.

    Exact, unlike a KV watcher: nats-py's watcher can signal "no more initial values" before it has delivered
    the values that arrived while it started, so `kv.keys()` may come back short under load.
    """
    prefix = f"$KV.{bucket}."
    info = await js.stream_info(f"KV_{bucket}", subjects_filter=prefix + ">")
    return [subject.removeprefix(prefix) for subject in (info.state.subjects or {})]


class CallStore:
    """Typed access to the `calls` bucket; concurrent writers never lose an update."""

    def __init__(self, kv: KeyValue, js: JetStreamContext | None = None) -> None:
        self._kv = kv
        self._js = js
        self._decoder = msgspec.msgpack.Decoder(CallRecord)

    def _decode(self, data: bytes | None) -> CallRecord:
        try:
            record = self._decoder.decode(data or b"")
        except msgspec.DecodeError as exc:
            raise DecodeError(f"malformed call record: {exc}") from exc
        if record.v != RECORD_SCHEMA_VERSION:
            raise DecodeError(f"unsupported call record version {record.v}", code="unsupported_version")
        return record

    async def create(self, record: CallRecord) -> int:
        """Store a new record; raises `RecordConflict` if the call id exists. Returns the revision."""
        try:
            return await self._kv.create(record.call_id, msgspec.msgpack.encode(record))
        except KeyWrongLastSequenceError as exc:
            raise RecordConflict(f"call {record.call_id} exists") from exc

    async def get(self, call_id: str) -> tuple[CallRecord, int]:
        """The record and its revision; raises `RecordNotFound`."""
        try:
            entry = await self._kv.get(call_id)
        except KeyNotFoundError as exc:
            raise RecordNotFound(call_id) from exc
        return self._decode(entry.value), entry.revision or 0

    async def find(self, call_id: str) -> CallRecord | None:
        """The record, or None."""
        try:
            record, _ = await self.get(call_id)
        except RecordNotFound:
            return None
        return record

    async def update(
        self, call_id: str, change: Callable[[CallRecord], CallRecord | None], *, attempts: int = 20
    ) -> CallRecord:
        """Apply `change` to the latest record and write it if the revision did not move; else read and retry.

        `change` gets a copy to edit and returns the new record, or None to leave it as it is.
        """
        for _ in range(attempts):
            current, revision = await self.get(call_id)
            updated = change(msgspec.structs.replace(current))
            if updated is None:
                return current
            try:
                await self._kv.update(call_id, msgspec.msgpack.encode(updated), last=revision)
            except KeyWrongLastSequenceError:
                continue
            return updated
        raise RecordConflict(f"call {call_id} kept changing: gave up after {attempts} attempts")

    async def keys(self) -> list[str]:
        """Every call id in the bucket (needs the JetStream context the store was made with)."""
        if self._js is None:
            raise RuntimeError("CallStore.keys() needs the JetStream context: CallStore(kv, js)")
        return await bucket_keys(self._js, subjects.CALLS_BUCKET)

    async def all(self, *, concurrency: int = 32) -> list[CallRecord]:
        """Every current record (deleted and unreadable ones are skipped)."""
        keys = await self.keys()
        records: list[CallRecord] = []
        for start in range(0, len(keys), concurrency):
            found = await asyncio.gather(
                *(self._find_quietly(key) for key in keys[start : start + concurrency])
            )
            records.extend(record for record in found if record is not None)
        return records

    async def _find_quietly(self, call_id: str) -> CallRecord | None:
        try:
            return await self.find(call_id)
        except (DecodeError, nats.js.errors.KeyDeletedError):
            return None

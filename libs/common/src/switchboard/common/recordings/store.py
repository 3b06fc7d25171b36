"""The recordings bucket (JetStream object store): write chunks and the manifest, find, read and delete them.

Retention is the bucket's TTL: JetStream drops every object (chunk or manifest) older than it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec
import nats.js.errors
from nats.js import api as js_api
from nats.js.client import JetStreamContext
from nats.js.object_store import ObjectStore

from switchboard.common.recordings.layout import (
    CHUNK_BYTES,
    Manifest,
    chunk_name,
    duration_ms,
    manifest_name,
)

DEFAULT_BUCKET = "recordings"


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """What is stored of one call's recording."""

    chunks: int
    size: int
    """Bytes of stereo μ-law."""
    complete: bool
    """The manifest is there (the call ended and the edge finished it); else what was stored so far."""

    @property
    def duration_ms(self) -> int:
        """Its duration."""
        return duration_ms(self.size)


async def ensure_recordings(
    js: JetStreamContext, bucket: str = DEFAULT_BUCKET, *, ttl_s: float | None = None, replicas: int = 1
) -> ObjectStore:
    """The object store `bucket`, created with file storage and `ttl_s` retention if it does not exist."""
    try:
        return await js.object_store(bucket)
    except nats.js.errors.BucketNotFoundError:
        pass
    config = js_api.ObjectStoreConfig(ttl=ttl_s or None, storage=js_api.StorageType.FILE, replicas=replicas)
    try:
        return await js.create_object_store(bucket, config=config)
    except nats.js.errors.BadRequestError:  # created concurrently by another service
        return await js.object_store(bucket)


class RecordingStore:
    """Recordings of calls in one object store bucket."""

    def __init__(self, obs: ObjectStore) -> None:
        self._obs = obs

    # --- writing (the edge) -----------------------------------------------------------------------

    async def put_chunk(self, call_id: str, seq: int, data: bytes) -> None:
        """Store chunk `seq` (every chunk but the last holds exactly `CHUNK_BYTES`)."""
        await self._obs.put(chunk_name(call_id, seq), data)

    async def put_manifest(self, call_id: str, manifest: Manifest) -> None:
        """Mark the recording finished."""
        await self._obs.put(manifest_name(call_id), msgspec.json.encode(manifest))

    # --- reading ----------------------------------------------------------------------------------

    async def _chunk_size(self, call_id: str, seq: int) -> int | None:
        try:
            info = await self._obs.get_info(chunk_name(call_id, seq))
        except (nats.js.errors.ObjectNotFoundError, nats.js.errors.ObjectDeletedError):
            return None
        if info.deleted:
            return None
        return info.size or 0

    async def info(self, call_id: str) -> RecordingInfo | None:
        """What is stored of the call's recording, or None when nothing is (never recorded, deleted, expired)."""
        try:
            result = await self._obs.get(manifest_name(call_id))
        except (nats.js.errors.ObjectNotFoundError, nats.js.errors.ObjectDeletedError):
            result = None
        if result is not None and result.data:
            manifest = msgspec.json.decode(result.data, type=Manifest)
            if manifest.chunks == 0:
                return None
            return RecordingInfo(chunks=manifest.chunks, size=manifest.size, complete=True)
        return await self._probe(call_id)

    async def _probe(self, call_id: str) -> RecordingInfo | None:
        """A recording without a manifest (its edge died, or it is live): find its last chunk by probing."""
        if await self._chunk_size(call_id, 0) is None:
            return None
        low, high = 0, 1  # chunk `low` exists; find a `high` that does not
        while await self._chunk_size(call_id, high) is not None:
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            if await self._chunk_size(call_id, middle) is None:
                high = middle
            else:
                low = middle
        last = await self._chunk_size(call_id, low) or 0
        return RecordingInfo(chunks=low + 1, size=low * CHUNK_BYTES + last, complete=False)

    async def read(self, call_id: str, info: RecordingInfo, start: int, end: int) -> AsyncIterator[bytes]:
        """The stereo μ-law bytes [start, end) of the recording, chunk by chunk."""
        first, last = start // CHUNK_BYTES, (end - 1) // CHUNK_BYTES
        for seq in range(first, min(last, info.chunks - 1) + 1):
            try:
                result = await self._obs.get(chunk_name(call_id, seq))
            except (nats.js.errors.ObjectNotFoundError, nats.js.errors.ObjectDeletedError):
                return  # expired or deleted meanwhile
            data = result.data or b""
            base = seq * CHUNK_BYTES
            piece = data[max(0, start - base) : max(0, end - base)]
            if piece:
                yield piece

    async def delete(self, call_id: str) -> bool:
        """Remove the recording (every chunk and the manifest); False when there was none."""
        info = await self.info(call_id)
        if info is None:
            return False
        for seq in range(info.chunks):
            try:
                await self._obs.delete(chunk_name(call_id, seq))
            except (nats.js.errors.ObjectNotFoundError, nats.js.errors.ObjectDeletedError):
                pass
        try:
            await self._obs.delete(manifest_name(call_id))
        except (nats.js.errors.ObjectNotFoundError, nats.js.errors.ObjectDeletedError):
            pass
        return True

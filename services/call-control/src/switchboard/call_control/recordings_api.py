"""`/v1/calls/{id}/recording`: a call's recording as a WAV file (PCM16 stereo, 8 kHz), with byte ranges; delete.

The WAV is made on the fly from the μ-law chunks of the recordings object store: its size is known from the
manifest (or, for a call still live or whose edge died, from the chunks stored so far), so any byte range maps
onto the chunks that hold it, and a browser's audio element can seek.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import msgspec
from fastapi import APIRouter, Request, Response, Security
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPBearer

from switchboard.call_control.access import CLIENT_STATE, ApiClient
from switchboard.call_control.calls import CallService
from switchboard.call_control.problems import ApiProblem
from switchboard.common.calls.record import CallRecord
from switchboard.common.errors import ErrorCategory
from switchboard.common.recordings.store import RecordingInfo, RecordingStore
from switchboard.common.recordings.wav import HEADER_BYTES, PCM_WIDTH, to_pcm16, wav_header, wav_size

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The [start, end) a `Range` header asks of `size` bytes (None: the whole); raises 416 when unsatisfiable."""
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or not (match[1] or match[2]):
        return None  # not a single byte range: answered whole, as RFC 9110 allows
    if not match[1]:
        length = int(match[2])
        start, end = max(0, size - length), size if length else 0
    else:
        start = int(match[1])
        end = min(size, int(match[2]) + 1) if match[2] else size
    if start >= size or end <= start:
        raise ApiProblem(
            416,
            "range_not_satisfiable",
            f"the recording has {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


async def wav_bytes(
    store: RecordingStore, call_id: str, info: RecordingInfo, start: int, end: int
) -> AsyncIterator[bytes]:
    """Bytes [start, end) of the recording's WAV file."""
    if start < HEADER_BYTES:
        yield wav_header(info.size)[start:end]
        start = HEADER_BYTES
    if end <= start:
        return
    first = (start - HEADER_BYTES) // PCM_WIDTH
    last = (end - HEADER_BYTES + PCM_WIDTH - 1) // PCM_WIDTH
    skip = (start - HEADER_BYTES) % PCM_WIDTH
    left = end - start
    async for ulaw in store.read(call_id, info, first, last):
        pcm = to_pcm16(ulaw)[skip : skip + left]
        skip = 0
        left -= len(pcm)
        yield pcm


def _client(request: Request) -> ApiClient:
    client = getattr(request.state, CLIENT_STATE, None)
    if not isinstance(client, ApiClient):
        raise ApiProblem(401, "unauthorized", "a valid API key is required")
    return client


async def found_recording(service: CallService, store: RecordingStore, call_id: str) -> RecordingInfo:
    """What is stored of the call's recording; 404 for no call or no recording."""
    await service.get(call_id)  # 404 for an id that is no call's
    info = await store.info(call_id)
    if info is None:
        raise ApiProblem(
            404,
            "recording_not_found",
            f"call {call_id} has no recording (not recorded, deleted, or past retention)",
            category=ErrorCategory.NOT_FOUND,
        )
    return info


async def recording_response(
    service: CallService, store: RecordingStore, call_id: str, range_header: str | None
) -> Response:
    """The recording as WAV: whole (200) or the byte range asked for (206)."""
    info = await found_recording(service, store, call_id)
    size = wav_size(info.size)
    wanted = byte_range(range_header, size)
    start, end = wanted or (0, size)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - start),
        "Cache-Control": "private, no-store" if not info.complete else "private, max-age=60",
        "Content-Disposition": f'inline; filename="{call_id}.wav"',
    }
    if wanted is not None:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    return StreamingResponse(
        wav_bytes(store, call_id, info, start, end),
        status_code=206 if wanted is not None else 200,
        media_type="audio/wav",
        headers=headers,
    )


def recordings_router(service: CallService, store: RecordingStore) -> APIRouter:
    """GET and DELETE `/v1/calls/{call_id}/recording`."""
    router = APIRouter(
        prefix="/v1/calls",
        tags=["Recordings"],
        dependencies=[Security(HTTPBearer(auto_error=False, description="An API key of call-control"))],
    )

    @router.get(
        "/{call_id}/recording",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"audio/wav": {}}, "description": "The whole recording"},
            206: {"content": {"audio/wav": {}}, "description": "The byte range asked for"},
            404: {"description": "No such call, or no recording"},
            416: {"description": "The range is beyond the recording"},
        },
    )
    async def get_recording(call_id: str, request: Request) -> Response:
        """The call's recording as a WAV file (PCM16 stereo 8 kHz: left the caller, right what they heard).

        Honours `Range: bytes=…` (206 with `Content-Range`), so players can seek. A live call's recording (or
        one whose edge died) holds what was stored so far.
        """
        _client(request)
        return await recording_response(service, store, call_id, request.headers.get("range"))

    @router.delete("/{call_id}/recording", status_code=204)
    async def delete_recording(call_id: str, request: Request) -> Response:
        """Delete the call's recording (every chunk of it); the record keeps saying that it was recorded."""
        _client(request)
        await found_recording(service, store, call_id)
        await store.delete(call_id)

        def deleted(record: CallRecord) -> CallRecord | None:
            if record.recording is None:
                return None
            record.recording = msgspec.structs.replace(record.recording, state="deleted")
            return record

        await service.store.update(call_id, deleted)
        return Response(status_code=204)

    return router

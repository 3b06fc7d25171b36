import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from switchboard.common.runtime.http_limits import BodyLimit

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]

LIMIT = 1024


def app(reads: list[int]) -> BodyLimit:
    async def echo(request: Request) -> JSONResponse:
        reads.append(0)
        body = await request.body()
        reads[-1] = len(body)
        return JSONResponse({"length": len(body)})

    return BodyLimit(Starlette(routes=[Route("/echo", echo, methods=["POST"])]), LIMIT)


async def chunks(total: int, size: int = 100) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size
        await asyncio.sleep(0)


async def post(reads: list[int], **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app(reads))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/echo", **kwargs)  # type: ignore[arg-type]


async def test_a_body_within_the_limit_is_served() -> None:
    reads: list[int] = []
    response = await post(reads, content=b"x" * LIMIT)
    assert response.status_code == 200 and response.json() == {"length": LIMIT}


async def test_a_declared_length_over_the_limit_is_refused_before_the_app_runs() -> None:
    reads: list[int] = []
    response = await post(reads, content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
    assert reads == []


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit() -> None:
    reads: list[int] = []
    response = await post(reads, content=chunks(100 * LIMIT))
    assert response.status_code == 413  # answered by the app's HTTPException handler (a service maps it)
    assert reads == [0]  # the app started reading, never got the body


async def test_a_chunked_body_within_the_limit_is_served() -> None:
    reads: list[int] = []
    response = await post(reads, content=chunks(LIMIT))
    assert response.status_code == 200 and response.json() == {"length": LIMIT}

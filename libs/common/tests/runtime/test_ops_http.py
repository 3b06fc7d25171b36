import asyncio

import pytest
from prometheus_client import Counter, Histogram

from switchboard.common.runtime.metrics import new_registry
from switchboard.common.runtime.ops_http import Health, OpsServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(10)]


async def _get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_metrics_health_and_readiness() -> None:
    registry = new_registry()
    Counter("switchboard_test_things_total", "things", registry=registry).inc(3)
    Counter("switchboard_test_kinds_total", "kinds", ["kind"], registry=registry).labels("a").inc()
    Histogram("switchboard_test_seconds", "time", registry=registry).observe(0.1)
    health = Health()
    connected = True
    health.add_check("nats", lambda: connected)
    server = OpsServer(registry, health, "127.0.0.1", 0)
    await server.start()
    try:
        status, body = await _get(server.port, "/metrics")
        assert status == 200 and "switchboard_test_things_total 3.0" in body
        assert (
            'switchboard_test_kinds_total{kind="a"} 1.0' in body
            and "switchboard_test_seconds_count 1.0" in body
        )
        assert "_created" not in body, "a creation timestamp reads like a count in a metric browser"
        assert await _get(server.port, "/healthz") == (200, "ok\n")
        assert await _get(server.port, "/readyz") == (503, "not ready: starting\n")
        health.mark_started()
        assert (await _get(server.port, "/readyz"))[0] == 200
        connected = False
        assert await _get(server.port, "/readyz") == (503, "not ready: nats\n")
        connected = True
        health.draining = True
        assert await _get(server.port, "/readyz") == (503, "not ready: draining\n")
        assert (await _get(server.port, "/nope"))[0] == 404
        assert (await _get(server.port, "/metrics", "POST"))[0] == 405
    finally:
        await server.stop()


async def _request(port: int, raw: bytes) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def test_actions_answer_post_from_this_host_only_and_take_no_body() -> None:
    calls: list[str] = []

    async def drain() -> tuple[int, bytes]:
        calls.append("drain")
        return 200, b'{"drained": true}'

    server = OpsServer(new_registry(), Health(), "127.0.0.1", 0)
    server.add_action("/drain", drain)
    await server.start()
    try:
        assert await _get(server.port, "/drain", "POST") == (200, '{"drained": true}')
        assert (await _get(server.port, "/drain"))[0] == 405
        forwarded = b"POST /drain HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.9\r\n\r\n"
        assert (await _request(server.port, forwarded))[0] == 200  # the peer decides, not a header
        with_body = b"POST /drain HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        assert (await _request(server.port, with_body))[0] == 413
        many = b"GET /healthz HTTP/1.1\r\n" + b"X-A: b\r\n" * 100 + b"\r\n"
        assert (await _request(server.port, many))[0] == 431
        assert calls == ["drain", "drain"]
    finally:
        await server.stop()


async def test_an_action_refuses_a_peer_on_another_host() -> None:
    server = OpsServer(new_registry(), Health(), "127.0.0.1", 0)

    async def drain() -> tuple[int, bytes]:
        raise AssertionError("not from this host")

    server.add_action("/drain", drain)
    refused = OpsServer._act  # the peer check, with a peer that is not loopback

    class Peer:
        def get_extra_info(self, name: str) -> tuple[str, int]:
            return ("10.1.2.3", 5000)

    status, _, _ = await refused(server._actions["/drain"], {}, Peer())  # type: ignore[arg-type]
    assert status.startswith("403")

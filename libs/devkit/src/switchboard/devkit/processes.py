"""Stopping the servers the devkit starts (nats-server, Prometheus) the same way."""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen[bytes] | None, *, grace_s: float = 10.0) -> None:
    """SIGTERM `process` if it still runs, and SIGKILL it if it has not exited within `grace_s`."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

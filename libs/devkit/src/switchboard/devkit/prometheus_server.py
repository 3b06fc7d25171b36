"""A real Prometheus (Debian's package) scraping the local platform, with the project's alert rules loaded.

`make dev PROMETHEUS=1` runs one beside the services, and the live deploy test runs one against the test
platform. Targets carry the labels the Kubernetes scrape configuration gives (`service`, `instance`, `namespace`),
so the dashboard's queries and the alert expressions read the same series here as in a cluster.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from switchboard.devkit.processes import stop_process

ALERT_RULES = Path(__file__).resolve().parents[5] / "deploy" / "prometheus" / "alerts.yml"
"""The project's alert rules, in the repository this devkit is installed from (an editable workspace member)."""
NAMESPACE = "switchboard"


def scrape_config(
    targets: Mapping[str, Sequence[str]], rule_files: Sequence[Path], interval_s: float
) -> dict[str, Any]:
    """prometheus.yml for `targets` (service label → host:port of its /metrics) and `rule_files`."""
    interval = f"{max(1, round(interval_s))}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": "switchboard",
                "static_configs": [
                    {"targets": list(addresses), "labels": {"service": service, "namespace": NAMESPACE}}
                    for service, addresses in targets.items()
                ],
            }
        ],
    }


class LocalPrometheus:
    """Runs `prometheus` on loopback with its data in `state_dir`; a context manager."""

    def __init__(
        self,
        binary: str,
        state_dir: Path,
        targets: Mapping[str, Sequence[str]],
        *,
        port: int,
        rule_files: Sequence[Path] = (ALERT_RULES,),
        interval_s: float = 5.0,
        log_file: Path | None = None,
    ) -> None:
        self.port = port
        self._binary = binary
        self._state_dir = state_dir
        self._config = scrape_config(targets, rule_files, interval_s)
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The web UI and API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        """Write the configuration, start the server and wait until it is ready."""
        self._state_dir.mkdir(parents=True, exist_ok=True)
        config = self._state_dir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self._config, sort_keys=False), encoding="utf-8")
        args = [
            self._binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self._state_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1d",
        ]
        output = open(self._log_file, "ab") if self._log_file else subprocess.DEVNULL
        try:
            self._process = subprocess.Popen(args, stdout=output, stderr=output)
        finally:
            if self._log_file:
                output.close()  # type: ignore[union-attr]  # a file when log_file is set
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited with {self._process.returncode} (see {self._log_file})"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"prometheus was not ready on {self.url} within {timeout_s} s")

    def stop(self) -> None:
        """Stop the server."""
        stop_process(self._process)
        self._process = None

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/`path`; the `data` of a successful answer, else `PrometheusError` with its message."""
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            answer = json.load(exc)
        if answer.get("status") != "success":
            raise PrometheusError(f"{answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]

    def __enter__(self) -> LocalPrometheus:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PrometheusError(RuntimeError):
    """Prometheus refused a query (bad PromQL, unknown function) or failed to run it."""

"""CPU time and memory of a set of processes (each with its children), and of the whole machine, from /proc."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _family(pid: int, tree: dict[int, list[int]]) -> list[int]:
    family, stack = [], [pid]
    while stack:
        current = stack.pop()
        family.append(current)
        stack.extend(tree.get(current, []))
    return family


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK_S


def _rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _machine_busy_s() -> float:
    """CPU time the whole machine has spent busy (every core, every process, the kernel)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) * CLOCK_TICK_S


@dataclass(frozen=True)
class Sample:
    """CPU seconds and RSS (MB) of each watched process, its children included; the machine's busy time."""

    at: float
    cpu_s: dict[str, float]
    rss_mb: dict[str, float]
    machine_busy_s: float


def sample(pids: dict[str, int]) -> Sample:
    """Each process with its children, except this one (whose children are everything else)."""
    tree = _children()
    families = {name: [pid] if pid == os.getpid() else _family(pid, tree) for name, pid in pids.items()}
    return Sample(
        time.monotonic(),
        {name: sum(_cpu_s(p) for p in family) for name, family in families.items()},
        {name: sum(_rss_mb(p) for p in family) for name, family in families.items()},
        _machine_busy_s(),
    )


def nats_server_pid() -> int:
    """The nats-server this process started."""
    for child in _children().get(os.getpid(), []):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{child}/comm").read_text().strip() == "nats-server":
                return child
    raise RuntimeError("nats-server is not a child of this process")

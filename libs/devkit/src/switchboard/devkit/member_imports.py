"""Proves each workspace member declares what it imports: sync it alone into a fresh environment, import all.

A module that imports a package only another member depends on works in the shared workspace environment and
fails here, the way it would fail in that member's own container image.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

_IMPORT_ALL = """
import importlib, sys
import pathlib
failed = []
for src in sys.argv[1:]:
    base = pathlib.Path(src)
    for path in sorted(base.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        module = ".".join(path.relative_to(base).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        try:
            importlib.import_module(module)
        except Exception as exc:
            failed.append(f"{module}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def members(root: Path) -> list[tuple[str, Path]]:
    """(package name, directory) of every workspace member with a `src` directory."""
    found = []
    for pyproject in sorted([*root.glob("libs/*/pyproject.toml"), *root.glob("services/*/pyproject.toml")]):
        if (pyproject.parent / "src").is_dir():
            name = tomllib.loads(pyproject.read_text())["project"]["name"]
            found.append((name, pyproject.parent))
    return found


def check(root: Path, name: str, directory: Path, uv: list[str]) -> str | None:
    """None when `name` alone imports all of its modules, else what failed."""
    with tempfile.TemporaryDirectory(prefix=f"member-{name}-") as venv:
        env = {**os.environ, "UV_PROJECT_ENVIRONMENT": venv}
        synced = subprocess.run(
            [*uv, "sync", "--frozen", "--no-dev", "--quiet", "--package", name],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        if synced.returncode:
            return synced.stderr.strip()
        imported = subprocess.run(
            [str(Path(venv) / "bin" / "python"), "-c", _IMPORT_ALL, str(directory / "src")],
            capture_output=True,
            text=True,
        )
        return None if imported.returncode == 0 else (imported.stdout + imported.stderr).strip()


def main() -> None:
    """Check every member (or the ones named); exit 1 if any imports what it does not declare."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="members to check (default: all)")
    parser.add_argument("--uv", default="uv", help="the uv command (e.g. 'python3 -m uv')")
    args = parser.parse_args()
    root = Path.cwd()
    failures = 0
    for name, directory in members(root):
        if args.names and name not in args.names:
            continue
        problem = check(root, name, directory, args.uv.split())
        sys.stdout.write(f"{'ok  ' if problem is None else 'FAIL'} {name}\n")
        if problem:
            failures += 1
            sys.stdout.write("     " + problem.replace("\n", "\n     ") + "\n")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

"""Agent profiles as YAML files (`profiles/*.yaml`, a ConfigMap in Kubernetes): loaded, validated, published.

Every problem of every file is reported at once, each naming the file and the field (or the YAML line), so a
bad profile stops the service at start rather than failing a call later. A profile's name is its file name
(``carrier-registration.yaml`` → ``carrier-registration``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from switchboard.common.errors import ConfigError, SwitchboardError
from switchboard.common.profiles import Profile, ProfileStore

logger = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml")


class ProfileFileError(ConfigError):
    """One or more profile files are invalid; `problems` lists each as ``file: field 'x': what``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid agent profiles:\n  " + "\n  ".join(problems), code="invalid_profile")
        self.problems = problems


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _load_one(path: Path) -> tuple[Profile | None, list[str]]:
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        return None, [f"{where}: not valid YAML: {getattr(e, 'problem', None) or e}"]
    except (OSError, UnicodeDecodeError) as e:
        return None, [f"{path}: cannot be read: {e}"]
    if not isinstance(data, dict):
        return None, [f"{path}: expected a mapping of profile fields, got {type(data).__name__}"]
    data.setdefault("name", path.stem)
    if data["name"] != path.stem:
        return None, [f"{path}: field 'name': {data['name']!r} must match the file name {path.stem!r}"]
    try:
        return Profile.model_validate(data), []
    except ValidationError as e:
        return None, [f"{path}: field '{_location(error['loc'])}': {error['msg']}" for error in e.errors()]


def load_profiles(directory: Path) -> dict[str, Profile]:
    """Every profile in `directory`; raises `ProfileFileError` listing every problem found."""
    if not directory.is_dir():
        raise ProfileFileError([f"{directory}: not a directory of profiles"])
    paths = sorted(path for path in directory.iterdir() if path.suffix in SUFFIXES and path.is_file())
    profiles: dict[str, Profile] = {}
    problems: list[str] = []
    for path in paths:
        profile, found = _load_one(path)
        problems.extend(found)
        if profile is not None:
            if profile.name in profiles:
                problems.append(f"{path}: field 'name': another file already defines {profile.name!r}")
            profiles[profile.name] = profile
    if not paths:
        problems.append(f"{directory}: no profiles (*.yaml)")
    if problems:
        raise ProfileFileError(problems)
    return profiles


async def publish_profiles(store: ProfileStore, profiles: dict[str, Profile]) -> dict[str, int]:
    """Put each profile in the KV bucket `profiles` unless the stored one is the same; returns the revisions."""
    revisions: dict[str, int] = {}
    for name, profile in sorted(profiles.items()):
        try:
            stored, revision = await store.get(name)
        except SwitchboardError:  # absent, or stored by an older version and no longer valid
            stored, revision = None, 0
        if stored != profile:
            revision = await store.put(profile)
            logger.info("published profile %s (revision %d)", name, revision)
        revisions[name] = revision
    return revisions

"""Production's NATS users and permissions for the local nats-server, plus an all-rights user for the tools.

deploy/k8s/nats-authorization.conf defines each service's user as a variable (``TRANSCODER_USER: { user:
transcoder, password: $NATS_PASSWORD_TRANSCODER, permissions: {...} }``); production's nats.conf and the dev
config written here both include it, so `make dev`, the end-to-end tests and the benchmarks run with the grants
production runs with. The dev config adds one user of its own, `dev`, with every right: for the tools that look
at everything (the tests' own clients, the load generator's tap). It exists only in the dev config.
"""

from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

SHARED_AUTHORIZATION = Path(__file__).resolve().parents[5] / "deploy" / "k8s" / "nats-authorization.conf"
"""The users and permissions production's nats.conf includes."""

DEV_USER = "dev"
"""The dev config's all-rights user (never in production's file)."""
DEV_PASSWORD_VARIABLE = "NATS_PASSWORD_DEV"
DEV_CONFIG = "nats-dev.conf"
"""The config file written next to the server's store."""

_USER_DEFINITION = re.compile(
    r"^(?P<variable>[A-Z][A-Z0-9_]*_USER)\s*[:=]\s*\{\s*user:\s*(?P<user>[\w-]+),\s*"
    r"password:\s*\$(?P<password>[A-Z][A-Z0-9_]*)",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class ServiceUser:
    """One user of the shared file: the variable that defines it, its name, its password's variable."""

    variable: str
    user: str
    password_variable: str


def service_users(path: Path = SHARED_AUTHORIZATION) -> list[ServiceUser]:
    """The users the shared file defines, in its order."""
    text = path.read_text(encoding="utf-8")
    users = [ServiceUser(m["variable"], m["user"], m["password"]) for m in _USER_DEFINITION.finditer(text)]
    if not users:
        raise ValueError(f"{path} defines no `<NAME>_USER: {{ user: …, password: $… }}`")
    return users


def with_credentials(url: str, user: str, password: str) -> str:
    """`url` carrying `user` and `password` (nats://user:password@host:port)."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True, slots=True)
class NatsAuthorization:
    """The shared file, a fresh random password for each of its users, and the dev user's."""

    shared_file: Path = SHARED_AUTHORIZATION
    users: list[ServiceUser] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)
    """User name → password, the dev user's included."""

    @classmethod
    def random(cls, shared_file: Path = SHARED_AUTHORIZATION) -> NatsAuthorization:
        """The users of `shared_file`, each with a new random password (so is the dev user)."""
        users = service_users(shared_file)
        passwords = {user.user: _password() for user in users}
        passwords[DEV_USER] = _password()
        return cls(shared_file.resolve(), users, passwords)

    @property
    def service_passwords(self) -> dict[str, str]:
        """Each service user's password (the dev user's left out)."""
        return {user.user: self.passwords[user.user] for user in self.users}

    def write(self, directory: Path) -> Path:
        """Write the dev config into `directory`, with a copy of the shared file beside it; returns its path.

        nats-server resolves an include against the including file's directory, even an absolute path: hence
        the copy, made again at each start.
        """
        shutil.copyfile(self.shared_file, directory / self.shared_file.name)
        listed = ", ".join(f"${user.variable}" for user in self.users)
        config = directory / DEV_CONFIG
        config.write_text(
            "# Written by switchboard.devkit.nats_authorization: production's users and permissions (a copy of\n"
            f"# {self.shared_file}) and an all-rights user for the local tools. Anonymous connections are refused.\n"
            f'include "{self.shared_file.name}"\n'
            "authorization {\n"
            f"  users: [{listed},\n"
            f"          {{user: {DEV_USER}, password: ${DEV_PASSWORD_VARIABLE}}}]\n"
            "}\n",
            encoding="utf-8",
        )
        return config

    def environment(self) -> dict[str, str]:
        """What nats-server needs in its environment: each `$NATS_PASSWORD_…` the config refers to."""
        env = {user.password_variable: self.passwords[user.user] for user in self.users}
        env[DEV_PASSWORD_VARIABLE] = self.passwords[DEV_USER]
        return env


def _password() -> str:
    # nats-server parses an environment variable's value as a config value: a leading digit would make it a
    # number, and some punctuation ends it early. A letter then hex digits is read as the string it is.
    return "p" + secrets.token_hex(16)

"""A throwaway certificate authority, so the emulator can serve the `wss://` the Gemini SDK insists on."""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path

import trustme

DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")


class LocalAuthority:
    """A test CA and one server certificate it signed for `hosts`.

    Clients trust the emulator by loading `ca_pem` (in-process: `client_context()`; another process: a file
    from `write_ca_pem`, e.g. passed as `SSL_CERT_FILE` or a service setting).
    """

    def __init__(self, hosts: Sequence[str] = DEFAULT_HOSTS) -> None:
        self._ca = trustme.CA()
        self._leaf = self._ca.issue_cert(*hosts)

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM-encoded."""
        return self._ca.cert_pem.bytes()

    def write_ca_pem(self, path: str | os.PathLike[str]) -> Path:
        """Write the CA certificate to `path` (atomically, world-readable) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".ca-", suffix=".pem", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.ca_pem)
            Path(tmp_name).chmod(0o644)
            Path(tmp_name).replace(target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return target

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context presenting the signed certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A TLS client context that trusts this CA (and nothing else)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the peer and its host name
        self._ca.configure_trust(context)
        return context

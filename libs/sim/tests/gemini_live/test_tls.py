from __future__ import annotations

import ssl

import pytest

from switchboard.sim.gemini_live import LocalAuthority

pytestmark = pytest.mark.unit


def test_ca_pem_is_written_for_other_processes(tmp_path) -> None:
    authority = LocalAuthority()
    path = authority.write_ca_pem(tmp_path / "nested" / "ca.pem")
    assert path.read_bytes() == authority.ca_pem
    assert path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert path.stat().st_mode & 0o777 == 0o644
    assert list(path.parent.iterdir()) == [path]
    context = ssl.create_default_context(cafile=str(path))
    assert context.get_ca_certs()


def test_client_context_checks_host_names() -> None:
    context = LocalAuthority().client_context()
    assert context.check_hostname
    assert context.verify_mode is ssl.CERT_REQUIRED

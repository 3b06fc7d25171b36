import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def test_importing_the_package_builds_and_compiles_nothing() -> None:
    # numba takes ~1 s to import: only code that resamples pays for it, when it builds its first stream.
    probe = (
        "import sys; import switchboard.common.audio as audio; "
        "from switchboard.common.audio import g711; "
        "assert 'numba' not in sys.modules, 'numba imported'; "
        "assert g711.decode_table.cache_info().currsize == 0, 'table built'; "
        "audio.ulaw_decode(bytes(4)); assert 'numba' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)

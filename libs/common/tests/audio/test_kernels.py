from types import ModuleType
from typing import Any

import numba
import numpy as np
import pytest

from switchboard.common.audio import _kernels

pytestmark = pytest.mark.unit


def test_the_compiled_mu_law_decoder_matches_the_reference_for_every_code(audioop: ModuleType) -> None:
    expected = np.frombuffer(audioop.ulaw2lin(bytes(range(256)), 2), dtype=np.int16)
    assert [int(_kernels.ulaw_to_linear(code)) for code in range(256)] == expected.tolist()


def test_the_compiled_mu_law_encoder_matches_the_reference_for_every_sample(audioop: ModuleType) -> None:
    samples = np.arange(-32768, 32768, dtype=np.int16)
    expected = np.frombuffer(audioop.lin2ulaw(samples.tobytes(), 2), dtype=np.uint8)
    assert [int(_kernels.linear_to_ulaw(s)) for s in range(-32768, 32768)] == expected.tolist()


def test_warm_up_compiles_every_entry_point() -> None:
    _kernels.warm_up()
    for name in ("interpolate_pcm", "interpolate_ulaw", "decimate_pcm", "decimate_to_ulaw"):
        assert getattr(_kernels, name).signatures, name


def test_kernels_compile_uncached_where_no_cache_dir_is_writable(monkeypatch: pytest.MonkeyPatch) -> None:
    # What numba does in a read-only install with no writable home: it refuses `cache=True` outright.
    real_njit: Any = numba.njit

    def njit(*args: object, cache: bool = False, **options: object) -> object:
        if cache:
            raise RuntimeError("cannot cache function 'f': no locator available for file 'x.py'")
        return real_njit(*args, **options)

    monkeypatch.setattr(numba, "njit", njit)

    def twice(x: int) -> int:
        return 2 * x

    compiled = _kernels._jit(twice)
    assert compiled(21) == 42
    assert compiled.signatures  # type: ignore[attr-defined]  # a numba dispatcher, typed as its function

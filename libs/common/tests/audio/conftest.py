import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest

from switchboard.common.audio import warm_up
from switchboard.common.audio._filters import lowpass

Reference = Callable[[npt.NDArray[np.int16], int, int], npt.NDArray[np.float64]]


@pytest.fixture(scope="session", autouse=True)
def _compiled() -> None:
    """Compile the kernels once, up front, rather than inside whichever test runs first."""
    warm_up()


@pytest.fixture(scope="session")
def audioop() -> ModuleType:
    """CPython's former G.711 / resampling module: the oracle for μ-law (tests only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

    return audioop


def _direct(x: npt.NDArray[np.float64], low: int, factor: int, up: bool) -> npt.NDArray[np.float64]:
    """The textbook resampler in float64: zero-stuff, convolve with the causal filter, keep every n-th."""
    h = lowpass(low, factor).taps
    if up:
        stuffed = np.zeros(len(x) * factor)
        stuffed[::factor] = x
        return np.convolve(stuffed, h * factor)[: len(stuffed)]
    return np.convolve(x, h)[: len(x)][::factor]


def _to_int16(x: npt.NDArray[np.float64]) -> npt.NDArray[np.int16]:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


@pytest.fixture(scope="session")
def reference() -> Reference:
    """What `StreamResampler` should output, unrounded (the last stage) — with no streaming at all."""

    def resample(x: npt.NDArray[np.int16], src: int, dst: int) -> npt.NDArray[np.float64]:
        common = np.lcm(src, dst)
        up, down = common // src, common // dst
        y = x.astype(np.float64)
        if up > 1:
            y = _direct(y, src, int(up), up=True)
        if down > 1:
            if up > 1:
                y = _to_int16(y).astype(np.float64)  # the stages hand PCM16 to each other
            y = _direct(y, dst, int(down), up=False)
        return y

    return resample

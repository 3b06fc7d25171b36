"""One integer-ratio resampling stage of one stream: its buffers, its state, and the kernel calls.

The kernels live in `_kernels` (numba), imported when the first stage is built, so that importing the audio
package stays cheap for code that only needs G.711. The `process_*` methods are the transcoder's hot path:
as little Python as possible around one kernel call.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from switchboard.common.audio._filters import lowpass

#: Input samples the buffers hold at first: 20 ms at 48 kHz. They grow for larger chunks.
INITIAL_CAPACITY = 960


class _Stage:
    """What an interpolator and a decimator share: the `work` matrix (see `_kernels`) and output buffers."""

    __slots__ = (
        "_capacity",
        "_count",
        "_history",
        "_kernel",
        "_n",
        "_out",
        "_pcm_kernel",
        "_ulaw",
        "_view",
        "_work",
        "factor",
        "low_rate",
    )

    _decimate: ClassVar[bool] = False

    def __init__(self, low_rate: int, factor: int) -> None:
        from switchboard.common.audio import _kernels

        self.low_rate = low_rate
        self.factor = factor
        self._history = _kernels.history(factor, self._decimate)
        self._kernel: Any = _kernels.decimate_to_ulaw if self._decimate else _kernels.interpolate_ulaw
        self._pcm_kernel: Any = _kernels.decimate_pcm if self._decimate else _kernels.interpolate_pcm
        f = lowpass(low_rate, factor)
        gain = 1.0 if self._decimate else float(factor)
        consts = f.branches * np.float32(gain)
        consts[0, 0] = f.center * gain
        self._capacity = 0
        self._work = np.zeros((_kernels.SCRATCH + factor, self._history + INITIAL_CAPACITY), np.float32)
        self._work[_kernels.CONSTS, : consts.size] = consts.ravel()
        self._allocate(INITIAL_CAPACITY)

    @property
    def delay_ms(self) -> float:
        return lowpass(self.low_rate, self.factor).delay_ms

    def _allocate(self, capacity: int) -> None:
        """(Re)build the buffers for chunks of up to `capacity` samples, keeping the stream's state."""
        from switchboard.common.audio import _kernels

        old = self._work
        work = np.zeros((old.shape[0], self._history + capacity), np.float32)
        work[_kernels.SIGNAL, : self._history] = old[_kernels.SIGNAL, : self._history]
        work[_kernels.CONSTS, : old.shape[1]] = old[_kernels.CONSTS]
        self._work = work
        outputs = capacity // self.factor + 1 if self._decimate else capacity * self.factor
        self._out = np.zeros(outputs, np.int16)
        self._ulaw = np.zeros(outputs, np.uint8)
        self._capacity = capacity
        # The chunk length and output count the cached `_view` is for.
        self._n = self._count = -1
        self._view: npt.NDArray[Any] = self._out[:0]

    def _fit(self, n: int) -> None:
        if n > self._capacity:
            self._allocate(max(n, 2 * self._capacity))

    def reset(self) -> None:
        from switchboard.common.audio import _kernels

        self._work[_kernels.SIGNAL] = 0.0
        if self._decimate:
            self._work[_kernels.CONSTS, _kernels.phase_column(self.factor)] = 0.0

    def process(self, samples: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """Resample a C-contiguous chunk; the result is a view of a buffer the next call overwrites."""
        self._fit(samples.shape[0])
        count = self._pcm_kernel(samples, self._work, self._out)
        return self._out[:count]


class Interpolator(_Stage):
    """`low_rate` → `low_rate * factor`: each input sample yields `factor` output samples at once."""

    __slots__ = ()

    def process_ulaw(self, data: bytes) -> bytes:
        """μ-law bytes at the low rate → PCM16 LE bytes at the high rate."""
        n = len(data)
        if n != self._n:
            self._fit(n)
            self._n = n
            self._view = self._out[: n * self.factor]
        self._kernel(data, self._work, self._out)
        return self._view.tobytes()


class Decimator(_Stage):
    """`low_rate * factor` → `low_rate`: an output sample as soon as its newest input has arrived."""

    __slots__ = ()
    _decimate = True

    def process_to_ulaw(self, data: bytes) -> bytes:
        """PCM16 LE bytes (an even number) at the high rate → μ-law bytes at the low rate."""
        n = len(data) >> 1
        if n != self._n:
            self._fit(n)
            self._n = n
        count = self._kernel(data, self._work, self._ulaw)
        if count != self._count:
            self._count = count
            self._view = self._ulaw[:count]
        return self._view.tobytes()

"""Compiled inner loops of the resamplers and converters (numba; imported on first use, not at import).

One call per chunk does everything (format in, filter, format out, history shift). On 20 ms frames the
cost of a call from Python into compiled code rivals the arithmetic, and it grows with every argument,
so each entry point takes three: the input, the stream's `work` matrix and the output buffer.

`work` (float32, `SCRATCH + factor` rows, one per stream; the factor is read from its shape):

* row `SIGNAL`: the filter history, then the new input samples. An interpolator keeps `TAPS - 1` samples
  of history, a decimator by `f` keeps `TAPS * f - 1`; after a call the newest history moves to the front.
* row `CONSTS`: the filter's branches `(factor, TAPS)` flattened, with the interpolation gain applied;
  branch 0 is the single centre tap, in its first column (see `_filters`). A decimator keeps its phase
  right after (`phase_column`): how many samples into the next chunk the next output's newest input is.
* rows `SCRATCH + b`: branch b's outputs (interpolation) or its de-interleaved inputs (decimation, where
  branch 0's row becomes the accumulator).

Samples are float32 inside; outputs are rounded to the nearest integer and clipped to int16 (never
wrapped) before they are stored as PCM or μ-law encoded. The μ-law arithmetic is G.711 bit for bit, like
`g711`, written without tables or branches so that it vectorises.

PCM16 bytes are read as native int16: little-endian, like every host the platform ships for (x86-64,
ARM64).

Offsets into rows go through slices (`row[offset:][i]`) rather than `row[offset + i]`: numba wraps
negative indices, and only for an index it can prove non-negative, like a loop counter, does LLVM drop
that check and vectorise the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt

from switchboard.common.audio._filters import TAPS

_F = TypeVar("_F", bound=Callable[..., Any])

SIGNAL, CONSTS, SCRATCH = 0, 1, 2
#: The group delay in low-rate samples; also where branch 0's single tap sits.
HALF = TAPS // 2


def history(factor: int, decimate: bool) -> int:
    """Input samples of history a stage keeps at the start of its `SIGNAL` row."""
    return TAPS * factor - 1 if decimate else TAPS - 1


def phase_column(factor: int) -> int:
    """Where in the `CONSTS` row a decimator keeps its phase."""
    return factor * TAPS


def _jit(fn: _F) -> _F:
    """Compile on first call, caching the machine code on disk when a cache directory is writable.

    numba caches next to the source, else under NUMBA_CACHE_DIR or the user's cache directory; where
    none is writable (a read-only install without a home) it refuses `cache=True`: compile at each start.
    """
    # Holding the GIL: the callers are single-threaded event loops, and releasing it costs ~50 ns a call.
    options: dict[str, Any] = {"fastmath": True, "error_model": "numpy"}
    try:
        return cast(_F, numba.njit(cache=True, **options)(fn))
    except RuntimeError:
        return cast(_F, numba.njit(cache=False, **options)(fn))


# --- sample formats --------------------------------------------------------------------------------


@_jit
def ulaw_to_linear(code: int) -> np.int32:
    """One μ-law code → its PCM16 value."""
    u = ~np.int32(code) & np.int32(0xFF)
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


@_jit
def linear_to_ulaw(sample: int | np.int16) -> np.int32:
    """One PCM16 value → its μ-law code (G.711 works on the top 14 bits)."""
    v = np.int32(sample) >> np.int32(2)
    negative = v < 0
    magnitude = min(-v if negative else v, np.int32(8159)) + np.int32(0x21)
    segment = (
        np.int32(magnitude > 0x3F)
        + np.int32(magnitude > 0x7F)
        + np.int32(magnitude > 0xFF)
        + np.int32(magnitude > 0x1FF)
        + np.int32(magnitude > 0x3FF)
        + np.int32(magnitude > 0x7FF)
        + np.int32(magnitude > 0xFFF)
        + np.int32(magnitude > 0x1FFF)
    )
    code = (segment << np.int32(4)) | ((magnitude >> (segment + np.int32(1))) & np.int32(0x0F))
    if segment > 7:
        code = np.int32(0x7F)
    return code ^ (np.int32(0x7F) if negative else np.int32(0xFF))


@_jit
def _to_int16(x: Any) -> np.int16:
    """Round to the nearest PCM16 value, clipping (not wrapping) beyond full scale."""
    return np.int16(np.rint(min(max(x, np.float32(-32768.0)), np.float32(32767.0))))


# --- filter cores ----------------------------------------------------------------------------------


@_jit
def _fir(
    src: npt.NDArray[np.float32],
    coeffs: npt.NDArray[np.float32],
    dst: npt.NDArray[np.float32],
    count: int,
    accumulate: bool,
) -> None:
    """`dst[m] (+)= sum(coeffs[t] * src[m + t] for t < TAPS)` for `m < count`.

    The tap loop has a compile-time length, so it is unrolled and the output loop vectorised.
    """
    if accumulate:
        for m in range(count):
            acc = np.float32(0.0)
            for t in range(TAPS):
                acc += coeffs[t] * src[m + t]
            dst[m] += acc
    else:
        for m in range(count):
            acc = np.float32(0.0)
            for t in range(TAPS):
                acc += coeffs[t] * src[m + t]
            dst[m] = acc


@_jit
def _shift_history(signal: npt.NDArray[np.float32], n: int, hist: int) -> None:
    """Move the newest `hist` samples to the front, for the next call."""
    newest = signal[n:]
    for i in range(hist):
        signal[i] = newest[i]


@_jit
def _interpolate(work: npt.NDArray[np.float32], n: int, factor: int) -> None:
    """Filter `n` new inputs: output `m * factor + b` goes to `work[SCRATCH + b, m]`."""
    signal = work[SIGNAL]
    consts = work[CONSTS]
    hist = TAPS - 1
    for b in range(1, factor):
        _fir(signal, consts[b * TAPS : (b + 1) * TAPS], work[SCRATCH + b], n, False)
    center = consts[0]
    out = work[SCRATCH]
    for m in range(n):
        out[m] = center * signal[m + hist - HALF]
    _shift_history(signal, n, hist)


@_jit
def _store_interleaved(
    work: npt.NDArray[np.float32], n: int, factor: int, out: npt.NDArray[np.int16]
) -> None:
    """`out[m * factor + b] = work[SCRATCH + b, m]` as PCM16; unrolled per factor so that it vectorises."""
    r0 = work[SCRATCH]
    r1 = work[SCRATCH + 1]
    if factor == 2:
        for m in range(n):
            out[2 * m] = _to_int16(r0[m])
            out[2 * m + 1] = _to_int16(r1[m])
    else:
        r2 = work[SCRATCH + 2]
        for m in range(n):
            out[3 * m] = _to_int16(r0[m])
            out[3 * m + 1] = _to_int16(r1[m])
            out[3 * m + 2] = _to_int16(r2[m])


@_jit
def _decimate(work: npt.NDArray[np.float32], n: int, factor: int) -> int:
    """Filter `n` new inputs: the outputs go to `work[SCRATCH, :count]`; returns `count`."""
    signal = work[SIGNAL]
    consts = work[CONSTS]
    hist = TAPS * factor - 1
    phase = int(consts[factor * TAPS])
    count = (n - phase + factor - 1) // factor if n > phase else 0
    if count == 0:
        consts[factor * TAPS] = phase - n
        _shift_history(signal, n, hist)
        return 0
    # Output m's newest input is signal[hist + phase + m * factor]. Branch b multiplies the inputs
    # b, b + factor, ... samples older than that: de-interleave them into row SCRATCH + b, oldest first,
    # so that each branch's FIR reads contiguous memory. One pass with a constant stride vectorises.
    window = signal[phase + hist - (TAPS - 1) * factor - (factor - 1) :]
    rows = count + TAPS - 1
    d0 = work[SCRATCH]
    d1 = work[SCRATCH + 1]
    if factor == 2:
        for s in range(rows):
            d1[s] = window[2 * s]
            d0[s] = window[2 * s + 1]
    else:
        d2 = work[SCRATCH + 2]
        for s in range(rows):
            d2[s] = window[3 * s]
            d1[s] = window[3 * s + 1]
            d0[s] = window[3 * s + 2]
    # Branch 0 is the centre tap alone; its row becomes the accumulator (reads stay ahead of writes).
    center = consts[0]
    for m in range(count):
        d0[m] = center * d0[m + HALF - 1]
    for b in range(1, factor):
        _fir(work[SCRATCH + b], consts[b * TAPS : (b + 1) * TAPS], d0, count, True)
    consts[factor * TAPS] = phase + count * factor - n
    _shift_history(signal, n, hist)
    return count


# --- entry points ----------------------------------------------------------------------------------


@_jit
def interpolate_pcm(
    samples: npt.NDArray[np.int16], work: npt.NDArray[np.float32], out: npt.NDArray[np.int16]
) -> int:
    """PCM16 samples → `factor` times as many PCM16 samples in `out`; returns the count."""
    factor: int = work.shape[0] - SCRATCH
    n: int = samples.shape[0]
    new = work[SIGNAL, TAPS - 1 :]
    for i in range(n):
        new[i] = samples[i]
    _interpolate(work, n, factor)
    _store_interleaved(work, n, factor, out)
    return n * factor


@_jit
def interpolate_ulaw(data: bytes, work: npt.NDArray[np.float32], out: npt.NDArray[np.int16]) -> int:
    """μ-law bytes → PCM16 samples at `factor` times the rate in `out`; returns the count."""
    factor: int = work.shape[0] - SCRATCH
    n = len(data)
    new = work[SIGNAL, TAPS - 1 :]
    for i in range(n):
        new[i] = ulaw_to_linear(data[i])
    _interpolate(work, n, factor)
    _store_interleaved(work, n, factor, out)
    return n * factor


@_jit
def decimate_pcm(
    samples: npt.NDArray[np.int16], work: npt.NDArray[np.float32], out: npt.NDArray[np.int16]
) -> int:
    """PCM16 samples → PCM16 samples at `1 / factor` the rate in `out`; returns the count."""
    factor: int = work.shape[0] - SCRATCH
    n: int = samples.shape[0]
    new = work[SIGNAL, TAPS * factor - 1 :]
    for i in range(n):
        new[i] = samples[i]
    count = _decimate(work, n, factor)
    acc = work[SCRATCH]
    for m in range(count):
        out[m] = _to_int16(acc[m])
    return count


@_jit
def decimate_to_ulaw(data: bytes, work: npt.NDArray[np.float32], out: npt.NDArray[np.uint8]) -> int:
    """PCM16 LE bytes → μ-law bytes at `1 / factor` the rate in `out`; returns the count."""
    factor: int = work.shape[0] - SCRATCH
    samples = np.frombuffer(data, np.int16)
    n: int = samples.shape[0]
    new = work[SIGNAL, TAPS * factor - 1 :]
    for i in range(n):
        new[i] = samples[i]
    count = _decimate(work, n, factor)
    acc = work[SCRATCH]
    for m in range(count):
        out[m] = linear_to_ulaw(_to_int16(acc[m]))
    return count


def warm_up() -> None:
    """Compile every entry point now (or load it from the cache), for the argument types used live."""
    pcm: npt.NDArray[np.int16] = np.zeros(8, np.int16)
    read_only = np.frombuffer(pcm.tobytes(), np.int16)
    for factor in (2, 3):  # the factor is a run-time value: this compiles each function once
        work = np.zeros((SCRATCH + factor, 256), np.float32)
        for samples in (pcm, read_only):
            interpolate_pcm(samples, work, np.zeros(64, np.int16))
            decimate_pcm(samples, work, np.zeros(64, np.int16))
        interpolate_ulaw(bytes(8), work, np.zeros(64, np.int16))
        decimate_to_ulaw(bytes(16), work, np.zeros(64, np.uint8))

"""How much of a known answer the caller heard: the answer's audio found on the heard timeline, and where it stops.

A test that knows what the model said (the emulators synthesize it) can tell how far into it the caller got,
and compare that with what the agent reported as played (OpenAI's `conversation.item.truncate` `audio_end_ms`).
The reference is located by cross-correlation, and so is the last of it heard (the 300 ms before the end of
the last audible block before `until_s`): how far into the answer the caller got does not depend on what
happened on the way (the phone's underruns, frames a loaded emulator lost). Where the cut fell in a pause of the reference, the caller heard the same whatever the exact
cut: `HeardSpan` gives the range of cut points that sound alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from switchboard.sim.phone.heard import SILENCE_DBFS, HeardAudio

_TAIL_S = 0.3
_SEARCH_S = 0.4  # less than half the synthetic voice's cycle of vowels, so one place matches
_BLOCK_MS = 5.0  # as fine as the leak measure: a 10 ms block would add up to 10 ms to what was heard


@dataclass(frozen=True, slots=True)
class HeardSpan:
    """Where a reference started on the heard timeline and how much of it was heard, in ms of the reference.

    The reference was heard up to `heard_ms` (the end of its last audible block heard); the cut lies between
    `heard_ms` and `silent_until_ms` (where the reference is next audible: what was cut in between is quiet).
    """

    start_s: float
    heard_ms: float
    silent_until_ms: float

    def distance_ms(self, position_ms: float) -> float:
        """How far `position_ms` (in ms of the reference) is from the cut points consistent with what was heard."""
        if position_ms < self.heard_ms:
            return self.heard_ms - position_ms
        return max(0.0, position_ms - self.silent_until_ms)


def locate(heard: HeardAudio, reference: npt.NDArray[np.int16], start_s: float, end_s: float) -> float:
    """The time at which `reference` (at the heard rate) starts between `start_s` and `end_s`, by correlation."""
    window = heard.between(start_s, end_s).astype(np.float64)
    probe = reference[: min(reference.size, window.size // 2)].astype(np.float64)
    if probe.size == 0 or window.size < probe.size:
        raise ValueError("the heard window is too short to find the reference in")
    size = 1 << int(np.ceil(np.log2(window.size + probe.size)))
    correlation = np.fft.irfft(np.fft.rfft(window, size) * np.conj(np.fft.rfft(probe, size)), size)
    lag = int(np.argmax(correlation[: window.size - probe.size + 1]))
    first = min(heard.pcm.size, max(0, round((start_s - heard.start_s) * heard.rate)))
    return heard.start_s + (first + lag) / heard.rate


def heard_span(
    heard: HeardAudio,
    reference: npt.NDArray[np.int16],
    start_s: float,
    until_s: float,
    *,
    silence_dbfs: float = SILENCE_DBFS,
) -> HeardSpan:
    """How much of `reference`, starting at `start_s` on the heard timeline, was heard before `until_s`."""
    heard_levels = heard.block_levels(start_s, until_s, block_ms=_BLOCK_MS)
    loud = np.flatnonzero(heard_levels > silence_dbfs)
    end_s = start_s + (0.0 if loud.size == 0 else float(loud[-1] + 1) * _BLOCK_MS / 1000.0)
    heard_ms = heard.played_ms(start_s, end_s)  # the phone's own underruns are silence, not the answer
    tail = heard.between(end_s - _TAIL_S, end_s)
    if tail.size == round(_TAIL_S * heard.rate):  # where the last of it is in the reference: lost frames too
        heard_ms = _position_ms(reference, tail, heard_ms, heard.rate)
    reference_audio = HeardAudio(reference, np.ones(reference.size, dtype=np.bool_), 0.0, heard.rate)
    reference_levels = reference_audio.block_levels(heard_ms / 1000.0, block_ms=_BLOCK_MS)
    next_loud = np.flatnonzero(reference_levels > silence_dbfs)
    if next_loud.size:
        silent_until = heard_ms + float(next_loud[0]) * _BLOCK_MS
    else:
        silent_until = reference_audio.duration_s * 1000.0
    return HeardSpan(start_s, heard_ms, silent_until)


def _position_ms(
    reference: npt.NDArray[np.int16], tail: npt.NDArray[np.int16], around_ms: float, rate: int
) -> float:
    """Where `tail` ends in `reference` (ms), searched within `_SEARCH_S` of `around_ms`."""
    end = round(around_ms * rate / 1000)
    lo = max(0, end - tail.size - round(_SEARCH_S * rate))
    hi = min(reference.size, end + round(_SEARCH_S * rate))
    window = reference[lo:hi].astype(np.float64)
    if window.size < tail.size:
        return around_ms
    probe = tail.astype(np.float64)
    size = 1 << int(np.ceil(np.log2(window.size + probe.size)))
    correlation = np.fft.irfft(np.fft.rfft(window, size) * np.conj(np.fft.rfft(probe, size)), size)
    lag = int(np.argmax(correlation[: window.size - probe.size + 1]))
    return (lo + lag + tail.size) * 1000.0 / rate

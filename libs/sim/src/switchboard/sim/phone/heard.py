"""What the caller heard: the decoded downlink on a timeline from stream start, with queries for assertions."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from switchboard.sim.phone.messages import SAMPLE_RATE
from switchboard.sim.vad import dbfs

SILENCE_DBFS = -50.0  # below this a block counts as silence


@dataclass(frozen=True, slots=True)
class HeardAudio:
    """PCM16 at 8 kHz; `played` is True where the buffer was playing server audio.

    Times are seconds since the stream started (the `start` message); `pcm[0]` plays at `start_s`. Where the
    buffer was empty the caller heard silence, which is zeros in `pcm` and False in `played`.
    """

    pcm: npt.NDArray[np.int16]
    played: npt.NDArray[np.bool_]
    start_s: float = 0.0
    rate: int = SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        """How long the timeline is."""
        return self.pcm.size / self.rate

    @property
    def end_s(self) -> float:
        """The stream time where the timeline ends (now, or the hang-up)."""
        return self.start_s + self.duration_s

    def _index(self, t: float) -> int:
        return min(self.pcm.size, max(0, round((t - self.start_s) * self.rate)))

    def _time(self, index: int) -> float:
        return self.start_s + index / self.rate

    def between(self, start_s: float = 0.0, end_s: float | None = None) -> npt.NDArray[np.int16]:
        """The audio the caller heard between two times (clipped to the timeline)."""
        end = self.pcm.size if end_s is None else self._index(end_s)
        return self.pcm[self._index(start_s) : end]

    def level_dbfs(self, start_s: float = 0.0, end_s: float | None = None) -> float:
        """RMS level of what was heard between two times; -120 for silence."""
        return dbfs(self.between(start_s, end_s))

    def played_ms(self, start_s: float = 0.0, end_s: float | None = None) -> float:
        """Milliseconds during which the buffer was playing server audio (whatever its content)."""
        end = self.played.size if end_s is None else self._index(end_s)
        return int(np.count_nonzero(self.played[self._index(start_s) : end])) * 1000.0 / self.rate

    def block_levels(
        self, start_s: float = 0.0, end_s: float | None = None, *, block_ms: float = 10.0
    ) -> npt.NDArray[np.float64]:
        """RMS level in dBFS of consecutive blocks from `start_s` (a last partial block is left out)."""
        block = max(1, round(block_ms * self.rate / 1000))
        audio = self.between(start_s, end_s)
        count = audio.size // block
        if count == 0:
            return np.empty(0, dtype=np.float64)
        blocks = audio[: count * block].astype(np.float64).reshape(count, block)
        rms = np.sqrt(np.mean(blocks**2, axis=1))
        with np.errstate(divide="ignore"):
            levels = 20.0 * np.log10(rms / 32768.0)
        return np.where(rms < 1e-9, -120.0, levels)

    def first_energy_above(
        self, threshold_dbfs: float, *, after_s: float = 0.0, block_ms: float = 10.0
    ) -> float | None:
        """The start of the first block after `after_s` louder than `threshold_dbfs`, or None."""
        loud = np.flatnonzero(self.block_levels(after_s, block_ms=block_ms) > threshold_dbfs)
        if loud.size == 0:
            return None
        return self._time(self._index(after_s)) + float(loud[0]) * block_ms / 1000.0

    def first_sound(self, *, after_s: float = 0.0, threshold_dbfs: float = SILENCE_DBFS) -> float | None:
        """The first sample after `after_s` whose magnitude reaches the `threshold_dbfs` level, or None."""
        amplitude = 32768.0 * 10 ** (threshold_dbfs / 20.0)
        start = self._index(after_s)
        loud = np.flatnonzero(np.abs(self.pcm[start:].astype(np.int32)) >= amplitude)
        return None if loud.size == 0 else self._time(start + int(loud[0]))

    def audible_ms(
        self,
        start_s: float = 0.0,
        end_s: float | None = None,
        *,
        threshold_dbfs: float = SILENCE_DBFS,
        block_ms: float = 10.0,
    ) -> float:
        """Milliseconds of blocks louder than `threshold_dbfs` between two times."""
        return float(
            np.count_nonzero(self.block_levels(start_s, end_s, block_ms=block_ms) > threshold_dbfs)
        ) * (block_ms)

    def save_wav(self, path: str | Path) -> None:
        """Write the timeline as a mono PCM16 WAV at 8 kHz."""
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.rate)
            wav.writeframes(self.pcm.astype("<i2").tobytes())


def stereo_wav(left: npt.NDArray[np.int16], right: npt.NDArray[np.int16], rate: int) -> bytes:
    """A stereo PCM16 WAV of two mono signals, the shorter one padded with silence."""
    length = max(left.size, right.size)
    frames = np.zeros((length, 2), dtype="<i2")
    frames[: left.size, 0] = left
    frames[: right.size, 1] = right
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames.tobytes())
    return out.getvalue()

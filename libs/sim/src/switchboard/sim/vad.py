"""Energy voice-activity detection, as the model emulators use it to hear the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt


class VadEvent(Enum):
    """A change of state the detector reports."""

    SPEECH_STARTED = "speech_started"
    SPEECH_STOPPED = "speech_stopped"


@dataclass(slots=True)
class EnergyVad:
    """Speech starts after `start_ms` of loud audio and stops after `silence_ms` of quiet audio.

    Times are in milliseconds of audio fed, so the detector works the same whatever the arrival pace.
    `speech_start_ms` and `speech_end_ms` report where the change happened, `prefix_ms` of padding included in
    the start, like a server VAD.
    """

    rate: int
    threshold_dbfs: float = -40.0
    start_ms: float = 60.0
    silence_ms: float = 500.0
    prefix_ms: float = 300.0
    audio_ms: float = 0.0
    speaking: bool = False
    speech_start_ms: float = 0.0
    speech_end_ms: float = 0.0
    _loud_ms: float = field(default=0.0, repr=False)
    _quiet_ms: float = field(default=0.0, repr=False)

    def feed(self, samples: npt.NDArray[np.int16]) -> list[VadEvent]:
        """Feed audio; returns the state changes it caused, in order."""
        events: list[VadEvent] = []
        block = max(1, self.rate // 100)  # 10 ms analysis blocks
        for offset in range(0, samples.size, block):
            chunk = samples[offset : offset + block]
            chunk_ms = chunk.size * 1000.0 / self.rate
            self.audio_ms += chunk_ms
            loud = dbfs(chunk) > self.threshold_dbfs
            if not self.speaking:
                self._loud_ms = self._loud_ms + chunk_ms if loud else 0.0
                if self._loud_ms >= self.start_ms:
                    self.speaking = True
                    self._quiet_ms = 0.0
                    self.speech_start_ms = max(0.0, self.audio_ms - self._loud_ms - self.prefix_ms)
                    events.append(VadEvent.SPEECH_STARTED)
            else:
                self._quiet_ms = 0.0 if loud else self._quiet_ms + chunk_ms
                if self._quiet_ms >= self.silence_ms:
                    self.speaking = False
                    self._loud_ms = 0.0
                    self.speech_end_ms = self.audio_ms - self._quiet_ms
                    events.append(VadEvent.SPEECH_STOPPED)
        return events


def dbfs(samples: npt.NDArray[np.int16]) -> float:
    """RMS level in dB relative to full scale; -120 for silence."""
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    return -120.0 if rms < 1e-9 else 20.0 * float(np.log10(rms / 32768.0))

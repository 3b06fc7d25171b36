"""The input audio buffer and the server VAD that listens to it."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from switchboard.sim.openai_realtime.session_config import input_format, turn_detection, vad_params
from switchboard.sim.vad import EnergyVad, VadEvent


class InputBuffer:
    """Counts the caller audio and, when turn detection is on, finds where speech starts and stops.

    Times are milliseconds of audio since the session started, the clock of `audio_start_ms`/`audio_end_ms`.
    """

    def __init__(self) -> None:
        self.session_ms = 0.0
        self.buffered_ms = 0.0
        self.speech_item_id: str | None = None
        self._vad: EnergyVad | None = None

    @property
    def speech_start_ms(self) -> float:
        """Where the last speech started, prefix padding included."""
        return self._vad.speech_start_ms if self._vad is not None else 0.0

    @property
    def speech_end_ms(self) -> float:
        """Where the last speech ended."""
        return self._vad.speech_end_ms if self._vad is not None else self.session_ms

    def configure(self, session: dict[str, Any]) -> None:
        """Follow the session's turn detection and input format; a change restarts the detector."""
        detection = turn_detection(session)
        if detection is None:
            self._vad = None
            return
        params = vad_params(detection)
        rate = input_format(session).sample_rate
        vad = self._vad
        if vad is not None and (vad.rate, vad.threshold_dbfs, vad.prefix_ms, vad.silence_ms) == (
            rate,
            params.threshold_dbfs,
            params.prefix_ms,
            params.silence_ms,
        ):
            return
        self._vad = EnergyVad(
            rate=rate,
            threshold_dbfs=params.threshold_dbfs,
            prefix_ms=params.prefix_ms,
            silence_ms=params.silence_ms,
            audio_ms=self.session_ms,
        )

    def append(self, samples: npt.NDArray[np.int16], rate: int) -> list[VadEvent]:
        """Buffer audio; returns the speech starts and stops it contained."""
        ms = samples.size * 1000.0 / rate
        self.session_ms += ms
        self.buffered_ms += ms
        if self._vad is None:
            return []
        changes = self._vad.feed(samples)
        if VadEvent.SPEECH_STARTED in changes:
            # server VAD keeps only the prefix padding before the speech
            self.buffered_ms = self._vad.audio_ms - self._vad.speech_start_ms
        return changes

    def take(self) -> None:
        """The buffered audio became a user item."""
        self.buffered_ms = 0.0

    def clear(self) -> None:
        """Drop the buffered audio and whatever speech was in progress."""
        self.buffered_ms = 0.0
        self.speech_item_id = None
        vad = self._vad
        if vad is not None:
            self._vad = EnergyVad(
                rate=vad.rate,
                threshold_dbfs=vad.threshold_dbfs,
                start_ms=vad.start_ms,
                silence_ms=vad.silence_ms,
                prefix_ms=vad.prefix_ms,
                audio_ms=self.session_ms,
            )

"""How the emulated model hears the caller: energy VAD tuned by `automaticActivityDetection`."""

from __future__ import annotations

from switchboard.sim.gemini_live._wire import Json
from switchboard.sim.vad import EnergyVad

DEFAULT_THRESHOLD_DBFS = -40.0
DEFAULT_SILENCE_MS = 500.0
DEFAULT_PREFIX_MS = 300.0
_START_THRESHOLD_DBFS = {"START_SENSITIVITY_HIGH": -46.0, "START_SENSITIVITY_LOW": -34.0}
_END_SILENCE_FACTOR = {"END_SENSITIVITY_HIGH": 0.6, "END_SENSITIVITY_LOW": 1.6}


def detector(detection: Json, rate: int) -> EnergyVad:
    """A detector for audio at `rate` Hz following `realtimeInputConfig.automaticActivityDetection`.

    A more sensitive start hears quieter speech; a more sensitive end waits for a shorter silence.
    """
    silence_ms = float(detection.get("silenceDurationMs") or DEFAULT_SILENCE_MS)
    silence_ms *= _END_SILENCE_FACTOR.get(str(detection.get("endOfSpeechSensitivity")), 1.0)
    return EnergyVad(
        rate,
        threshold_dbfs=_START_THRESHOLD_DBFS.get(
            str(detection.get("startOfSpeechSensitivity")), DEFAULT_THRESHOLD_DBFS
        ),
        silence_ms=silence_ms,
        prefix_ms=float(detection.get("prefixPaddingMs") or DEFAULT_PREFIX_MS),
    )

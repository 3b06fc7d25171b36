"""The caller's microphone: speech queued by a script, cut into 20 ms μ-law frames, silence in between."""

from __future__ import annotations

import asyncio
import wave
from collections import deque
from pathlib import Path

import numpy as np
import numpy.typing as npt

from switchboard.common.audio.g711 import ulaw_encode
from switchboard.sim.phone.messages import FRAME_SAMPLES, SAMPLE_RATE

SILENCE_FRAME = b"\xff" * FRAME_SAMPLES  # μ-law 0xFF is digital silence


class Utterance:
    """Speech queued on the caller's side; `start_s`/`end_s` are stream times once it has been sent."""

    def __init__(self, audio: bytes, label: str = "") -> None:
        self.audio = audio
        self.label = label
        self.start_s: float | None = None
        self.end_s: float | None = None
        self.sent = 0
        self._done = asyncio.Event()

    @property
    def duration_s(self) -> float:
        """Length of the speech."""
        return len(self.audio) / SAMPLE_RATE

    @property
    def done(self) -> bool:
        """Whether every sample has been sent (or the call ended first)."""
        return self._done.is_set()

    async def wait(self) -> None:
        """Wait until the utterance has been sent in full (or the call ended first)."""
        await self._done.wait()

    def _finish(self) -> None:
        self._done.set()

    def __repr__(self) -> str:
        return (
            f"Utterance({self.label!r}, {self.duration_s:.2f}s, start_s={self.start_s}, end_s={self.end_s})"
        )


class CallerAudio:
    """Queued utterances played back to back; a frame that an utterance does not fill is padded with silence."""

    def __init__(self) -> None:
        self._queue: deque[Utterance] = deque()
        self._idle = asyncio.Event()
        self._idle.set()
        self.spoken: list[Utterance] = []

    def queue(self, utterance: Utterance) -> None:
        """Speak `utterance` after what is already queued."""
        if not utterance.audio:
            utterance._finish()
            return
        self._queue.append(utterance)
        self._idle.clear()

    async def wait_idle(self) -> None:
        """Wait until nothing is queued any more."""
        await self._idle.wait()

    @property
    def speaking(self) -> bool:
        """Whether speech is queued or being sent."""
        return bool(self._queue)

    def next_frame(self, stream_time_s: float) -> bytes:
        """The 160 μ-law bytes for the frame that starts at `stream_time_s`."""
        if not self._queue:
            return SILENCE_FRAME
        utterance = self._queue[0]
        if utterance.start_s is None:
            utterance.start_s = stream_time_s
            self.spoken.append(utterance)
        frame = utterance.audio[utterance.sent : utterance.sent + FRAME_SAMPLES]
        utterance.sent += len(frame)
        if utterance.sent >= len(utterance.audio):
            utterance.end_s = stream_time_s + len(frame) / SAMPLE_RATE
            self._queue.popleft()
            utterance._finish()
            if not self._queue:
                self._idle.set()
        return frame + SILENCE_FRAME[len(frame) :]

    def cancel(self) -> None:
        """Drop whatever is still queued, releasing anyone waiting on it."""
        while self._queue:
            self._queue.popleft()._finish()
        self._idle.set()

    def speech_intervals(self) -> list[tuple[float, float]]:
        """(start_s, end_s) of every utterance sent so far; one still being sent ends at its planned end."""
        return [
            (u.start_s, u.end_s if u.end_s is not None else u.start_s + u.duration_s)
            for u in self.spoken
            if u.start_s is not None
        ]


def to_ulaw(samples: npt.NDArray[np.int16]) -> bytes:
    """μ-law bytes for PCM16 samples at 8 kHz."""
    return ulaw_encode(np.ascontiguousarray(samples, dtype=np.int16))


def load_wav(path: str | Path) -> npt.NDArray[np.int16]:
    """A PCM WAV (8 or 16 bit, any rate, mono or stereo) as mono PCM16 at 8 kHz."""
    with wave.open(str(path), "rb") as wav:
        channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    if width == 2:
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    elif width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    else:
        raise ValueError(f"{path}: {8 * width}-bit WAV is not supported (use 8 or 16 bit PCM)")
    mono = samples.reshape(-1, channels).mean(axis=1)
    return np.clip(np.round(resample(mono, rate, SAMPLE_RATE)), -32768, 32767).astype(np.int16)


def resample(samples: npt.NDArray[np.float64], source_rate: int, rate: int) -> npt.NDArray[np.float64]:
    """Band-limited resampling: a windowed-sinc low-pass below the new Nyquist, then linear interpolation."""
    if source_rate == rate or samples.size == 0:
        return samples
    if rate < source_rate:
        cutoff = 0.45 * rate / source_rate  # cycles per input sample, a little under the new Nyquist
        taps = np.arange(-32, 33)
        kernel = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.hanning(taps.size)
        samples = np.convolve(samples, kernel / kernel.sum(), mode="same")
    positions = np.arange(int(samples.size * rate / source_rate)) * (source_rate / rate)
    resampled: npt.NDArray[np.float64] = np.interp(positions, np.arange(samples.size), samples)
    return resampled

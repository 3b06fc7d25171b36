"""Knobs that shape how the emulated model behaves; tests change them on a running emulator."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.sim.speech import Voice


@dataclass(slots=True)
class Behaviour:
    """Timing and recording of the emulated model.

    - `first_delta_latency_s`: from `response.created` to the first audio delta (the model's "think time").
    - `chunk_ms`: audio per `response.output_audio.delta`.
    - `send_speed`: how many times faster than real time the audio is sent (OpenAI sends faster than real time);
      `None` sends it as fast as the socket takes it, `1.0` paces it like playback.
    - `reply_audio_ms`: force every reply's audio to this length (speech looped, then trimmed).
    - `transcription_delay_s`: from the commit of a user turn to its transcription; 0 sends it at once.
    - `max_session_s`: the server ends the session after this long (OpenAI: 60 minutes), with close code 1001.
    - `record_audio`: keep audio payloads in the recorded events (off by default: long calls are large).
    - `speech`: the synthesis engine of replies (`auto` uses espeak-ng when installed).
    """

    first_delta_latency_s: float = 0.25
    chunk_ms: int = 100
    send_speed: float | None = 4.0
    reply_audio_ms: int | None = None
    transcription_delay_s: float = 0.0
    max_session_s: float = 3600.0
    record_audio: bool = False
    speech: Voice = "auto"

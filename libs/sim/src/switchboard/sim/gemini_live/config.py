"""The emulator's knobs. They are read at the moment they matter, so a test may change them while it runs."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.sim.speech import Voice


@dataclass(slots=True)
class GeminiLiveConfig:
    """How the emulated service behaves.

    Timing: a model turn starts `time_to_first_chunk_s` after its trigger (end of caller speech, a
    `clientContent` turn, a tool response); its audio is cut into `chunk_ms` pieces sent `realtime_factor` times
    faster than real time (the real service also generates faster than playback). `min_reply_s` repeats a
    reply until its audio lasts at least that long, for tests that speak over the model; `max_reply_s` cuts a
    reply's audio (not its transcript) to that length, for tests that go through many turns.
    """

    api_key: str = "sim-gemini-key"
    time_to_first_chunk_s: float = 0.25
    chunk_ms: int = 40
    realtime_factor: float = 3.0
    min_reply_s: float = 0.0
    max_reply_s: float | None = None
    voice: Voice = "auto"
    models: frozenset[str] | None = None
    """Model names (`models/…`) to accept; None accepts any."""
    connection_lifetime_s: float | None = None
    """Announce `goAway` and close each connection after this long (the real service does so after ~10 min)."""
    go_away_notice_s: float = 5.0
    """`timeLeft` announced when `connection_lifetime_s` runs out, and how long until the close."""
    go_away_close_code: int = 1011
    go_away_close_reason: str = "Deadline expired before operation could complete."
    allow_concurrent_resume: bool = False
    """Refuse (1011) to resume a session while an older connection of it is still open, like the service."""
    record_audio: bool = True
    """Keep audio payloads in recorded messages (turn off for long benchmark runs)."""

"""What the transcoder counts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from switchboard.common.runtime.metrics import LATENCY_BUCKETS

_FRAME_TIME_BUCKETS = (2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 5e-3)


class TranscoderMetrics:
    """Frames in and out, conversion time, active calls, dropped frames."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.frames_in = Counter(
            "switchboard_transcoder_frames_in_total",
            "Frames received, by direction",
            ["direction"],
            registry=registry,
        )
        self.frames_out = Counter(
            "switchboard_transcoder_frames_out_total",
            "Frames published, by direction",
            ["direction"],
            registry=registry,
        )
        self.frame_seconds = Histogram(
            "switchboard_transcoder_frame_seconds",
            "Conversion time per frame, by direction",
            ["direction"],
            buckets=_FRAME_TIME_BUCKETS,
            registry=registry,
        )
        self.dropped = Counter(
            "switchboard_transcoder_dropped_frames_total",
            "Frames dropped, by reason (cleared, stale_generation, bad_payload)",
            ["reason"],
            registry=registry,
        )
        self.active_calls = Gauge(
            "switchboard_transcoder_active_calls", "Calls attached here", registry=registry
        )
        self.detached = Counter(
            "switchboard_transcoder_calls_detached_total",
            "Calls let go (detached), by reason",
            ["reason"],
            registry=registry,
        )
        self.ingest_latency = Histogram(
            "switchboard_transcoder_ingest_age_seconds",
            "Age of a frame (since its ingest) when the transcoder received it, by direction",
            ["direction"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

"""What the media edge counts (histograms in seconds, no call id in any label)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from switchboard.common.runtime.metrics import LATENCY_BUCKETS, TURN_BUCKETS

# Fine buckets around the clear-reaction target (5 ms p99), so a benchmark can read quantiles from them.
REACTION_BUCKETS = (
    0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25,
)  # fmt: skip
LEAD_BUCKETS = (0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5, 1.0)


class EdgeMetrics:
    """Streams, frames both ways, pacing, barge-in reaction, refusals, bad input, attaching and lost components."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.active_streams = Gauge(
            "switchboard_edge_active_streams", "Twilio media streams connected here", registry=registry
        )
        self.streams = Counter(
            "switchboard_edge_streams_ended_total",
            "Media streams that ended, by how (stop, socket_closed, hangup, attach_failed, drain_deadline…)",
            ["reason"],
            registry=registry,
        )
        self.refused = Counter(
            "switchboard_edge_streams_refused_total",
            "Connections or streams refused, by reason (bad_signature, draining, bad_token, no_record…)",
            ["reason"],
            registry=registry,
        )
        self.messages = Counter(
            "switchboard_edge_twilio_messages_total",
            "Twilio messages, by direction (in: from Twilio, out: to Twilio) and event",
            ["direction", "event"],
            registry=registry,
        )
        self.frames = Counter(
            "switchboard_edge_frames_total",
            "Audio frames, by direction (in: caller audio published, out: agent audio received)",
            ["direction"],
            registry=registry,
        )
        self.dropped = Counter(
            "switchboard_edge_dropped_frames_total",
            "Audio frames dropped, by reason (cleared, stale_generation, before_setup, bus_backlog, bad_payload)",
            ["reason"],
            registry=registry,
        )
        self.chunk_gaps = Counter(
            "switchboard_edge_chunk_gaps_total",
            "Caller chunks missing from the sequence Twilio numbered (or out of order)",
            registry=registry,
        )
        self.late_frames = Counter(
            "switchboard_edge_late_frames_total",
            "Frames that came too late: in = caller chunks behind the stream clock, "
            "out = agent frames arriving after the phone ran out of audio mid-answer",
            ["direction"],
            registry=registry,
        )
        self.malformed = Counter(
            "switchboard_edge_malformed_messages_total",
            "Twilio messages skipped as malformed, by reason",
            ["reason"],
            registry=registry,
        )
        self.unsupported = Counter(
            "switchboard_edge_unsupported_commands_total",
            "Control commands this transport cannot carry out, by command",
            ["command"],
            registry=registry,
        )
        self.mark_echoes = Counter(
            "switchboard_edge_mark_echoes_total",
            "Mark echoes from Twilio, by result (played, ignored: cleared or unknown)",
            ["result"],
            registry=registry,
        )
        self.clear_reaction = Histogram(
            "switchboard_edge_clear_reaction_seconds",
            "From a ctl.clear reaching the edge to Twilio's clear written to the socket",
            buckets=REACTION_BUCKETS,
            registry=registry,
        )
        self.clear_latency = Histogram(
            "switchboard_edge_clear_latency_seconds",
            "From the agent creating a ctl.clear to Twilio's clear written (bus included)",
            buckets=REACTION_BUCKETS,
            registry=registry,
        )
        self.pacing_lead = Histogram(
            "switchboard_edge_pacing_lead_seconds",
            "Audio queued at Twilio ahead of real time, after each chunk sent",
            buckets=LEAD_BUCKETS,
            registry=registry,
        )
        self.playout_lag = Histogram(
            "switchboard_edge_playout_lag_seconds",
            "How much later than the edge's clock predicted Twilio confirmed a chunk played",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.first_audio = Histogram(
            "switchboard_edge_first_audio_seconds",
            "From the stream's start to the first agent audio sent to Twilio",
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self.attach_seconds = Histogram(
            "switchboard_edge_attach_seconds",
            "Time to attach a component to a call, by component",
            ["component"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.components_lost = Counter(
            "switchboard_edge_components_lost_total",
            "Transcoders and agents that stopped heartbeating for a call mid-call, by component",
            ["component"],
            registry=registry,
        )
        self.reattaches = Counter(
            "switchboard_edge_reattaches_total",
            "Calls attached again after a component was lost, by component and outcome (attached, failed, limit)",
            ["component", "outcome"],
            registry=registry,
        )
        # Children bound once: `labels()` costs more than the increment on the per-message paths.
        self.media_in = self.messages.labels("in", "media")
        self.marks_in = self.messages.labels("in", "mark")
        self.media_out = self.messages.labels("out", "media")
        self.recording_bytes = Counter(
            "switchboard_edge_recording_bytes_total",
            "Bytes of call recordings stored in the object store (stereo μ-law, 16 KB a second)",
            registry=registry,
        )
        self.recordings_active = Gauge(
            "switchboard_edge_recordings_in_progress", "Calls being recorded here", registry=registry
        )
        self.recording_failures = Counter(
            "switchboard_edge_recording_failures_total",
            "Recordings cut short because a chunk could not be stored, by stage (chunk, manifest)",
            ["stage"],
            registry=registry,
        )
        self.marks_out = self.messages.labels("out", "mark")
        self.frames_in = self.frames.labels("in")
        self.frames_out = self.frames.labels("out")
        self.late_in = self.late_frames.labels("in")
        self.late_out = self.late_frames.labels("out")
        self.dropped_cleared = self.dropped.labels("cleared")
        self.dropped_stale = self.dropped.labels("stale_generation")
        self.echoes_played = self.mark_echoes.labels("played")
        self.echoes_ignored = self.mark_echoes.labels("ignored")
        # Children the alerts read, at 0 from the start: increase() then sees the first event after a restart.
        # The usual ends too, so the dashboard's rate of ended streams counts the first stream of each reason.
        for reason in ("attach_failed", "stop", "hangup", "socket_closed"):
            self.streams.labels(reason)
        for stage in ("chunk", "manifest"):
            self.recording_failures.labels(stage)
        for reason in ("bus_backlog", "bus_unavailable"):
            self.dropped.labels(reason)
        for kind in ("transcoder", "agent"):
            self.components_lost.labels(kind)

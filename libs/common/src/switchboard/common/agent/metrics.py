"""What both agents count, labelled by provider."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from switchboard.common.runtime.metrics import LATENCY_BUCKETS, TURN_BUCKETS


class AgentMetrics:
    """Calls, model sessions, latencies that matter to a caller, barge-ins, tools, errors."""

    def __init__(self, registry: CollectorRegistry, provider: str) -> None:
        self.provider = provider
        p = ["provider"]
        self._active = Gauge("switchboard_agent_active_calls", "Calls attached here", p, registry=registry)
        self._calls = Counter(
            "switchboard_agent_calls_ended_total",
            "Calls that ended here, by end reason",
            [*p, "reason"],
            registry=registry,
        )
        self._resumed = Counter(
            "switchboard_agent_calls_resumed_total",
            "Calls taken over mid-way from a replica that died",
            p,
            registry=registry,
        )
        self._first_audio = Histogram(
            "switchboard_agent_time_to_first_audio_seconds",
            "Attach to the first audio of the greeting",
            p,
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self._turn_latency = Histogram(
            "switchboard_agent_turn_latency_seconds",
            "The model's end of caller speech to the first audio of its answer",
            p,
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self._clear_latency = Histogram(
            "switchboard_agent_clear_latency_seconds",
            "The model's speech-started event to ctl.clear published",
            p,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._barge_ins = Counter("switchboard_agent_barge_ins_total", "Barge-ins", p, registry=registry)
        self._tools = Counter(
            "switchboard_agent_tool_calls_total", "Tool calls, by tool", [*p, "tool"], registry=registry
        )
        self._errors = Counter(
            "switchboard_agent_model_errors_total",
            "Model errors, by code and retryability",
            [*p, "code", "retryable"],
            registry=registry,
        )
        self._reconnects = Counter(
            "switchboard_agent_model_reconnects_total", "Model reconnections", p, registry=registry
        )
        self._answers_resumed = Counter(
            "switchboard_agent_answers_resumed_total",
            "Answers cut short by a dropped model connection that the model was asked to carry on",
            p,
            registry=registry,
        )
        self._attach_refused = Counter(
            "switchboard_agent_attach_refused_total",
            "Attach requests refused (no such call, over, not live on the requesting edge, stale epoch)",
            [*p, "reason"],
            registry=registry,
        )
        self._dropped = Counter(
            "switchboard_agent_dropped_audio_total",
            "Model audio chunks not forwarded, by reason",
            [*p, "reason"],
            registry=registry,
        )

        # Children the alerts read, at 0 from the start: increase() then sees the first one after a restart.
        self._calls.labels(provider, "error")
        self._active.labels(provider).set(0)

    def answer_resumed(self) -> None:
        """Count an answer the model was asked to carry on after its connection dropped."""
        self._answers_resumed.labels(self.provider).inc()

    def attach_refused(self, reason: str) -> None:
        """Count an attach refused because the call is not live on the requesting edge, or not at its epoch."""
        self._attach_refused.labels(self.provider, reason).inc()

    def active(self, count: int) -> None:
        """Set the number of calls attached here."""
        self._active.labels(self.provider).set(count)

    def call_ended(self, reason: str) -> None:
        """Count a call by how it ended (reason families, not free text)."""
        self._calls.labels(self.provider, reason.split(":", 1)[0][:40]).inc()

    def call_resumed(self) -> None:
        """Count a call taken over mid-way (a resumed attach)."""
        self._resumed.labels(self.provider).inc()

    def first_audio(self, seconds: float) -> None:
        """Observe attach → first greeting audio."""
        self._first_audio.labels(self.provider).observe(seconds)

    def turn_latency(self, seconds: float) -> None:
        """Observe caller stopped → first answer audio."""
        self._turn_latency.labels(self.provider).observe(seconds)

    def clear_latency(self, seconds: float) -> None:
        """Observe speech started → clear published."""
        self._clear_latency.labels(self.provider).observe(seconds)

    def barge_in(self) -> None:
        """Count a barge-in."""
        self._barge_ins.labels(self.provider).inc()

    def tool_call(self, name: str) -> None:
        """Count a tool call."""
        self._tools.labels(self.provider, name[:40]).inc()

    def model_error(self, code: str, retryable: bool) -> None:
        """Count a model error."""
        self._errors.labels(self.provider, code[:40], str(retryable).lower()).inc()

    def reconnect(self) -> None:
        """Count a model reconnection."""
        self._reconnects.labels(self.provider).inc()

    def dropped_audio(self, reason: str) -> None:
        """Count model audio that was not forwarded."""
        self._dropped.labels(self.provider, reason).inc()

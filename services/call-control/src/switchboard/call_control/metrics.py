"""What call-control counts (no call id in any label)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from switchboard.common.calls.attempts import RETRYABLE_OUTCOMES
from switchboard.common.calls.record import CallStatus
from switchboard.common.runtime.metrics import TURN_BUCKETS

CALL_ATTEMPT_OUTCOMES = (
    ("outbound", "dialed"),
    ("outbound", "provider_error"),
    ("outbound", "internal_error"),
    ("inbound", "answered"),
    ("inbound", "rejected"),
)
_DELIVERY_DELAY_SECONDS = (0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
_CALL_SECONDS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)


class CallControlMetrics:
    """Calls created and ended, API and webhook traffic, Twilio API errors, live calls."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls_created = Counter(
            "switchboard_call_control_call_attempts_total",
            "Calls set up, by direction and outcome (outbound: dialed, provider_error, internal_error; inbound: answered, rejected)",
            ["direction", "outcome"],
            registry=registry,
        )
        self.calls_refused = Counter(
            "switchboard_call_control_calls_refused_total",
            "Outbound calls refused before dialing, by error code (invalid_number, country_not_allowed…)",
            ["code"],
            registry=registry,
        )
        self.calls_ended = Counter(
            "switchboard_call_control_calls_ended_total",
            "Calls that reached a final status, by status (completed, busy, no-answer, failed, canceled)",
            ["status"],
            registry=registry,
        )
        self.active_calls = Gauge(
            "switchboard_call_control_active_calls",
            "Calls created and not yet ended (each replica counts the changes it made: sum over replicas)",
            registry=registry,
        )
        self.call_duration = Histogram(
            "switchboard_call_control_call_duration_seconds",
            "Duration of answered calls, from answer to end",
            buckets=_CALL_SECONDS,
            registry=registry,
        )
        self.api_requests = Counter(
            "switchboard_call_control_api_requests_total",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.api_seconds = Histogram(
            "switchboard_call_control_api_request_seconds",
            "HTTP request handling time by route template",
            ["route"],
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self.rate_limited = Counter(
            "switchboard_call_control_rate_limited_requests_total",
            "API requests refused with 429 (rate limit)",
            registry=registry,
        )
        self.auth_failures_limited = Counter(
            "switchboard_call_control_auth_failures_limited_total",
            "API requests with a wrong or missing key refused with 429 (too many from one address)",
            registry=registry,
        )
        self.signature_failures = Counter(
            "switchboard_call_control_webhook_signature_failures_total",
            "Twilio webhooks refused for a missing or wrong X-Twilio-Signature, by webhook",
            ["webhook"],
            registry=registry,
        )
        self.webhooks_malformed = Counter(
            "switchboard_call_control_webhooks_malformed_total",
            "Signed Twilio webhooks refused with 400 for parameters out of shape or bounds, by webhook",
            ["webhook"],
            registry=registry,
        )
        self.status_callbacks = Counter(
            "switchboard_call_control_status_callbacks_total",
            "Twilio status callbacks by status and whether they changed the record (applied, stale, unknown)",
            ["status", "result"],
            registry=registry,
        )
        self.twilio_errors = Counter(
            "switchboard_call_control_twilio_api_errors_total",
            "Failed Twilio API requests by operation and Twilio error code (or network, timeout)",
            ["operation", "code"],
            registry=registry,
        )
        self.livekit_errors = Counter(
            "switchboard_call_control_livekit_api_errors_total",
            "Failed LiveKit requests and dials by operation and code (Twirp code, SIP status, edge attach)",
            ["operation", "code"],
            registry=registry,
        )
        self.twilio_seconds = Histogram(
            "switchboard_call_control_twilio_api_seconds",
            "Twilio API request time by operation",
            ["operation"],
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self.control_messages = Counter(
            "switchboard_call_control_control_messages_total",
            "Bus control messages acted on, by type and result (done, refused, failed)",
            ["type", "result"],
            registry=registry,
        )
        # Children the alerts and the dashboard read, at 0 from the start: increase() then sees the first one.
        for direction, outcome in CALL_ATTEMPT_OUTCOMES:
            self.calls_created.labels(direction, outcome)
        for status in CallStatus:
            if status.final:
                self.calls_ended.labels(status.value)
        self.webhook_deliveries = Counter(
            "switchboard_webhook_deliveries_total",
            "Result webhook delivery tries by event type and outcome (delivered, retrying, refused, exhausted)",
            ["event_type", "outcome"],
            registry=registry,
        )
        self.webhook_seconds = Histogram(
            "switchboard_webhook_request_seconds",
            "Time of one webhook request, from sending to the receiver's answer (or the failure)",
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self.webhook_delay = Histogram(
            "switchboard_webhook_delivery_delay_seconds",
            "From queueing a webhook event to its acknowledged delivery (retries included)",
            buckets=_DELIVERY_DELAY_SECONDS,
            registry=registry,
        )
        self.calls_scheduled = Counter(
            "switchboard_call_control_calls_scheduled_total",
            "Calls scheduled for later, by reason (requested: the API; retry: an unanswered attempt; call_back)",
            ["reason"],
            registry=registry,
        )
        self.scheduled_pending = Gauge(
            "switchboard_call_control_scheduled_calls_pending",
            "Scheduled calls not placed yet (the stream CALL_SCHEDULE; every replica reports the same count)",
            registry=registry,
        )
        self.scheduled_lateness = Histogram(
            "switchboard_call_control_scheduled_call_lateness_seconds",
            "How long after its time a scheduled call was placed",
            buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0),
            registry=registry,
        )
        self.attempts_exhausted = Counter(
            "switchboard_call_control_attempts_exhausted_total",
            "Chains of attempts that ended without reaching the callee, by the last outcome",
            ["outcome"],
            registry=registry,
        )
        self.voicemail = Counter(
            "switchboard_call_control_voicemail_total",
            "Outbound calls answered by a machine, by what was done (hang_up, leave_message)",
            ["action"],
            registry=registry,
        )
        for event_type in ("call.ended", "call.attempts_exhausted"):
            for outcome in ("delivered", "retrying", "refused", "exhausted"):
                self.webhook_deliveries.labels(event_type, outcome)
        for reason in ("requested", "retry", "call_back"):
            self.calls_scheduled.labels(reason)
        for outcome in RETRYABLE_OUTCOMES:
            self.attempts_exhausted.labels(outcome)
        for action in ("hang_up", "leave_message"):
            self.voicemail.labels(action)

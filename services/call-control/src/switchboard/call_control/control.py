"""Control messages for call-control: hang-ups, transfers and a LiveKit call's progress, from anyone on the bus.

`ctl.hangup` and `ctl.transfer` (an agent's tool, the edge) become provider requests; `ctl.progress` (the
edge's view of a LiveKit call's SIP status) goes into the record like a status callback.

The subscriptions share the queue group `call-control`, so exactly one replica acts on each message. Each
message is handled in its own tracked task: a slow Twilio request for one call never delays another.
"""

from __future__ import annotations

import asyncio
import logging

from nats.aio.subscription import Subscription

from switchboard.call_control.calls import COMPONENT, CallService
from switchboard.call_control.metrics import CallControlMetrics
from switchboard.call_control.status import StatusTracker
from switchboard.common.bus.messages import CallProgress, Control, ErrorOccurred, Hangup, Transfer
from switchboard.common.calls.record import CallStatus
from switchboard.common.errors import SwitchboardError

logger = logging.getLogger(__name__)

QUEUE_GROUP = "call-control"


class ControlListener:
    """Acts on hang-up and transfer requests published on the bus."""

    def __init__(self, service: CallService, tracker: StatusTracker, metrics: CallControlMetrics) -> None:
        self._service = service
        self._tracker = tracker
        self._metrics = metrics
        self._subscriptions: list[Subscription] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Join the queue group for `ctl.hangup` and `ctl.transfer` of every call."""
        bus = self._service.bus
        for name in (Hangup.type_name(), Transfer.type_name(), CallProgress.type_name()):
            self._subscriptions.append(
                await bus.subscribe_control_of_every_call(self._received, name, queue=QUEUE_GROUP)
            )

    async def stop(self) -> None:
        """Leave the queue group, then let the requests under way finish."""
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        self._subscriptions.clear()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _received(self, call_id: str, message: Control) -> None:
        task = asyncio.get_running_loop().create_task(self._act(call_id, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _act(self, call_id: str, message: Control) -> None:
        kind = message.type_name()
        try:
            if isinstance(message, Hangup):
                await self._service.hang_up(call_id, message.reason, by="bus")
            elif isinstance(message, Transfer):
                await self._service.transfer(call_id, message.to, by="bus")
            elif isinstance(message, CallProgress):
                await self._progress(call_id, message)
            else:
                return
        except SwitchboardError as error:
            self._metrics.control_messages.labels(kind, "refused").inc()
            logger.warning("%s refused: %s (%s)", kind, error.message, error.code, extra={"call_id": call_id})
            await self._report(call_id, error)
            return
        except Exception:
            self._metrics.control_messages.labels(kind, "failed").inc()
            logger.exception("%s failed", kind, extra={"call_id": call_id})
            return
        self._metrics.control_messages.labels(kind, "done").inc()

    async def _progress(self, call_id: str, message: CallProgress) -> None:
        try:
            status = CallStatus(message.status)
        except ValueError:
            self._service.bus.metrics.malformed.labels("control", "unknown_status").inc()
            logger.info(
                "ignored ctl.progress with status %r", message.status[:32], extra={"call_id": call_id}
            )
            return
        await self._tracker.apply_progress(call_id, status, message.provider_status, message.sequence)

    async def _report(self, call_id: str, error: SwitchboardError) -> None:
        """Tell the call's other components (and the timeline) why the request was not carried out."""
        if error.code in ("call_not_found", "call_ended"):
            return
        try:
            await self._service.bus.publish_event(
                call_id,
                ErrorOccurred(
                    component=COMPONENT, code=error.code, message=error.message, retryable=error.retryable
                ),
            )
        except Exception:
            logger.exception("could not publish the error", extra={"call_id": call_id})

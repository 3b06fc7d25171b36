"""One call's flow: the engine, its state kept in the call record with compare-and-set, and its events.

The replica serving a call reads the flow state from the record when it starts (a call taken over from a lost
replica carries on at the same field, confirmed fields intact) and writes every change back, guarded by the
state's `step`: if another writer moved the flow on meanwhile, its state is adopted and the model is told
where the flow is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from switchboard.common.bus.client import Bus
from switchboard.common.bus.messages import FieldCaptured
from switchboard.common.calls.record import CallRecord
from switchboard.common.calls.store import CallStore, RecordNotFound
from switchboard.common.errors import SwitchboardError
from switchboard.common.flows.engine import FlowEngine, Step, copy_state
from switchboard.common.flows.spec import FlowSpec
from switchboard.common.flows.state import FlowState

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class FlowSession:
    """The flow of one call, shared by the flow tools of its agent."""

    def __init__(
        self,
        spec: FlowSpec,
        call_id: str,
        bus: Bus,
        calls: CallStore | None,
        *,
        clock: Clock = _utc_now,
    ) -> None:
        self.spec = spec
        self.call_id = call_id
        self._bus = bus
        self._calls = calls
        self._clock = clock
        self.engine = FlowEngine(spec)
        self._lock = asyncio.Lock()
        self._persisted = calls is not None

    @property
    def state(self) -> FlowState:
        """Where the flow is now."""
        return self.engine.state

    async def load(self) -> bool:
        """Take the flow state stored in the call record, if any; True when there was one (a resumed flow)."""
        record = await self._record()
        if record is None or record.flow is None:
            return False
        self.engine = FlowEngine(self.spec, copy_state(record.flow))
        return True

    def now(self) -> datetime:
        """The call's clock."""
        return self._clock()

    async def apply(self, act: Callable[[FlowEngine], Step]) -> Step:
        """Run one step of the engine and keep its result; steps of one call run one at a time."""
        async with self._lock:
            before = copy_state(self.engine.state)
            step = act(self.engine)
            if not step.state_changed:
                return step
            self.engine.state.step = before.step + 1
            stored = await self._store(before.step)
            if stored is not None:  # another writer moved the flow on: carry on from where it is
                self.engine = FlowEngine(self.spec, stored)
                expected = self.engine.question()
                return Step(
                    say=expected.say,
                    next=expected.next,
                    error="the flow had moved on meanwhile; this is where it is now",
                    state_changed=False,
                )
            for field in step.changed:
                await self._bus.publish_event(
                    self.call_id,
                    FieldCaptured(
                        field=field.id,
                        raw=field.raw[-1] if field.raw else "",
                        value=field.value or "",
                        confirmed=field.confirmed,
                        attempts=field.attempts,
                    ),
                )
            return step

    async def _record(self) -> CallRecord | None:
        if self._calls is None:
            return None
        try:
            record, _ = await self._calls.get(self.call_id)
        except RecordNotFound:
            logger.info("no call record: the flow state is kept in this replica only")
            self._persisted = False
            return None
        return record

    async def _store(self, expected_step: int) -> FlowState | None:
        """Write the state if the stored one is still at `expected_step`; else return the stored one."""
        if self._calls is None or not self._persisted:
            return None
        state = self.engine.state
        moved: list[FlowState] = []

        def change(record: CallRecord) -> CallRecord | None:
            stored_step = record.flow.step if record.flow is not None else 0
            if stored_step != expected_step and record.flow is not None:
                moved.append(record.flow)
                return None
            record.flow = copy_state(state)
            record.captured = {f.id: f.value for f in state.fields if f.value is not None}
            if state.outcome:
                record.outcome = state.outcome
            return record

        try:
            await self._calls.update(self.call_id, change)
        except RecordNotFound:
            self._persisted = False
            logger.info("no call record: the flow state is kept in this replica only")
        except SwitchboardError as exc:
            logger.warning("the flow state could not be stored: %s", exc.message)
        return moved[0] if moved else None

"""`POST /drain`, served on the ops port (never on the port Twilio reaches), from this host only by default."""

from __future__ import annotations

from pydantic import BaseModel

from switchboard.common.runtime.ops_http import ActionHandler
from switchboard.media_edge.edge import MediaEdge

DRAIN_PATH = "/drain"


class DrainReport(BaseModel):
    """What `POST /drain` found and left."""

    drained: bool
    streams_at_start: int
    closed_at_deadline: int
    streams_left: int
    waited_s: float


def drain_action(edge: MediaEdge) -> ActionHandler:
    """Readiness off, no new streams; answers when the active streams have ended or the deadline passed."""

    async def drain() -> tuple[int, bytes]:
        result = await edge.drain()
        report = DrainReport(
            drained=result.drained,
            streams_at_start=result.streams_at_start,
            closed_at_deadline=result.closed_at_deadline,
            streams_left=result.streams_left,
            waited_s=round(result.waited_s, 3),
        )
        return 200, report.model_dump_json().encode()

    return drain

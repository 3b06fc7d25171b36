"""How an edge is given LiveKit calls: call-control asks on `svc.edge.livekit.attach`, one edge joins the room.

The request is the platform's attach request (a queue group that tracks capacity, retried on another edge when
one is full or draining); the call id names the record, the record names the room. Each call runs as a
`LiveKitSession` among the edge's served legs, so the drain waits for it like for a Twilio stream.
"""

from __future__ import annotations

import asyncio
import logging

from switchboard.common.bus import subjects
from switchboard.common.bus.attach import AttachReply, AttachRequest, AttachServer
from switchboard.media_edge.edge import MediaEdge
from switchboard.media_edge.livekit_leg import LiveKitAccess, LiveKitSession

logger = logging.getLogger(__name__)

TRANSPORT = "livekit"


class LiveKitRooms:
    """Takes LiveKit calls while the edge is not draining, up to `capacity` at once."""

    def __init__(self, edge: MediaEdge, access: LiveKitAccess, *, capacity: int) -> None:
        self._edge = edge
        self._access = access
        self._server = AttachServer(
            edge.bus,
            subjects.edge_attach(TRANSPORT),
            instance=edge.settings.instance_id,
            capacity=capacity,
            handler=self._take,
        )
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Join the queue group; a drain leaves it."""
        await self._server.start()
        self._edge.drain_hooks.append(self._server.stop)

    async def stop(self) -> None:
        """Leave the queue group, and wait for the calls still served here (the drain ends them)."""
        await self._server.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _take(self, request: AttachRequest) -> AttachReply:
        edge = self._edge
        if edge.draining:
            return AttachReply(accepted=False, reason="draining", retryable=True)
        record = await edge.calls.find(request.call_id)
        if record is None or record.transport != TRANSPORT or not record.room:
            edge.metrics.refused.labels("no_room").inc()
            return AttachReply(accepted=False, reason=f"no LiveKit room for call {request.call_id}")
        session = LiveKitSession(edge, self._access, request.call_id, record.room)
        task = asyncio.create_task(self._serve(session), name=f"livekit-{request.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return AttachReply(accepted=True)

    async def _serve(self, session: LiveKitSession) -> None:
        try:
            await self._edge.serve(session)
        except Exception:
            logger.exception("the LiveKit call failed", extra={"call_id": session.call_id})
        finally:
            await self._server.release(session.call_id)

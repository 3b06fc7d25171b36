"""Which agent of a call the edge listens to: its attach epoch, and the generations it may use.

Every agent the edge attaches to a call gets the next epoch (1 for the first), stored in the call record
before the attach request goes out; the agent puts it on every frame, clear and heartbeat. Audio and clears of
an older epoch come from an agent the edge has replaced (it may not know yet, e.g. after a bus outage) and are
dropped; the edge's own heartbeat carries the current epoch, so that agent learns it and leaves.

Generations are checked against what the edge issued: an epoch's agent numbers its answers from the
`first_generation` of its attach request, one more per answer. A frame numbered below that, or far above the
newest generation seen (a forged frame numbered 2^40 would otherwise make every later answer look stale), is
dropped, and so is a clear of a generation that cannot have been.
"""

from __future__ import annotations

from switchboard.common.bus.frames import MAX_GENERATION_STEP


class AgentFence:
    """The current agent epoch of one call, and the generations that agent may send."""

    def __init__(self, first_generation: int = 1) -> None:
        self.epoch = 1
        self.first_generation = first_generation
        self._newest = first_generation - 1

    def next_epoch(self, first_generation: int) -> int:
        """A new agent is being attached: from now on only its epoch counts, numbered from `first_generation`."""
        self.epoch += 1
        self.first_generation = first_generation
        self._newest = max(self._newest, first_generation - 1)
        return self.epoch

    def refuse(self, epoch: int, generation: int) -> str | None:
        """Why agent audio or a clear of `epoch`/`generation` must be dropped (None: it counts)."""
        if epoch != self.epoch:
            return "fenced" if epoch < self.epoch else "unknown_epoch"
        if generation < self.first_generation or generation > self._newest + MAX_GENERATION_STEP:
            return "bad_generation"
        return None

    def admit_audio(self, epoch: int, generation: int) -> str | None:
        """`refuse` for a frame; an admitted frame's generation becomes the newest seen."""
        reason = self.refuse(epoch, generation)
        if reason is None and generation > self._newest:
            self._newest = generation
        return reason

"""Only the current agent's audio and clears count, and only for generations it can have."""

import pytest

from switchboard.common.bus.frames import MAX_GENERATION_STEP
from switchboard.media_edge.fence import AgentFence

pytestmark = pytest.mark.unit


def test_the_first_agent_is_epoch_one_numbering_from_one() -> None:
    fence = AgentFence()
    assert fence.epoch == 1
    assert fence.admit_audio(1, 1) is None
    assert fence.admit_audio(1, 2) is None
    assert fence.admit_audio(0, 3) == "fenced"  # no epoch: not an agent this edge attached
    assert fence.admit_audio(2, 3) == "unknown_epoch"


def test_a_generation_far_above_the_newest_is_refused_and_moves_nothing() -> None:
    fence = AgentFence()
    assert fence.admit_audio(1, 1) is None
    assert fence.admit_audio(1, 2**40) == "bad_generation"
    assert fence.refuse(1, 2**40) == "bad_generation"  # a clear of it too
    assert fence.admit_audio(1, 1 + MAX_GENERATION_STEP) is None  # answers that only called tools
    assert fence.admit_audio(1, 2 + MAX_GENERATION_STEP) is None
    assert fence.admit_audio(1, 0) == "bad_generation"


def test_after_a_hand_over_only_the_new_epoch_counts_from_its_first_generation() -> None:
    fence = AgentFence()
    for generation in (1, 2, 3):
        assert fence.admit_audio(1, generation) is None
    assert fence.next_epoch(first_generation=4) == 2
    assert fence.admit_audio(1, 4) == "fenced"  # the replaced agent, still talking
    assert fence.refuse(1, 3) == "fenced"
    assert fence.admit_audio(2, 3) == "bad_generation"
    assert fence.admit_audio(2, 4) is None
    assert fence.refuse(2, 4) is None

import pytest

from switchboard.common.audio.agent_audio import AgentAudioGate, Verdict, verdict

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("generation", "newest", "cleared", "expected"),
    [
        (1, -1, -1, Verdict.NEW),
        (1, 1, -1, Verdict.PLAY),
        (2, 1, -1, Verdict.NEW),
        (1, 2, -1, Verdict.STALE),
        (2, 2, 2, Verdict.CLEARED),
        (1, 1, 3, Verdict.CLEARED),
        (4, 2, 3, Verdict.NEW),
    ],
)
def test_the_verdict_on_a_frame(generation: int, newest: int, cleared: int, expected: Verdict) -> None:
    assert verdict(generation, newest=newest, cleared=cleared) is expected
    assert expected.admitted is (expected in (Verdict.NEW, Verdict.PLAY))


def test_the_gate_follows_the_newest_generation_and_the_clears() -> None:
    gate = AgentAudioGate()
    assert gate.highest == -1
    assert gate.admit(1) is Verdict.NEW
    assert gate.admit(1) is Verdict.PLAY
    assert gate.clear(1)
    assert not gate.clear(1), "a repeated clear clears nothing new"
    assert gate.admit(1) is Verdict.CLEARED
    assert gate.clear(3)
    assert gate.highest == 3, "a clear of a generation never seen still counts as seen"
    assert gate.admit(2) is Verdict.CLEARED
    assert gate.admit(4) is Verdict.NEW
    assert gate.admit(3) is Verdict.CLEARED
    gate.reset()
    assert gate.admit(1) is Verdict.NEW

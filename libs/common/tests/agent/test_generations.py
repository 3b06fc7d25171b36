import pytest

from switchboard.common.agent.generations import Generations
from switchboard.common.bus.formats import AudioFormat

pytestmark = pytest.mark.unit


def test_generations_are_numbered_from_the_first_number_given() -> None:
    generations = Generations(AudioFormat.PCM24K, first=9)
    assert [generations.start(f"r{n}", 0).number for n in range(3)] == [9, 10, 11]
    assert generations.start("r0", 0).number == 9  # named again: the same generation
    assert Generations(AudioFormat.PCM24K).start("r", 0).number == 1
    with pytest.raises(ValueError):
        Generations(AudioFormat.PCM24K, first=0)

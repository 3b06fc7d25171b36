import numpy as np
import pytest

from switchboard.common.audio.measure import component, fold, headline_tone, level_db, tone, unwanted

pytestmark = pytest.mark.unit


def test_fold() -> None:
    assert fold(5000, 8000) == 3000
    assert fold(19000, 8000) == 3000
    assert fold(3000, 8000) == 3000
    assert fold(14000, 24000) == 10000


def test_where_images_and_aliases_land() -> None:
    assert unwanted(5000, 24000, 8000) == [3000]
    assert unwanted(1000, 8000, 16000) == [7000]
    assert unwanted(1000, 8000, 24000) == [7000, 9000]
    assert unwanted(1000, 16000, 8000) == []  # nothing folds anywhere but onto the tone itself
    assert unwanted(2000, 16000, 24000) == [6000, 10000]


def test_headline_tones() -> None:
    assert headline_tone(24000, 8000) == 5000
    assert headline_tone(8000, 16000) == 1000
    assert headline_tone(48000, 16000) == 10000


def test_level_of_a_tone() -> None:
    x = tone(1000, 8000, amplitude=16384)
    assert level_db(x, 8000, 1000) == pytest.approx(20 * np.log10(0.5), abs=0.01)
    assert level_db(x, 8000, 2000) < -120  # no leakage into other even frequencies


def test_phase_of_a_delayed_tone() -> None:
    x = tone(100, 8000)
    delayed = np.concatenate([np.zeros(17, np.int16), x[:-17]])
    lag = np.angle(component(x, 8000, 100) / component(delayed, 8000, 100))
    assert lag == pytest.approx(2 * np.pi * 100 * 17 / 8000, abs=1e-4)

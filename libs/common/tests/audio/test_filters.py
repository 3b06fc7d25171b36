import numpy as np
import pytest

from switchboard.common.audio._filters import PASSBAND_FRACTION, TAPS, lowpass

pytestmark = pytest.mark.unit

FILTERS = [(8000, 2), (8000, 3), (16000, 3), (24000, 2)]


@pytest.mark.parametrize(("low", "factor"), FILTERS)
def test_shape_linear_phase_unity_gain(low: int, factor: int) -> None:
    f = lowpass(low, factor)
    h = f.taps
    assert h.size == TAPS * factor + 1
    np.testing.assert_allclose(h, h[::-1], atol=1e-15)
    assert h.sum() == pytest.approx(1.0)
    # Zero on every factor-th tap from the centre but the centre: branch 0 is a single tap.
    center = h.size // 2
    others = np.r_[center % factor : h.size : factor]
    assert np.count_nonzero(h[others]) == 1
    assert f.center == h[center]
    for b in range(1, factor):
        np.testing.assert_array_equal(f.branches[b], h[b::factor][::-1].astype(np.float32))


@pytest.mark.parametrize(("low", "factor"), FILTERS)
def test_delay_is_half_the_filter(low: int, factor: int) -> None:
    assert lowpass(low, factor).delay_ms == pytest.approx(1000 * (TAPS // 2) / low)
    assert lowpass(low, factor).delay_ms <= 3.0


@pytest.mark.parametrize(("low", "factor"), FILTERS)
def test_frequency_response(low: int, factor: int) -> None:
    f = lowpass(low, factor)
    response = np.abs(np.fft.rfft(f.taps, 1 << 16))
    hz = np.fft.rfftfreq(1 << 16, 1 / f.high_rate)
    db = 20 * np.log10(np.maximum(response, 1e-12))
    assert f.passband_hz == PASSBAND_FRACTION * low / 2
    assert np.abs(db[hz <= f.passband_hz]).max() < 0.01
    assert db[hz >= f.stopband_hz].max() < -78


def test_only_the_implemented_factors() -> None:
    with pytest.raises(ValueError, match="factor"):
        lowpass(8000, 6)

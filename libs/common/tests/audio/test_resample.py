from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from switchboard.common.audio import StreamResampler
from switchboard.common.audio.measure import headline_tone, measure, measured_delay_ms, rejection_db
from switchboard.common.audio.resample import SUPPORTED_PAIRS

pytestmark = pytest.mark.unit

Reference = Callable[[npt.NDArray[np.int16], int, int], npt.NDArray[np.float64]]

PAIRS = [pair for a, b in SUPPORTED_PAIRS for pair in ((a, b), (b, a))]
# The targets, with margin: measured figures are ~80 dB worst case and ~0.001 dB of ripple.
MIN_REJECTION_DB = 75.0
MAX_RIPPLE_DB = 0.1
MAX_DELAY_MS = 3.0


def noise(rate: int, seconds: float, seed: int = 1, level: float = 6000) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, level, round(rate * seconds)), -32768, 32767).astype(np.int16)


def square(freq_hz: float, rate: int, seconds: float) -> npt.NDArray[np.int16]:
    """Full scale: the filters' overshoot on its edges goes past what int16 holds."""
    t = np.arange(round(rate * seconds)) / rate
    return np.where(np.sin(2 * np.pi * freq_hz * t) >= 0, 32767, -32768).astype(np.int16)


def in_chunks(
    resampler: StreamResampler, x: npt.NDArray[np.int16], sizes: list[int]
) -> npt.NDArray[np.int16]:
    out, i = [], 0
    for size in sizes:
        out.append(resampler.process(x[i : i + size]))
        i += size
    out.append(resampler.process(x[i:]))
    return np.concatenate(out)


def test_the_brief_s_pairs_are_supported() -> None:
    assert {frozenset(p) for p in SUPPORTED_PAIRS} == {
        frozenset(p) for p in [(8000, 16000), (8000, 24000), (16000, 48000), (24000, 48000), (16000, 24000)]
    }


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_output_is_the_textbook_resampler_rounded(src: int, dst: int, reference: Reference) -> None:
    x = noise(src, 0.25)
    y = StreamResampler(src, dst).process(x)
    expected = np.clip(np.rint(reference(x, src, dst)), -32768, 32767)
    assert y.dtype == np.int16
    assert y.shape == expected.shape == (len(x) * dst // src,)
    assert np.abs(y - expected).max() <= 1  # float32 arithmetic inside


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_chunks_of_any_size_give_the_one_shot_output(src: int, dst: int) -> None:
    x = noise(src, 0.5)
    rng = np.random.default_rng(src + dst)
    sizes = [0, 1, 2, 3, 5, 7, 160, 0, 1, *rng.integers(0, 1200, 40).tolist()]
    one_shot = StreamResampler(src, dst).process(x)
    chunked = in_chunks(StreamResampler(src, dst), x, sizes)
    np.testing.assert_array_equal(chunked, one_shot)


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_beyond_full_scale_clips_rather_than_wraps(src: int, dst: int, reference: Reference) -> None:
    x = square(500, src, 0.1)
    exact = reference(x, src, dst)
    assert exact.max() > 32767.5 and exact.min() < -32768.5  # the overshoot really is there
    y = StreamResampler(src, dst).process(x)
    assert (y[exact > 32768] == 32767).all()
    assert (y[exact < -32769] == -32768).all()


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_alias_and_image_rejection(src: int, dst: int) -> None:
    q = measure(src, dst)
    assert q.rejection_db >= MIN_REJECTION_DB
    assert q.worst_rejection_db >= MIN_REJECTION_DB


def test_the_targets_named_tones() -> None:
    # A 5 kHz tone into 24k → 8k comes out at 3 kHz, at least 70 dB (here 75) below its input level.
    assert headline_tone(24000, 8000) == 5000
    assert rejection_db(24000, 8000, 5000) >= MIN_REJECTION_DB
    # A 1 kHz tone into 8k → 16k has its image at 7 kHz, at least 70 dB (here 75) below.
    assert headline_tone(8000, 16000) == 1000
    assert rejection_db(8000, 16000, 1000) >= MIN_REJECTION_DB


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_passband_is_flat(src: int, dst: int) -> None:
    q = measure(src, dst)
    assert q.passband_hz >= (3400 if min(src, dst) == 8000 else 6800)
    assert q.ripple_db <= MAX_RIPPLE_DB


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_delay_is_as_declared_and_small(src: int, dst: int) -> None:
    resampler = StreamResampler(src, dst)
    assert 0 < resampler.delay_ms <= MAX_DELAY_MS
    assert measured_delay_ms(src, dst) == pytest.approx(resampler.delay_ms, abs=0.005)


def test_an_impulse_comes_out_after_the_delay() -> None:
    x = np.zeros(800, np.int16)
    x[100] = 20000
    y = StreamResampler(8000, 24000).process(x)
    # 2.125 ms = 17 samples at 8 kHz = 51 at 24 kHz.
    assert int(np.argmax(np.abs(y))) == 300 + 51


@pytest.mark.parametrize(("src", "dst"), [(8000, 24000), (24000, 8000), (16000, 24000)])
def test_reset_starts_afresh(src: int, dst: int) -> None:
    x = noise(src, 0.1, seed=2)
    resampler = StreamResampler(src, dst)
    resampler.process(noise(src, 0.05, seed=3)[:-1])  # mid-phase for the decimators
    resampler.reset()
    np.testing.assert_array_equal(resampler.process(x), StreamResampler(src, dst).process(x))


@pytest.mark.parametrize(
    ("src", "dst"), [(8000, 48000), (48000, 8000), (8000, 11025), (44100, 48000), (8000, 12000)]
)
def test_unsupported_pairs_are_refused(src: int, dst: int) -> None:
    with pytest.raises(ValueError, match="unsupported resampling"):
        StreamResampler(src, dst)


def test_same_rate_passes_through() -> None:
    x = noise(16000, 0.02)
    resampler = StreamResampler(16000, 16000)
    y = resampler.process(x)
    np.testing.assert_array_equal(y, x)
    assert y is not x
    assert resampler.delay_ms == 0


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_empty_input(src: int, dst: int) -> None:
    y = StreamResampler(src, dst).process(np.zeros(0, np.int16))
    assert y.dtype == np.int16
    assert y.size == 0


def test_read_only_and_strided_input() -> None:
    x = noise(24000, 0.1)
    expected = StreamResampler(24000, 8000).process(x)
    read_only = np.frombuffer(x.tobytes(), dtype="<i2")
    np.testing.assert_array_equal(StreamResampler(24000, 8000).process(read_only), expected)
    strided = np.repeat(x, 2)[::2]
    np.testing.assert_array_equal(StreamResampler(24000, 8000).process(strided), expected)


def test_the_result_is_the_caller_s() -> None:
    resampler = StreamResampler(8000, 16000)
    first = resampler.process(noise(8000, 0.02, seed=4))
    kept = first.copy()
    resampler.process(noise(8000, 0.02, seed=5))
    np.testing.assert_array_equal(first, kept)


def test_only_int16_samples() -> None:
    with pytest.raises(TypeError, match="int16"):
        StreamResampler(8000, 16000).process(np.zeros(160, np.float32))  # the wrong type on purpose

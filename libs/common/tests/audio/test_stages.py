import itertools

import numpy as np
import numpy.typing as npt
import pytest

from switchboard.common.audio import ulaw_decode, ulaw_encode
from switchboard.common.audio._stages import INITIAL_CAPACITY, Decimator, Interpolator

pytestmark = pytest.mark.unit


def noise(n: int, seed: int = 1) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, 6000, n), -32768, 32767).astype(np.int16)


@pytest.mark.parametrize("stage", [Interpolator, Decimator])
@pytest.mark.parametrize("factor", [2, 3])
def test_buffers_grow_mid_stream_without_losing_it(
    stage: type[Interpolator | Decimator], factor: int
) -> None:
    x = noise(10 * INITIAL_CAPACITY)
    one_shot = stage(8000, factor).process(x).copy()
    s = stage(8000, factor)
    sizes = [100, 3 * INITIAL_CAPACITY + 1, 7, 5 * INITIAL_CAPACITY, 50]
    bounds = np.cumsum([0, *sizes, len(x) - sum(sizes)])
    parts = [s.process(x[a:b]).copy() for a, b in itertools.pairwise(bounds)]
    np.testing.assert_array_equal(np.concatenate(parts), one_shot)


@pytest.mark.parametrize("factor", [2, 3])
def test_interpolator_bytes_follow_the_chunk_length(factor: int) -> None:
    codes = ulaw_encode(noise(3000))
    one_shot = Interpolator(8000, factor).process_ulaw(codes)
    s = Interpolator(8000, factor)
    sizes = [160, 160, 80, 160, 1, 2000, 160]
    out, i = [], 0
    for size in sizes:
        chunk = s.process_ulaw(codes[i : i + size])
        assert len(chunk) == 2 * factor * size
        out.append(chunk)
        i += size
    out.append(s.process_ulaw(codes[i:]))
    assert b"".join(out) == one_shot
    assert one_shot == Interpolator(8000, factor).process(ulaw_decode(codes)).tobytes()


@pytest.mark.parametrize("factor", [2, 3])
def test_decimator_bytes_follow_the_output_count(factor: int) -> None:
    pcm = noise(6000).tobytes()
    one_shot = Decimator(8000, factor).process_to_ulaw(pcm)
    s = Decimator(8000, factor)
    sizes = [160 * factor, 160 * factor, 1, 1, 1, 5, 160 * factor, 4000, 2]
    out, i = [], 0
    for size in sizes:
        out.append(s.process_to_ulaw(pcm[2 * i : 2 * (i + size)]))
        i += size
    out.append(s.process_to_ulaw(pcm[2 * i :]))
    assert b"".join(out) == one_shot
    assert len(one_shot) == 6000 // factor

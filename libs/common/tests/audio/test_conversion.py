import numpy as np
import pytest

from switchboard.common.audio.agent_audio import Verdict
from switchboard.common.audio.conversion import PerGeneration, conversion, supported_conversions, warm_up
from switchboard.common.bus.formats import AudioFormat

pytestmark = pytest.mark.unit


def _answer(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, 6000, round(24000 * seconds)), -32768, 32767).astype("<i2").tobytes()


def _fresh(payload: bytes) -> bytes:
    return conversion(AudioFormat.PCM24K, AudioFormat.PCMU8K).process(payload)


def test_each_generation_starts_with_a_fresh_filter_and_stragglers_are_refused() -> None:
    first, second = _answer(0.2, 1), _answer(0.3, 2)
    answers = PerGeneration(conversion(AudioFormat.PCM24K, AudioFormat.PCMU8K))
    assert answers.admit(1) is Verdict.NEW
    assert answers.process(first) == _fresh(first)
    assert answers.admit(2) is Verdict.NEW
    assert answers.process(second) == _fresh(second), "the new answer did not start from a fresh filter"
    assert answers.admit(1) is Verdict.STALE, "a straggler of an older answer would disturb the filter"
    assert answers.admit(2) is Verdict.PLAY
    assert answers.clear(2)
    assert answers.admit(2) is Verdict.CLEARED
    with pytest.raises(ValueError, match="even number of bytes"):
        answers.process(b"\x00\x01\x02")


def test_after_warm_up_a_call_compiles_nothing() -> None:
    from switchboard.common.audio import _kernels

    warm_up()
    kernels = [
        _kernels.interpolate_pcm,
        _kernels.interpolate_ulaw,
        _kernels.decimate_pcm,
        _kernels.decimate_to_ulaw,
    ]
    compiled = [len(kernel.signatures) for kernel in kernels]
    for src, dst in supported_conversions():
        answers = PerGeneration(conversion(src, dst))
        answers.admit(1)
        for ms in (20, 100, 20):
            assert len(answers.process(bytes(src.bytes_for_ms(ms)))) == dst.bytes_for_ms(ms)
    assert [len(kernel.signatures) for kernel in kernels] == compiled, "a live conversion compiled a kernel"


def test_every_conversion_of_the_platform_is_supported() -> None:
    pairs = set(supported_conversions())
    for rate in (AudioFormat.PCM16K, AudioFormat.PCM24K):
        assert {(AudioFormat.PCMU8K, rate), (rate, AudioFormat.PCMU8K)} <= pairs
    assert (AudioFormat.PCMU8K, AudioFormat.PCM48K) not in pairs
    assert all(src is not dst for src, dst in pairs)

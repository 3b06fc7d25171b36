from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from switchboard.common.audio import PcmToUlaw, StreamResampler, UlawToPcm, ulaw_decode, ulaw_encode

pytestmark = pytest.mark.unit

Reference = Callable[[npt.NDArray[np.int16], int, int], npt.NDArray[np.float64]]
RATES = [16000, 24000]


def caller_audio(seconds: float = 0.5, seed: int = 1) -> bytes:
    """μ-law at 8 kHz using every code, some of them often."""
    rng = np.random.default_rng(seed)
    return bytes(range(256)) + rng.integers(0, 256, round(8000 * seconds), dtype=np.uint8).tobytes()


def agent_audio(rate: int, seconds: float = 0.5, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0, 6000, round(rate * seconds)), -32768, 32767).astype("<i2").tobytes()


def in_chunks(process: Callable[[bytes], bytes], data: bytes, sizes: list[int]) -> bytes:
    out, i = [], 0
    for size in sizes:
        out.append(process(data[i : i + size]))
        i += size
    out.append(process(data[i:]))
    return b"".join(out)


@pytest.mark.parametrize("rate", RATES)
def test_a_caller_frame_becomes_20_ms_of_pcm(rate: int) -> None:
    pcm = UlawToPcm(rate).process(bytes(160))
    assert len(pcm) == 2 * rate // 50


@pytest.mark.parametrize("rate", RATES)
def test_20_ms_of_agent_audio_becomes_a_caller_frame(rate: int) -> None:
    assert len(PcmToUlaw(rate).process(bytes(2 * rate // 50))) == 160


@pytest.mark.parametrize("rate", RATES)
def test_caller_audio_is_decoded_then_resampled(rate: int) -> None:
    ulaw = caller_audio()
    expected = StreamResampler(8000, rate).process(ulaw_decode(ulaw))
    assert UlawToPcm(rate).process(ulaw) == expected.astype("<i2").tobytes()


@pytest.mark.parametrize("rate", RATES)
def test_agent_audio_is_resampled_then_encoded(rate: int) -> None:
    pcm = agent_audio(rate)
    expected = ulaw_encode(StreamResampler(rate, 8000).process(np.frombuffer(pcm, "<i2")))
    assert PcmToUlaw(rate).process(pcm) == expected


@pytest.mark.parametrize("rate", RATES)
def test_caller_audio_in_any_chunks(rate: int) -> None:
    ulaw = caller_audio()
    rng = np.random.default_rng(rate)
    sizes = [160, 160, 0, 1, 7, 320, *rng.integers(0, 700, 20).tolist()]
    assert in_chunks(UlawToPcm(rate).process, ulaw, sizes) == UlawToPcm(rate).process(ulaw)


@pytest.mark.parametrize("rate", RATES)
def test_agent_audio_in_any_chunks(rate: int) -> None:
    # Agent audio comes in chunks of 20 ms to 100+ ms, not always a multiple of the ratio.
    pcm = agent_audio(rate, seconds=1.0)
    rng = np.random.default_rng(rate)
    sizes = [2 * rate // 50, 2 * rate // 10, 0, 2, 4, 10, *(2 * rng.integers(0, 3000, 20)).tolist()]
    assert in_chunks(PcmToUlaw(rate).process, pcm, sizes) == PcmToUlaw(rate).process(pcm)


@pytest.mark.parametrize("rate", RATES)
def test_loud_agent_audio_saturates_rather_than_wraps(rate: int, reference: Reference) -> None:
    t = np.arange(rate // 10) / rate
    square = np.where(np.sin(2 * np.pi * 500 * t) >= 0, 32767, -32768).astype(np.int16)
    exact = reference(square, rate, 8000)
    assert exact.max() > 32767.5  # the filter's overshoot goes past full scale
    decoded = ulaw_decode(PcmToUlaw(rate).process(square.tobytes()))
    assert (decoded[exact > 32768] == 32124).all()
    assert (decoded[exact < -32769] == -32124).all()


def test_an_odd_pcm_payload_is_refused() -> None:
    with pytest.raises(ValueError, match="even"):
        PcmToUlaw(24000).process(bytes(959))
    with pytest.raises(ValueError, match="even"):
        PcmToUlaw(8000).process(bytes(1))


@pytest.mark.parametrize("rate", [8000, *RATES])
def test_empty_payloads(rate: int) -> None:
    assert UlawToPcm(rate).process(b"") == b""
    assert PcmToUlaw(rate).process(b"") == b""


def test_at_8_khz_only_the_encoding_changes() -> None:
    ulaw = caller_audio()
    assert UlawToPcm(8000).process(ulaw) == ulaw_decode(ulaw).astype("<i2").tobytes()
    pcm = agent_audio(8000)
    assert PcmToUlaw(8000).process(pcm) == ulaw_encode(np.frombuffer(pcm, "<i2"))
    assert UlawToPcm(8000).delay_ms == PcmToUlaw(8000).delay_ms == 0


@pytest.mark.parametrize("rate", RATES)
def test_delay(rate: int) -> None:
    assert UlawToPcm(rate).delay_ms == PcmToUlaw(rate).delay_ms == pytest.approx(2.125)


@pytest.mark.parametrize("rate", RATES)
def test_bytearray_and_memoryview_payloads(rate: int) -> None:
    ulaw, pcm = caller_audio(0.1), agent_audio(rate, 0.1)
    assert UlawToPcm(rate).process(bytearray(ulaw)) == UlawToPcm(rate).process(ulaw)
    assert PcmToUlaw(rate).process(memoryview(pcm)) == PcmToUlaw(rate).process(pcm)


@pytest.mark.parametrize("rate", RATES)
def test_reset_starts_afresh(rate: int) -> None:
    inbound, outbound = UlawToPcm(rate), PcmToUlaw(rate)
    inbound.process(caller_audio(0.1, seed=2))
    outbound.process(agent_audio(rate, 0.1, seed=2)[:-2])
    inbound.reset()
    outbound.reset()
    ulaw, pcm = caller_audio(0.1), agent_audio(rate, 0.1)
    assert inbound.process(ulaw) == UlawToPcm(rate).process(ulaw)
    assert outbound.process(pcm) == PcmToUlaw(rate).process(pcm)


@pytest.mark.parametrize("rate", [11025, 32000, 48000])
def test_unsupported_rates_are_refused(rate: int) -> None:
    with pytest.raises(ValueError, match="unsupported PCM rate"):
        UlawToPcm(rate)
    with pytest.raises(ValueError, match="unsupported PCM rate"):
        PcmToUlaw(rate)

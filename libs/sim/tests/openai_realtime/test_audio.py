import base64

import numpy as np
import pytest

from switchboard.sim.openai_realtime._audio import decode, encode, mulaw_encode, reply_audio
from switchboard.sim.openai_realtime.session_config import AudioFormat

pytestmark = pytest.mark.unit

PCM = AudioFormat(type="audio/pcm", rate=24000)
PCMU = AudioFormat(type="audio/pcmu")


def test_pcm16_round_trips() -> None:
    samples = np.array([0, 1, -1, 32767, -32768], dtype=np.int16)

    assert np.array_equal(decode(base64.b64encode(encode(samples, PCM)).decode(), PCM), samples)


def test_mu_law_round_trips_within_its_quantization() -> None:
    samples = (np.sin(np.linspace(0, 20, 800)) * 20000).astype(np.int16)

    decoded = decode(base64.b64encode(encode(samples, PCMU)).decode(), PCMU)

    assert decoded.size == samples.size
    error = np.abs(decoded.astype(np.int32) - samples.astype(np.int32))
    assert np.all(error <= np.abs(samples.astype(np.int32)) // 16 + 8)


def test_mu_law_codes_of_silence_and_extremes() -> None:
    assert mulaw_encode(np.array([0, 32767, -32768], dtype=np.int16)).tolist() == [0xFF, 0x80, 0x00]


def test_replies_can_be_forced_to_a_length() -> None:
    natural = reply_audio("Hello there, how are you?", PCM, language="en", engine="synthetic", length_ms=None)
    forced = reply_audio("Hello there, how are you?", PCM, language="en", engine="synthetic", length_ms=7000)
    narrowband = reply_audio("Hello", PCMU, language="en", engine="synthetic", length_ms=1000)

    assert natural.size > 0 and forced.size == 7 * 24000 and narrowband.size == 8000
    assert np.abs(forced[-24000:]).max() > 1000  # speech is looped, not padded with silence


def test_invalid_base64_is_refused() -> None:
    with pytest.raises(ValueError):
        decode("not base64!", PCM)

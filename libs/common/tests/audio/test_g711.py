from types import ModuleType

import numpy as np
import pytest

from switchboard.common.audio import ulaw_decode, ulaw_encode

pytestmark = pytest.mark.unit

EVERY_CODE = bytes(range(256))
EVERY_SAMPLE = np.arange(-32768, 32768, dtype=np.int16)


def test_every_code_decodes_as_the_reference(audioop: ModuleType) -> None:
    decoded = ulaw_decode(EVERY_CODE)
    assert decoded.dtype == np.int16
    assert decoded.tobytes() == audioop.ulaw2lin(EVERY_CODE, 2)


def test_every_sample_encodes_as_the_reference(audioop: ModuleType) -> None:
    assert ulaw_encode(EVERY_SAMPLE) == audioop.lin2ulaw(EVERY_SAMPLE.tobytes(), 2)


def test_full_scale_saturates_at_the_extreme_codes() -> None:
    codes = ulaw_encode(np.array([32767, -32768], dtype=np.int16))
    assert ulaw_decode(codes).tolist() == [32124, -32124]


def test_empty() -> None:
    assert ulaw_encode(np.zeros(0, dtype=np.int16)) == b""
    assert ulaw_decode(b"").size == 0


def test_wider_samples_are_refused_rather_than_wrapped() -> None:
    with pytest.raises(TypeError, match="int16"):
        ulaw_encode(np.array([40000], dtype=np.int32))  # the wrong type on purpose

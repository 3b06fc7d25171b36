"""Audio primitives: G.711 μ-law, streaming resampling, and the transcoder's bytes-to-bytes converters."""

from switchboard.common.audio.conversion import warm_up
from switchboard.common.audio.convert import PcmToUlaw, UlawToPcm
from switchboard.common.audio.g711 import ulaw_decode, ulaw_encode
from switchboard.common.audio.resample import StreamResampler

__all__ = ["PcmToUlaw", "StreamResampler", "UlawToPcm", "ulaw_decode", "ulaw_encode", "warm_up"]

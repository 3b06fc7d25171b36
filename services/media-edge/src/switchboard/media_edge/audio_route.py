"""Which audio formats a stream puts on the bus, and the conversions the edge runs itself.

With `transcode=inline` (the default) the edge converts a Twilio call's audio in the stream's own tasks: caller
μ-law goes on the bus already in the agent's input format, and the agent's audio is taken in its output format
and turned into μ-law here. Each 20 ms of audio then crosses NATS once per direction instead of twice, and no
transcoder is attached. With `transcode=service` the edge speaks μ-law on the bus and a transcoder replica
converts, as it does for any call whose formats the edge does not convert.
"""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.common.audio.conversion import Conversion, PerGeneration, conversion
from switchboard.common.bus.attach import AttachRequest
from switchboard.common.bus.formats import AudioFormat

#: The PCM formats the edge converts μ-law to and from itself.
INLINE_FORMATS = frozenset({AudioFormat.PCM16K, AudioFormat.PCM24K})


@dataclass(frozen=True, slots=True)
class AudioRoute:
    """The formats of a stream's bus subjects, the edge's own conversions, and whether a transcoder is needed."""

    in_format: AudioFormat
    out_format: AudioFormat
    transcoder: bool
    inbound: Conversion | None = None
    outbound: PerGeneration | None = None
    """The agent's audio to μ-law, the filter started fresh for each answer."""

    def describe(self) -> str:
        """For the log: where the audio is converted."""
        if self.inbound is None and not self.transcoder and self.in_format is not AudioFormat.PCMU8K:
            return f"in the agent's formats: in {self.in_format}, out {self.out_format}"
        if self.inbound is not None:
            return f"converted here: in pcmu8k>{self.in_format}, out {self.out_format}>pcmu8k"
        return "converted by a transcoder" if self.transcoder else "no conversion"


def audio_route(request: AttachRequest, *, inline: bool, native: bool = False) -> AudioRoute:
    """The route of a call: converted here when `inline` and the agent's formats allow, else on the bus.

    A `native` leg (LiveKit) takes and gives audio in the agent's own formats: nothing to convert.
    """
    agent_in, agent_out = request.agent_in_format, request.agent_out_format
    if native:
        return AudioRoute(agent_in, agent_out, transcoder=False)
    caller = request.caller_format
    if inline and caller is AudioFormat.PCMU8K and agent_in in INLINE_FORMATS and agent_out in INLINE_FORMATS:
        return AudioRoute(
            agent_in,
            agent_out,
            False,
            conversion(caller, agent_in),
            PerGeneration(conversion(agent_out, caller)),
        )
    return AudioRoute(caller, caller, transcoder=agent_in is not caller or agent_out is not caller)

"""The edge converting a call's audio itself: the agent's formats on the bus, no transcoder attached."""

import asyncio

import pytest

from switchboard.common.audio.conversion import conversion
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.profiles import Profile
from switchboard.media_edge.audio_route import audio_route
from switchboard.media_edge.call_setup import attach_request
from switchboard.sim.stand_in_agent import StandInAgent, StandInOptions

from .conftest import RunningEdgeFactory, seed_call, wait_for
from .test_session import Tap


def _request(provider: str) -> object:
    profile = Profile(name="p", provider=provider, model="m", instructions="i", greeting="g", voice="v")
    return attach_request("c-1", profile, "edge-1")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("provider", "agent_in", "agent_out"),
    [("openai", AudioFormat.PCM24K, AudioFormat.PCM24K), ("gemini", AudioFormat.PCM16K, AudioFormat.PCM24K)],
)
def test_inline_routes_speak_the_agents_formats_and_need_no_transcoder(
    provider: str, agent_in: AudioFormat, agent_out: AudioFormat
) -> None:
    request = _request(provider)
    inline = audio_route(request, inline=True)  # type: ignore[arg-type]
    assert (inline.in_format, inline.out_format, inline.transcoder) == (agent_in, agent_out, False)
    assert inline.inbound is not None and inline.outbound is not None
    by_service = audio_route(request, inline=False)  # type: ignore[arg-type]
    assert (by_service.in_format, by_service.out_format, by_service.transcoder) == (
        AudioFormat.PCMU8K,
        AudioFormat.PCMU8K,
        True,
    )
    assert by_service.inbound is None and by_service.outbound is None


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("provider", "agent_in"), [("openai", AudioFormat.PCM24K), ("gemini", AudioFormat.PCM16K)]
)
async def test_a_call_converted_at_the_edge_carries_both_ways_exactly_without_a_transcoder(
    client: Bus, media_edge: RunningEdgeFactory, provider: str, agent_in: AudioFormat
) -> None:
    call_id = f"inline-{provider}"
    await seed_call(client, call_id, provider=provider)
    stand_in = StandInAgent(client, StandInOptions(provider=provider, instance=f"stand-in-{provider}"))
    await stand_in.start()
    caller_tap, agent_tap = Tap(), Tap()
    await client.nc.subscribe(subjects.audio(call_id, Direction.IN, agent_in), cb=caller_tap.on_msg)
    await client.nc.subscribe(subjects.audio(call_id, Direction.OUT, AudioFormat.PCM24K), cb=agent_tap.on_msg)
    try:
        async with media_edge(transcode="inline") as running:
            call = running.phone(call_id)
            async with call:
                answer = await stand_in.wait_for_call(call_id)
                generation = await answer.speak(0.8)
                report = await answer.wait_playout(generation, timeout_s=10)
                assert report.played_ms == pytest.approx(800, abs=5)
                utterance = await call.say("one two three")
                await utterance.wait()
                await wait_for(lambda: answer.caller_frames > 50, what="caller audio at the agent")
                interrupted = await answer.speak(2.0)
                await asyncio.wait_for(call.wait_for_audio(after_s=call.elapsed_s()), 10)
                await asyncio.sleep(0.3)
                await answer.clear(interrupted)
                await answer.wait_playout(interrupted)
                await asyncio.sleep(0.2)
            await wait_for(lambda: not running.edge.sessions, what="the stream to end")
            assert running.metric("switchboard_edge_attach_seconds_count", component="transcoder") == 0
            assert running.metric("switchboard_edge_attach_seconds_count", component="agent") == 1
    finally:
        await stand_in.stop()

    sent = caller_tap.frames[call_id]
    assert [frame.seq for frame in sent] == list(range(1, len(sent) + 1)), "caller audio lost or reordered"
    assert sum(len(frame.payload) for frame in sent) == agent_in.bytes_for_ms(20) * len(sent)
    said = call.said_ulaw()
    assert b"".join(frame.payload for frame in sent) == conversion(AudioFormat.PCMU8K, agent_in).process(
        said[: len(sent) * 160]
    ), "the caller's audio is not what one μ-law→PCM stream makes of what the phone said"

    def to_ulaw(answer: bytes) -> bytes:  # one fresh PCM→μ-law stream
        return conversion(AudioFormat.PCM24K, AudioFormat.PCMU8K).process(answer)

    answers = [
        b"".join(f.payload for f in agent_tap.frames[call_id] if f.generation == g)
        for g in (generation, interrupted)
    ]
    clear = call.buffer.clears[0]
    heard = b"".join(s.audio for s in call.buffer.segments if s.generation <= clear.generation)
    first = to_ulaw(answers[0])
    assert heard[: len(first)] == first, "the first answer is not what one PCM→μ-law stream makes of it"
    cut_short = heard[len(first) :]
    assert 0 < len(cut_short) < 8 * 1900, "the clear did not cut the second answer short"
    assert to_ulaw(answers[1]).startswith(cut_short), "the second answer did not start from a fresh filter"
    after_clear = sum(len(s.audio) for s in call.buffer.segments if s.generation > clear.generation)
    assert after_clear <= 160, "the caller kept hearing the answer after the clear"

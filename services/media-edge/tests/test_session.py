import asyncio
from collections import defaultdict

import pytest
from nats.aio.msg import Msg

from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import AudioFrame, FrameCodec
from switchboard.common.bus.messages import (
    Clear,
    Control,
    DtmfReceived,
    ErrorOccurred,
    Event,
    Hangup,
    Heartbeat,
    MediaStarted,
    MediaStopped,
    SendDtmf,
)
from switchboard.sim.stand_in_agent import StandInAgent
from switchboard.transcoder.service import TranscoderService

from .conftest import RunningEdgeFactory, has_subscribers, seed_call, wait_for

pytestmark = pytest.mark.integration

CODEC = FrameCodec()


class Tap:
    """Frames seen on a subject pattern, per call."""

    def __init__(self) -> None:
        self.frames: dict[str, list[AudioFrame]] = defaultdict(list)

    async def on_msg(self, msg: Msg) -> None:
        frame = CODEC.decode(msg.data)
        self.frames[frame.call_id].append(frame)


async def events_of(client: Bus, call_id: str) -> list[Event]:
    return await client.call_history(call_id)


@pytest.mark.timeout(60)
async def test_a_call_speaks_both_ways_and_stop_leaves_nothing_running(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService, agent: StandInAgent
) -> None:
    call_id = "both-ways-1"
    await seed_call(client, call_id)
    async with media_edge() as running:
        call = running.phone(call_id)
        async with call:
            answer = await agent.wait_for_call(call_id)
            generation = await answer.speak(1.0)
            await asyncio.wait_for(call.wait_for_audio(), 10)
            utterance = await call.say("hello there, can you hear me")
            await utterance.wait()
            await wait_for(lambda: answer.caller_frames > 50, what="caller audio at the agent")
            report = await answer.wait_playout(generation, timeout_s=10)
            assert report.played_ms == pytest.approx(1000, abs=5)
            await call.dtmf("7")
            await wait_for(
                lambda: (
                    running.metric("switchboard_edge_twilio_messages_total", direction="in", event="dtmf")
                    == 1
                )
            )
        await wait_for(lambda: not running.edge.sessions, what="the stream to end")
        history = await events_of(client, call_id)
        kinds = [type(event) for event in history]
        assert kinds.index(MediaStarted) < kinds.index(DtmfReceived) < kinds.index(MediaStopped)
        assert [e.digit for e in history if isinstance(e, DtmfReceived)] == ["7"]
        assert [e.reason for e in history if isinstance(e, MediaStopped)] == ["stop"]
        for subject in (
            subjects.audio(call_id, Direction.OUT, AudioFormat.PCMU8K),
            subjects.control(call_id, "clear"),
            subjects.control(call_id, "hangup"),
        ):
            await wait_for_no_subscribers(client, subject)
        assert not [task for task in asyncio.all_tasks() if call_id in task.get_name()]
        record, _ = await running.edge.calls.get(call_id)
        assert record.stream_id == call.stream_sid and record.provider_call_id == call.call_sid


async def wait_for_no_subscribers(client: Bus, subject: str) -> None:
    for _ in range(50):
        if not await has_subscribers(client.nc, subject):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{subject} still has subscribers")


@pytest.mark.timeout(120)
async def test_fifty_concurrent_streams_carry_audio_both_ways_in_order(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService, agent: StandInAgent
) -> None:
    calls = [f"many-{index}" for index in range(50)]
    for call_id in calls:
        await seed_call(client, call_id)
    caller_tap, agent_tap = Tap(), Tap()
    await client.nc.subscribe(
        subjects.audio(subjects.ANY, Direction.IN, AudioFormat.PCMU8K), cb=caller_tap.on_msg
    )
    await client.nc.subscribe(
        subjects.audio(subjects.ANY, Direction.OUT, AudioFormat.PCMU8K), cb=agent_tap.on_msg
    )
    await client.nc.flush()  # the server has the taps before the edge publishes its first frame
    async with media_edge() as running:
        phones = [running.phone(call_id) for call_id in calls]
        await asyncio.gather(*(phone.open() for phone in phones))
        answers = await asyncio.gather(*(agent.wait_for_call(call_id) for call_id in calls))
        generations = await asyncio.gather(*(answer.speak(0.6) for answer in answers))
        utterances = await asyncio.gather(*(phone.say("one two three four") for phone in phones))
        await asyncio.gather(*(utterance.wait() for utterance in utterances))
        reports = await asyncio.gather(
            *(
                answer.wait_playout(generation, timeout_s=30)
                for answer, generation in zip(answers, generations, strict=True)
            )
        )
        assert all(report.played_ms == pytest.approx(600, abs=5) for report in reports)
        await asyncio.gather(*(phone.hang_up() for phone in phones))
        await wait_for(lambda: not running.edge.sessions, 20)
    for phone, utterance, call_id in zip(phones, utterances, calls, strict=True):
        sent = caller_tap.frames[call_id]
        assert [frame.seq for frame in sent] == list(range(1, len(sent) + 1)), (
            "caller chunks lost or reordered"
        )
        assert utterance.audio in b"".join(frame.payload for frame in sent), (
            "the caller's words did not arrive intact"
        )
        heard = b"".join(segment.audio for segment in phone.buffer.segments)
        assert heard == b"".join(frame.payload for frame in agent_tap.frames[call_id]), (
            "agent audio reordered"
        )
        assert len(heard) == 600 * 8
        assert phone.report().protocol_errors == ()


@pytest.mark.timeout(60)
async def test_a_clear_stops_the_answer_at_once_and_reports_what_the_caller_heard(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService, agent: StandInAgent
) -> None:
    await seed_call(client, "clear-1")
    async with media_edge() as running:
        async with running.phone("clear-1") as call:
            answer = await agent.wait_for_call("clear-1")
            generation = await answer.speak(2.0)  # 2 s queued at once; the edge paces it out
            await asyncio.wait_for(call.wait_for_audio(), 10)
            await asyncio.sleep(0.4)
            await answer.clear(generation)
            report = await answer.wait_playout(generation)
            await asyncio.sleep(0.3)
            segments = call.buffer.segments
            clear = call.buffer.clears[0]
            after_clear = sum(len(s.audio) for s in segments if s.generation > clear.generation)
            assert after_clear <= 160, (
                f"the caller heard {after_clear / 8:.0f} ms of the answer after the clear"
            )
            played = sum(len(s.audio) for s in segments if s.generation == clear.generation) / 8
            assert report.final and abs(report.played_ms - played) <= 40, (report.played_ms, played)
            assert 300 <= played < 1900, "the clear did not cut the answer short"
            assert clear.dropped_ms <= 200, "the edge sent far more than its lead ahead"
            await answer.speak(0.3)  # the next answer plays normally
            await asyncio.wait_for(call.wait_for_audio(after_s=call.elapsed_s()), 10)
        assert running.metric("switchboard_edge_clear_reaction_seconds_count") == 1
        assert running.metric("switchboard_edge_dropped_frames_total", reason="cleared") > 50


@pytest.mark.timeout(60)
async def test_bad_input_is_counted_and_neither_ends_the_stream_nor_touches_other_calls(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService, agent: StandInAgent
) -> None:
    await seed_call(client, "bad-input")
    await seed_call(client, "bystander")
    async with media_edge(max_payload_bytes=400) as running:
        async with running.phone("bad-input") as call, running.phone("bystander") as bystander:
            answer = await agent.wait_for_call("bad-input")
            other = await agent.wait_for_call("bystander")
            await call.send_raw("{this is not json")
            await call.send_media_payload("@@@not base64@@@")
            await call.send_event("surprise", {"what": "an event Twilio never sends"})
            await call.send_media_payload("/" * 1000)  # 750 bytes of audio: over the limit
            await call.send_raw(b"\x00\x01binary")
            await call.send_event("media", {"chunk": "1"})  # a media message without a payload
            await call.send_raw('{"event":["media"]}')
            await call.send_raw('{"event":{"media":1}}')
            await call.send_raw('{"event":"media","media":' + "[" * 1000 + "]" * 1000 + "}")

            def malformed(reason: str) -> float:
                return running.metric("switchboard_edge_malformed_messages_total", reason=reason)

            await wait_for(lambda: malformed("invalid_message") == 1, what="every bad message read")
            await wait_for(lambda: malformed("too_deep") == 1, what="the deeply nested message read")
            for reason in ("malformed_json", "bad_base64", "oversized_payload", "binary_frame"):
                assert malformed(reason) == 1, reason
            assert malformed("unknown_event") == 3
            frames_before = answer.caller_frames
            await wait_for(
                lambda: answer.caller_frames > frames_before + 10, what="caller audio after bad input"
            )
            for phone, agent_call in ((call, answer), (bystander, other)):
                await agent_call.speak(0.3)
                await asyncio.wait_for(phone.wait_for_audio(after_s=phone.elapsed_s()), 10)
            assert not call.closed and not bystander.closed
        await wait_for(lambda: not running.edge.sessions, what="both streams to end")
        assert running.metric("switchboard_edge_streams_ended_total", reason="stop") == 2


@pytest.mark.timeout(60)
async def test_hangup_closes_the_stream_and_send_dtmf_is_refused_as_unsupported(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService, agent: StandInAgent
) -> None:
    await seed_call(client, "hangup-1")
    heartbeats: list[Control] = []

    async def on_heartbeat(message: Control) -> None:
        heartbeats.append(message)

    await client.subscribe_control("hangup-1", on_heartbeat, Heartbeat.type_name())
    async with media_edge(heartbeat_interval_s=0.1) as running:
        call = running.phone("hangup-1")
        await call.open()
        await agent.wait_for_call("hangup-1")
        await wait_for(
            lambda: any(isinstance(h, Heartbeat) and h.component == "media-edge" for h in heartbeats),
            what="the edge's heartbeat for the call",
        )
        await client.publish_control("hangup-1", SendDtmf(digits="123"))
        await wait_for(
            lambda: running.metric("switchboard_edge_unsupported_commands_total", command="send_dtmf") == 1
        )
        assert not call.closed
        await client.publish_control("hangup-1", Hangup(reason="agent said goodbye"))
        await asyncio.wait_for(call.wait_closed(), 10)
        await call.hang_up()
        assert call.counters.close_code == 1000
        await wait_for(lambda: not running.edge.sessions)
        stopped = [e for e in await client.call_history("hangup-1") if isinstance(e, MediaStopped)]
        assert [e.reason for e in stopped] == ["hangup"]


@pytest.mark.timeout(60)
async def test_a_call_no_agent_can_take_reports_an_error_and_ends_cleanly(
    client: Bus, media_edge: RunningEdgeFactory, transcoder: TranscoderService
) -> None:
    await seed_call(client, "orphan-1", provider="gemini")
    async with media_edge(attach_timeout_s=0.5, attach_attempts=2) as running:
        call = running.phone("orphan-1")
        await call.open()
        await asyncio.wait_for(call.wait_closed(), 10)
        await call.hang_up()
        assert call.counters.close_code == 1011
        await wait_for(lambda: not running.edge.sessions)
        history = await client.call_history("orphan-1")
        errors = [e for e in history if isinstance(e, ErrorOccurred)]
        assert len(errors) == 1 and errors[0].component == "media-edge" and errors[0].retryable
        assert [e.reason for e in history if isinstance(e, MediaStopped)] == ["attach_failed"]
        record, _ = await running.edge.calls.get("orphan-1")
        assert record.ended_reason == "attach_failed"  # what the record ends with, not `completed`
        await wait_for(lambda: "orphan-1" not in transcoder.calls, what="the transcoder to let the call go")


@pytest.mark.timeout(60)
async def test_forged_agent_audio_and_clears_of_impossible_generations_do_not_mute_the_agent(
    client: Bus, media_edge: RunningEdgeFactory, agent: StandInAgent
) -> None:
    await seed_call(client, "forged")
    async with media_edge(transcode="inline") as running, running.phone("forged") as call:
        answer = await agent.wait_for_call("forged")
        await answer.speak(0.3)
        await asyncio.wait_for(call.wait_for_audio(), 10)
        subject = subjects.audio("forged", Direction.OUT, answer.out_format)
        forged = AudioFrame("forged", 1, 0, 0, 2**40, bytes(960), epoch=answer.request.epoch)
        await client.nc.publish(subject, CODEC.encode(forged))
        await client.publish_control("forged", Clear(generation=2**40, epoch=answer.request.epoch))
        old_epoch = AudioFrame("forged", 2, 0, 0, answer.generation + 1, bytes(960), epoch=0)
        await client.nc.publish(subject, CODEC.encode(old_epoch))

        def dropped(reason: str) -> float:
            return running.metric("switchboard_edge_dropped_frames_total", reason=reason)

        await wait_for(lambda: dropped("bad_generation") == 2, what="the forged frame and clear dropped")
        await wait_for(lambda: dropped("fenced") == 1, what="audio of no epoch dropped")
        await answer.speak(0.3)  # the real agent's next answer is heard
        await asyncio.wait_for(call.wait_for_audio(after_s=call.elapsed_s()), 10)

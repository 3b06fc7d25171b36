import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from switchboard.common.agent.call_agent import CallAgent, CallAgentOptions, CallStart
from switchboard.common.agent.capabilities import AgentCapabilities
from switchboard.common.agent.metrics import AgentMetrics
from switchboard.common.agent.model_session import HeardReport, SessionEvents, ToolCall
from switchboard.common.agent.prompts import opening_prompt
from switchboard.common.agent.tools import ToolSpec
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.formats import AudioFormat, Direction
from switchboard.common.bus.frames import AudioFrame
from switchboard.common.bus.messages import (
    BargeIn,
    Clear,
    Control,
    ErrorOccurred,
    Event,
    Hangup,
    MediaStopped,
    Playout,
    TranscriptTurn,
)
from switchboard.common.errors import ErrorCategory, SwitchboardError
from switchboard.common.profiles import Profile
from switchboard.common.runtime.metrics import BusMetrics, new_registry
from switchboard.devkit.eventually import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

CAPS = AgentCapabilities("openai", AudioFormat.PCM24K, AudioFormat.PCM24K, can_truncate=True)
PROFILE = Profile(
    name="test",
    provider="openai",
    model="gpt-realtime",
    instructions="Be brief.",
    greeting="Say hello.",
    voice="marin",
)


class ScriptedSession:
    """A model session whose events the test drives; it records what the agent asked of it."""

    def __init__(self, events: SessionEvents, profile: Profile = PROFILE) -> None:
        self.events = events
        self.profile = profile
        self.audio_in = bytearray()
        self.spoke_first = asyncio.Event()
        self.first_prompts: list[str] = []
        self.heard: list[HeardReport] = []
        self.tool_results: list[tuple[ToolCall, dict[str, Any], bool]] = []
        self.interrupted = 0
        self.closed = False
        self.fail_start: SwitchboardError | None = None

    async def start(self) -> None:
        if self.fail_start:
            raise self.fail_start

    async def speak_first(self, prompt: str) -> None:
        self.first_prompts.append(prompt)
        self.spoke_first.set()

    async def push_audio(self, pcm: bytes) -> None:
        self.audio_in += pcm

    async def interrupt(self) -> None:
        self.interrupted += 1

    async def reconcile_heard(self, report: HeardReport) -> None:
        self.heard.append(report)

    async def send_tool_result(self, call: ToolCall, result: dict[str, Any], *, respond: bool) -> None:
        self.tool_results.append((call, result, respond))

    async def aclose(self) -> None:
        self.closed = True

    async def speak(self, response_id: str, ms: int, text: str = "") -> None:
        await self.events.response_started(response_id)
        if text:
            await self.events.response_text(response_id, text)
        await self.events.response_audio(response_id, bytes(CAPS.output_format.bytes_for_ms(ms)))


class Harness:
    def __init__(
        self,
        bus: NatsClient,
        call_id: str,
        call_start: CallStart | None = None,
        *,
        agent_bus: Bus | None = None,
        history_timeout_s: float = 3.0,
    ) -> None:
        self.nc = bus
        self.bus = Bus(bus, BusMetrics(new_registry()))
        self.call_id = call_id
        self.out: list[AudioFrame] = []
        self.controls: list[tuple[int, Control]] = []
        self.events: list[Event] = []
        self.sessions: list[ScriptedSession] = []
        self.agent = CallAgent(
            agent_bus or self.bus,
            call_id,
            PROFILE,
            CAPS,
            self._factory,
            AgentMetrics(new_registry(), "openai"),
            CallAgentOptions(heard_report_wait_s=1.0, hangup_wait_s=5.0, history_timeout_s=history_timeout_s),
            call_start,
        )

    def _factory(
        self, profile: Profile, events: SessionEvents, call_id: str, tools: Sequence[ToolSpec]
    ) -> ScriptedSession:
        session = ScriptedSession(events, profile)
        self.sessions.append(session)
        return session

    @property
    def session(self) -> ScriptedSession:
        return self.sessions[0]

    async def watch(self) -> None:
        async def on_out(msg: Msg) -> None:
            self.out.append(self.bus.frames.decode(msg.data))

        async def on_control(message: Control) -> None:
            self.controls.append((len(self.out), message))

        async def on_event(event: Event) -> None:
            self.events.append(event)

        await self.nc.subscribe(subjects.audio(self.call_id, Direction.OUT, AudioFormat.PCM24K), cb=on_out)
        await self.bus.subscribe_control(self.call_id, on_control)
        await self.bus.subscribe_events(self.call_id, on_event)


async def start(bus: NatsClient, call_id: str) -> tuple[Harness, asyncio.Task[str]]:
    return await run(Harness(bus, call_id))


async def run(harness: Harness) -> tuple[Harness, asyncio.Task[str]]:
    await harness.watch()
    task = asyncio.create_task(harness.agent.run())
    await eventually(lambda: harness.sessions and harness.session.spoke_first.is_set())
    return harness, task


async def test_the_agent_greets_and_model_audio_goes_out_in_whole_20ms_steps_of_one_generation(
    bus: NatsClient,
) -> None:
    h, task = await start(bus, "ag-greet")
    assert h.session.first_prompts == [opening_prompt(PROFILE)]
    assert h.session.first_prompts[0].endswith("Speak first: Say hello.")
    assert h.session.profile == PROFILE  # a new call: the profile's own instructions
    await h.session.speak("resp-1", 105, "Hello there")  # one model delta: one frame, the 5 ms kept back
    await h.session.events.response_audio("resp-1", bytes(CAPS.output_format.bytes_for_ms(450)))
    await h.session.events.response_done("resp-1", interrupted=False)  # the rest goes out as it is
    await eventually(lambda: len(h.out) == 5)
    assert [f.generation for f in h.out] == [1] * 5
    assert [len(f.payload) for f in h.out] == [4800, 9600, 9600, 1920, 720]  # 100, 200, 200, 40, 15 ms
    assert [f.media_ms for f in h.out] == [0, 100, 300, 500, 540]
    assert [f.seq for f in h.out] == [0, 1, 2, 3, 4]
    await eventually(lambda: any(isinstance(e, TranscriptTurn) for e in h.events))
    assert [e.text for e in h.events if isinstance(e, TranscriptTurn)] == ["Hello there"]
    # caller audio reaches the model
    await h.bus.publish_frame(
        "ag-greet",
        Direction.IN,
        AudioFormat.PCM24K,
        AudioFrame("ag-greet", 0, 0, time.time_ns(), 0, b"\x01\x00" * 480),
    )
    await eventually(lambda: len(h.session.audio_in) == 960)
    await h.bus.publish_event("ag-greet", MediaStopped(reason="stop"))
    assert await asyncio.wait_for(task, 5) == "call_over:MediaStopped"
    assert h.session.closed


async def test_barge_in_clears_at_once_drops_the_rest_and_reports_what_was_heard(bus: NatsClient) -> None:
    h, task = await start(bus, "ag-barge")
    await h.session.speak("resp-1", 2000, "one two three four five six seven eight nine ten")
    await eventually(lambda: len(h.out) == 10)  # 2 s in one model delta: ten 200 ms frames
    await h.session.events.caller_speech_started()
    await eventually(lambda: any(isinstance(c, Clear) for _, c in h.controls))
    frames_before_clear, clear = next((n, c) for n, c in h.controls if isinstance(c, Clear))
    assert clear == Clear(generation=1, epoch=1, ts_ns=clear.ts_ns)
    assert h.session.interrupted == 1
    await h.session.events.response_audio("resp-1", bytes(9600))  # still streaming from the model: dropped
    await h.session.events.response_done("resp-1", interrupted=True)
    await h.bus.publish_control("ag-barge", Playout(generation=1, played_ms=800, final=True))
    await eventually(lambda: h.session.heard)
    report = h.session.heard[0]
    assert report.response_id == "resp-1" and report.played_ms == 800 and report.sent_ms == 2000
    assert report.heard_text == "one two three four"
    await eventually(lambda: any(isinstance(e, BargeIn) for e in h.events))
    assert len(h.out) == 10 == frames_before_clear
    turn = next(e for e in h.events if isinstance(e, TranscriptTurn))
    assert turn.interrupted and turn.text == "one two three four"
    # a new answer is a new generation and flows again
    await h.session.speak("resp-2", 40, "Yes?")
    await eventually(lambda: len(h.out) == 11)
    assert h.out[-1].generation == 2
    h.agent.end("test")
    await task


async def test_speech_while_nothing_plays_is_no_barge_in(bus: NatsClient) -> None:
    h, task = await start(bus, "ag-quiet")
    await h.session.speak("resp-1", 40)
    await h.session.events.response_done("resp-1", interrupted=False)
    await h.bus.publish_control("ag-quiet", Playout(generation=1, played_ms=40, final=True))
    await asyncio.sleep(0.1)
    await h.session.events.caller_speech_started()
    await asyncio.sleep(0.1)
    assert not any(isinstance(c, Clear) for _, c in h.controls)
    h.agent.end("test")
    await task


async def test_end_call_hangs_up_only_after_the_goodbye_has_played(bus: NatsClient) -> None:
    h, task = await start(bus, "ag-end")
    await h.session.speak("resp-1", 400, "Goodbye!")
    await h.session.events.tool_called(ToolCall("fc-1", "end_call", {"reason": "done"}))
    await h.session.events.response_done("resp-1", interrupted=False)
    assert h.session.tool_results[0][1]["ok"] is True and h.session.tool_results[0][2] is False
    await asyncio.sleep(0.5)
    assert not any(isinstance(c, Hangup) for _, c in h.controls)
    await h.bus.publish_control("ag-end", Playout(generation=1, played_ms=400, final=True))
    await eventually(lambda: any(isinstance(c, Hangup) for _, c in h.controls))
    hangup = next(c for _, c in h.controls if isinstance(c, Hangup))
    assert hangup.reason == "done"
    assert await asyncio.wait_for(task, 5) == "hangup:done"


async def test_end_call_from_a_silent_response_lets_the_model_say_goodbye_first(bus: NatsClient) -> None:
    h, task = await start(bus, "ag-silent-end")
    await h.session.speak("resp-1", 200, "Anything else?")
    await h.session.events.response_done("resp-1", interrupted=False)
    await h.bus.publish_control("ag-silent-end", Playout(generation=1, played_ms=200, final=True))
    await h.session.events.response_started("resp-2")  # only calls the tool
    await h.session.events.response_done("resp-2", interrupted=False)
    await h.session.events.tool_called(ToolCall("fc-1", "end_call", {"reason": "done"}, response_id="resp-2"))
    assert h.session.tool_results[0][2] is True  # the model is asked to answer: its goodbye
    await h.session.speak("resp-3", 300, "Goodbye!")
    await h.session.events.response_done("resp-3", interrupted=False)
    await asyncio.sleep(0.5)
    assert not any(isinstance(c, Hangup) for _, c in h.controls)
    await h.bus.publish_control("ag-silent-end", Playout(generation=3, played_ms=300, final=True))
    await eventually(lambda: any(isinstance(c, Hangup) for _, c in h.controls))
    assert await asyncio.wait_for(task, 5) == "hangup:done"


async def test_a_response_that_has_not_spoken_yet_does_not_hide_the_one_playing(bus: NatsClient) -> None:
    h, task = await start(bus, "ag-hidden")
    await h.session.speak("resp-1", 2000, "Let me check that for you")
    await h.session.events.response_done("resp-1", interrupted=False)
    await h.session.events.response_started("resp-2")  # the model is still thinking
    await h.session.events.caller_speech_started()
    await eventually(lambda: any(isinstance(c, Clear) for _, c in h.controls))
    assert next(c for _, c in h.controls if isinstance(c, Clear)).generation == 1
    h.agent.end("test")
    await task


async def test_unknown_tools_get_an_error_result_and_the_call_goes_on(bus: NatsClient) -> None:
    h, task = await start(bus, "ag-tool")
    await h.session.events.tool_called(ToolCall("fc-1", "launch_rockets", {}))
    assert h.session.tool_results[0][1]["ok"] is False
    assert not task.done()
    h.agent.end("test")
    await task


async def test_a_fatal_model_error_ends_the_call_with_a_reason(bus: NatsClient) -> None:
    h = Harness(bus, "ag-fatal")
    await h.watch()

    def failing(
        profile: Profile, events: SessionEvents, call_id: str, tools: Sequence[ToolSpec]
    ) -> ScriptedSession:
        session = ScriptedSession(events)
        session.fail_start = SwitchboardError(
            "bad key", category=ErrorCategory.UNAUTHORIZED, code="unauthorized"
        )
        h.sessions.append(session)
        return session

    h.agent._factory = failing
    reason = await asyncio.wait_for(h.agent.run(), 5)
    assert reason == "model_error:unauthorized"
    await eventually(lambda: any(isinstance(c, Hangup) for _, c in h.controls))
    await eventually(lambda: any(isinstance(e, ErrorOccurred) for e in h.events))
    assert h.session.closed


async def earlier_turns(bus: Bus, call_id: str) -> None:
    """What the replica that died had published of the call."""
    for turn in (
        TranscriptTurn(role="agent", text="Hello, Bright Smile Dental.", generation=1),
        TranscriptTurn(role="caller", text="I would like\na cleaning."),
        TranscriptTurn(role="agent", text="Which day", generation=2, interrupted=True),
        TranscriptTurn(role="caller", text="Tuesday morning, please."),
    ):
        await bus.publish_event(call_id, turn)


async def test_a_resumed_call_carries_on_from_the_transcript_without_greeting(bus: NatsClient) -> None:
    h = Harness(bus, "ag-resume", CallStart(resume=True, first_generation=7))
    await earlier_turns(h.bus, "ag-resume")
    await h.bus.publish_event("ag-resume-other", TranscriptTurn(role="caller", text="Another call's words."))
    h, task = await run(h)

    assert h.session.first_prompts == [opening_prompt(PROFILE, resumed=True)]
    assert "Say hello." not in h.session.first_prompts[0]  # no greeting again
    assert "apologise" in h.session.first_prompts[0]
    instructions = h.session.profile.instructions
    assert instructions.startswith(PROFILE.instructions)
    assert "handed over to you after a technical problem" in instructions
    assert instructions.endswith(
        "Agent: Hello, Bright Smile Dental.\n"
        "Caller: I would like a cleaning.\n"
        "Agent (cut off by the caller; this is all they heard): Which day\n"
        "Caller: Tuesday morning, please."
    )
    assert "Another call's words." not in instructions
    assert h.session.profile.model_copy(update={"instructions": PROFILE.instructions}) == PROFILE
    # the first response is numbered above everything the edge saw of the old replica, and so is the next
    await h.session.speak("resp-1", 40, "Sorry about that. Tuesday morning, then.")
    await h.session.events.response_done("resp-1", interrupted=False)
    await h.bus.publish_control("ag-resume", Playout(generation=7, played_ms=40, final=True))
    await h.session.speak("resp-2", 40, "Nine thirty?")
    await eventually(lambda: len(h.out) == 2)
    assert [f.generation for f in h.out] == [7, 8]
    await h.session.events.caller_speech_started()  # barge-in clears the resumed numbering, not generation 1
    await eventually(lambda: any(isinstance(c, Clear) for _, c in h.controls))
    assert next(c for _, c in h.controls if isinstance(c, Clear)).generation == 8
    await eventually(lambda: any(isinstance(e, TranscriptTurn) and e.generation == 7 for e in h.events))
    h.agent.end("test")
    await task


@pytest.mark.parametrize("failure", ["jetstream-unavailable", "too-slow"])
async def test_a_resume_whose_history_cannot_be_read_still_starts_without_a_greeting(
    bus: NatsClient, failure: str
) -> None:
    call_id = f"ag-resume-blind-{failure}"
    agent_bus = Bus(bus, BusMetrics(new_registry()))
    if failure == "jetstream-unavailable":
        agent_bus.js = bus.jetstream(prefix="$JS.UNAVAILABLE.API")  # nobody answers its API requests
    h = Harness(
        bus,
        call_id,
        CallStart(resume=True, first_generation=4),
        agent_bus=agent_bus,
        history_timeout_s=0.0 if failure == "too-slow" else 3.0,
    )
    await earlier_turns(h.bus, call_id)
    h, task = await run(h)

    assert h.session.first_prompts == [opening_prompt(PROFILE, resumed=True)]
    instructions = h.session.profile.instructions
    assert instructions.startswith(PROFILE.instructions)
    assert "The conversation so far is not available" in instructions
    assert "Tuesday morning" not in instructions
    await h.session.speak("resp-1", 40, "Sorry about that.")
    await eventually(lambda: len(h.out) == 1)
    assert h.out[0].generation == 4
    assert not task.done() and not any(isinstance(c, Hangup) for _, c in h.controls)  # the caller stays
    h.agent.end("test")
    assert await task == "test"


async def test_on_an_answering_machine_the_agent_leaves_the_message_then_hangs_up(bus: NatsClient) -> None:
    from switchboard.common.bus.connection import ensure_jetstream
    from switchboard.common.calls.record import CallRecord, CallStatus
    from switchboard.common.calls.store import CallStore
    from switchboard.common.profiles import VoicemailSpec

    js = bus.jetstream()
    await ensure_jetstream(js)
    store = CallStore(await js.key_value(subjects.CALLS_BUCKET), js)
    await store.create(
        CallRecord(
            call_id="ag-vm",
            direction="outbound",
            to_number="+14155550123",
            from_number="+12025550100",
            profile="test",
            status=CallStatus.IN_PROGRESS,
            answered_by="machine_end_beep",
        )
    )
    profile = PROFILE.model_copy(
        update={"voicemail": VoicemailSpec(action="leave_message", message="Call us back at 555 0100.")}
    )
    harness = Harness(bus, "ag-vm")
    harness.agent = CallAgent(
        harness.bus,
        "ag-vm",
        profile,
        CAPS,
        harness._factory,
        AgentMetrics(new_registry(), "openai"),
        CallAgentOptions(heard_report_wait_s=1.0, hangup_wait_s=5.0),
        calls=store,
    )
    h, task = await run(harness)
    assert "answering machine" in h.session.first_prompts[0]
    assert "«Call us back at 555 0100.»" in h.session.first_prompts[0]
    await h.bus.publish_frame(  # the machine's own sounds never reach the model
        "ag-vm",
        Direction.IN,
        AudioFormat.PCM24K,
        AudioFrame("ag-vm", 0, 0, time.time_ns(), 0, b"\x01\x00" * 480),
    )
    await h.session.speak("resp-1", 300, "Call us back at 555 0100.")
    await h.session.events.response_done("resp-1", interrupted=False)
    await asyncio.sleep(0.4)
    assert not any(isinstance(c, Hangup) for _, c in h.controls)  # still playing
    await h.bus.publish_control("ag-vm", Playout(generation=1, played_ms=300, final=True))
    await eventually(lambda: any(isinstance(c, Hangup) for _, c in h.controls))
    assert next(c for _, c in h.controls if isinstance(c, Hangup)).reason == "voicemail_left"
    assert await asyncio.wait_for(task, 5) == "voicemail_left"
    assert not h.session.audio_in

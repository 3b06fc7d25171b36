"""One call's agent, provider-agnostic: bus wiring, generations, barge-in, playout, transcripts and tools."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

from switchboard.common.agent.builtin_tools import built_in_tools
from switchboard.common.agent.capabilities import AgentCapabilities
from switchboard.common.agent.generations import Generation, Generations
from switchboard.common.agent.metrics import AgentMetrics
from switchboard.common.agent.model_session import HeardReport, ModelSession, SessionEvents, ToolCall
from switchboard.common.agent.prompts import (
    TRANSCRIPT_MAX_CHARS,
    continue_prompt,
    conversation_so_far,
    flow_profile,
    handover_profile,
    opening_prompt,
    voicemail_prompt,
)
from switchboard.common.agent.tools import ToolContext, ToolOutcome, ToolRegistry, ToolSpec
from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.bus.formats import Direction
from switchboard.common.bus.frames import AudioFrame
from switchboard.common.bus.messages import (
    MEDIA_EDGE_COMPONENT,
    BargeIn,
    CallEnded,
    Clear,
    Control,
    ErrorOccurred,
    Event,
    Hangup,
    Heartbeat,
    MediaStopped,
    Playout,
    SendDtmf,
    ToolCalled,
    TranscriptTurn,
    Transfer,
    agent_component,
)
from switchboard.common.calls.store import CallStore
from switchboard.common.errors import SwitchboardError
from switchboard.common.flows.session import FlowSession
from switchboard.common.flows.tools import flow_tools
from switchboard.common.profiles import Profile
from switchboard.common.runtime.logs import bind_call

logger = logging.getLogger(__name__)

VOICEMAIL_START_S = 15.0
"""How long the model may take to start the voicemail message before the call is ended without it."""

SessionFactory = Callable[[Profile, SessionEvents, str, Sequence[ToolSpec]], ModelSession]
"""Makes a call's model session: its profile, who hears its events, the call id, the tools it offers."""


@dataclass(frozen=True, slots=True)
class CallAgentOptions:
    """Tunables of a call agent."""

    out_frame_ms: int = 20
    out_frame_max_ms: int = 200
    heard_report_wait_s: float = 2.0
    hangup_wait_s: float = 20.0
    history_timeout_s: float = 3.0
    """How long a resumed call waits for its history before going on without it."""
    transcript_max_chars: int = TRANSCRIPT_MAX_CHARS
    edge_timeout_s: float = 10.0
    """An edge not heard from this long (while this agent's bus was up) is gone: the agent leaves the call."""


@dataclass(frozen=True, slots=True)
class CallStart:
    """How the agent's part in a call begins: a new call, or one taken over from a replica that died."""

    resume: bool = False
    """Carry on the conversation from the stored transcript; no greeting."""
    first_generation: int = 1
    """The number of the agent's first response (after a resume: above every generation the edge has seen)."""
    epoch: int = 1
    """The attach epoch (`AttachRequest.epoch`) on every frame, clear and heartbeat; a newer one fences this agent."""


_CUT_SETTLE_STEPS = 10
_CUT_SETTLE_STEP_S = 0.03


def _always_up() -> float | None:
    return float("-inf")


class CallAgent(SessionEvents):
    """Runs one call: caller audio to the model, model audio to the caller, and everything in between.

    Agent audio is published as it comes from the model, in frames of whole `out_frame_ms` steps up to
    `out_frame_max_ms` (the edge paces it to real time anyway, so a model's 100 ms delta is one bus message, not
    five), each response its own generation. When the caller
    speaks over a generation, `ctl.clear` goes out before anything else, the rest of that generation is dropped,
    and once the edge reports how much of it was played the model is told (truncated, or told in text).

    A call taken over from a replica that died (`CallStart.resume`) starts its model session with the
    conversation so far in the instructions, and opens with an apology instead of the greeting.
    """

    def __init__(
        self,
        bus: Bus,
        call_id: str,
        profile: Profile,
        capabilities: AgentCapabilities,
        session_factory: SessionFactory,
        metrics: AgentMetrics,
        options: CallAgentOptions | None = None,
        call_start: CallStart | None = None,
        *,
        tools: ToolRegistry | None = None,
        calls: CallStore | None = None,
        link: Callable[[], float | None] = _always_up,
    ) -> None:
        self.call_id = call_id
        self.profile = profile
        self.call_start = call_start or CallStart()
        self.epoch = self.call_start.epoch
        self.fenced = False
        self._link = link
        self._edge_heard = time.monotonic()
        self._bus = bus
        self._caps = capabilities
        self._factory = session_factory
        self._metrics = metrics
        self._options = options or CallAgentOptions()
        self._tools = tools or ToolRegistry([*built_in_tools(), *flow_tools()])
        self._calls = calls
        self.tool_context = ToolContext(call_id, profile)
        self.generations = Generations(capabilities.output_format, self.call_start.first_generation)
        self._frame_bytes = capabilities.output_format.bytes_for_ms(self._options.out_frame_ms)
        steps = max(1, self._options.out_frame_max_ms // self._options.out_frame_ms)
        self._max_frame_bytes = self._frame_bytes * steps
        self._remainders: dict[int, bytes] = {}
        self._final_playout: dict[int, asyncio.Event] = {}
        self._subscriptions: list[Subscription] = []
        self._session: ModelSession | None = None
        self._ended = asyncio.Event()
        self.end_reason = ""
        self._attached_ns = time.monotonic_ns()
        self._caller_stopped_ns = 0
        self._tasks: asyncio.TaskGroup | None = None
        self._helpers: set[asyncio.Task[None]] = set()
        self._out_subject = subjects.audio(call_id, Direction.OUT, capabilities.output_format)
        self._voicemail = False

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def run(self) -> str:
        """Serve the call until it ends; returns why it ended."""
        bind_call(self.call_id)
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                await self._subscribe()
                resumed = self.call_start.resume
                flow_question = await self._start_flow()
                profile = await self._handover_profile() if resumed else self.profile
                profile = flow_profile(profile)
                self._session = self._factory(profile, self, self.call_id, self._tools.specs_for(profile))
                try:
                    await self._session.start()
                    message = "" if resumed else await self._voicemail_message()
                    if message:  # an answering machine: the message, then hang up; it hears nothing
                        self._voicemail = True
                        opening = voicemail_prompt(message)
                        self._spawn(self._hang_up_after_the_message())
                    else:
                        opening = opening_prompt(self.profile, resumed=resumed, flow_question=flow_question)
                    await self._session.speak_first(opening)
                except SwitchboardError as exc:
                    await self.session_error(exc)
                if not self._ended.is_set():
                    watch = tasks.create_task(self._watch_edge())
                    try:
                        await asyncio.wait_for(self._ended.wait(), self.profile.max_duration_s)
                    except TimeoutError:
                        await self._hang_up("max_duration")
                    watch.cancel()
                for task in list(self._helpers):  # still waiting on a playout that will not come now
                    task.cancel()
        finally:
            self._tasks = None
            await self._close()
        return self.end_reason

    def adopt(self, epoch: int, first_generation: int) -> None:
        """The edge attached this call here again (it took this replica for lost): carry on at `epoch`.

        The model session goes on; answers are numbered from `first_generation` on.
        """
        if epoch > self.epoch:
            logger.info("carrying on at agent epoch %d (was %d)", epoch, self.epoch)
            self.epoch = epoch
            self.generations.number_from(first_generation)

    def fence(self, epoch: int) -> None:
        """The edge serves the call with a newer agent: leave without a word (no turns, no hang-up)."""
        if not self.fenced and epoch > self.epoch:
            logger.warning(
                "replaced by the agent of epoch %d (this one is %d): leaving the call", epoch, self.epoch
            )
            self.fenced = True
            self.end("fenced")

    async def _on_heartbeat(self, message: Control) -> None:
        if isinstance(message, Heartbeat) and message.component == MEDIA_EDGE_COMPONENT:
            self._edge_heard = time.monotonic()
            self.fence(message.epoch)

    async def _watch_edge(self) -> None:
        """Leave the call once its edge has been silent for `edge_timeout_s` while this agent's bus was up."""
        timeout_s = self._options.edge_timeout_s
        while not self._ended.is_set():
            await asyncio.sleep(min(1.0, timeout_s / 4))
            up_since = self._link()
            if up_since is None:
                continue
            silent_s = time.monotonic() - max(self._edge_heard, up_since)
            if silent_s >= timeout_s:
                logger.warning("the media edge has been silent for %.1f s: leaving the call", silent_s)
                self.end("edge_silent")

    def end(self, reason: str) -> None:
        """End the agent's part in the call (the call itself ends through `ctl.hangup` or the phone)."""
        if not self._ended.is_set():
            self.end_reason = reason
            self._ended.set()

    async def _subscribe(self) -> None:
        bus, call_id = self._bus, self.call_id
        in_subject = subjects.audio(call_id, Direction.IN, self._caps.input_format)
        hop = bus.metrics.hop_latency.labels("agent_in")
        decode = bus.frames.decode

        async def on_caller_audio(msg: Msg) -> None:
            try:
                frame = decode(msg.data)
            except SwitchboardError as exc:
                bus.metrics.malformed.labels("audio", exc.code).inc()
                return
            hop.observe(max(0, time.time_ns() - frame.ingest_ns) / 1e9)
            if self._session is not None and not self._voicemail:
                await self._session.push_audio(frame.payload)

        self._subscriptions.append(await bus.nc.subscribe(in_subject, cb=on_caller_audio))
        self._subscriptions.append(
            await bus.subscribe_control(call_id, self._on_playout, Playout.type_name())
        )
        self._subscriptions.append(
            await bus.subscribe_control(call_id, self._on_heartbeat, Heartbeat.type_name())
        )
        for name in (MediaStopped.type_name(), CallEnded.type_name()):
            self._subscriptions.append(await bus.subscribe_events(call_id, self._on_call_over, name))

    async def _start_flow(self) -> str:
        """Set up the call's flow, if its profile has one; returns its current question when it was resumed."""
        if self.profile.flow is None:
            return ""
        flow = FlowSession(self.profile.flow, self.call_id, self._bus, self._calls)
        self.tool_context.flow = flow
        loaded = await flow.load()  # a resumed call's flow, or the confirmed fields a call-back starts from
        resumed = self.call_start.resume and loaded
        if resumed:
            logger.info("resuming the flow at %s", flow.state.phase)
            return flow.engine.question().say
        return ""

    async def _handover_profile(self) -> Profile:
        """The profile with the conversation so far in its instructions (told it is missing if unreadable).

        The caller is on the line waiting: a history that cannot be read in `history_timeout_s` is given up on.
        """
        timeout_s = self._options.history_timeout_s
        conversation: str | None = None
        try:
            async with asyncio.timeout(timeout_s):
                history = await self._bus.call_history(self.call_id, timeout_s=timeout_s)
        except TimeoutError:
            logger.warning(
                "resuming without the conversation so far: its history took over %.1f s", timeout_s
            )
        except NatsError as exc:
            logger.warning("resuming without the conversation so far: its history could not be read: %r", exc)
        else:
            conversation = conversation_so_far(history, max_chars=self._options.transcript_max_chars)
            logger.info("resuming with %d characters of the conversation so far", len(conversation))
        return handover_profile(self.profile, conversation)

    async def _close(self) -> None:
        for sub in self._subscriptions:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subscriptions.clear()
        if not self.fenced:  # a replaced agent's turns are not the call's
            for generation in self.generations.all():
                await self._publish_agent_turn(generation)
        if self._session is not None:
            try:
                await self._session.aclose()
            except Exception:
                logger.exception("closing the model session failed")

    async def _on_call_over(self, event: Event) -> None:
        self.end(f"call_over:{type(event).__name__}")

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        """Run `coro` in the call's task group (it is cancelled when the call ends)."""
        if self._tasks is None or self._ended.is_set():
            coro.close()
            return
        task = self._tasks.create_task(coro)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    # --- SessionEvents: responses ----------------------------------------------------------------------

    async def response_started(self, response_id: str) -> None:
        """A new generation."""
        self.generations.start(response_id, time.monotonic_ns())

    async def response_audio(self, response_id: str, pcm: bytes) -> None:
        """Forward model audio as frames of the response's generation, unless it was cleared."""
        generation = self.generations.by_response(response_id) or self.generations.start(
            response_id, time.monotonic_ns()
        )
        if generation.cleared:
            self._metrics.dropped_audio("cleared")
            return
        if not generation.first_audio_ns:
            generation.first_audio_ns = time.monotonic_ns()
            self._observe_first_audio(generation)
        data = self._remainders.pop(generation.number, b"") + pcm
        full = len(data) - len(data) % self._frame_bytes
        size = self._max_frame_bytes
        for offset in range(0, full, size):
            await self._publish_audio(generation, data[offset : min(offset + size, full)])
        if full < len(data):
            self._remainders[generation.number] = data[full:]

    async def _publish_audio(self, generation: Generation, payload: bytes) -> None:
        frame = AudioFrame(
            self.call_id,
            generation.seq,
            int(generation.sent_ms),
            time.time_ns(),
            generation.number,
            payload,
            epoch=self.epoch,
        )
        generation.seq += 1
        generation.sent_ms += self._caps.output_format.duration_ms(len(payload))
        await self._bus.nc.publish(self._out_subject, self._bus.frames.encode(frame))

    def _observe_first_audio(self, generation: Generation) -> None:
        if generation.number == self.generations.first:
            if not self.call_start.resume:  # the greeting's
                self._metrics.first_audio((generation.first_audio_ns - self._attached_ns) / 1e9)
        elif self._caller_stopped_ns:
            self._metrics.turn_latency((generation.first_audio_ns - self._caller_stopped_ns) / 1e9)
            self._caller_stopped_ns = 0

    async def response_text(self, response_id: str, delta: str) -> None:
        """Collect the transcript of a response."""
        generation = self.generations.by_response(response_id) or self.generations.start(
            response_id, time.monotonic_ns()
        )
        generation.text.append(delta)

    async def response_done(self, response_id: str, *, interrupted: bool) -> None:
        """Flush the last partial frame; publish the transcript unless a barge-in report is awaited."""
        generation = self.generations.by_response(response_id)
        if generation is None:
            return
        generation.done = True
        generation.cut_short = interrupted and not generation.cleared
        rest = self._remainders.pop(generation.number, b"")
        if rest and not generation.cleared:
            await self._publish_audio(generation, rest)
        if not generation.cleared:
            await self._publish_agent_turn(generation)

    # --- SessionEvents: the caller ---------------------------------------------------------------------

    async def caller_speech_started(self) -> None:
        """Barge-in: clear the generation the caller may be hearing, first thing."""
        received = time.perf_counter_ns()
        generation = self.generations.playing()
        if generation is None:
            return
        generation.cleared = True
        self._remainders.pop(generation.number, None)
        await self._bus.publish_control(self.call_id, Clear(generation=generation.number, epoch=self.epoch))
        self._metrics.clear_latency((time.perf_counter_ns() - received) / 1e9)
        self._metrics.barge_in()
        self._final_playout.setdefault(generation.number, asyncio.Event())
        self._spawn(self._after_barge_in(generation))
        if self._session is not None:
            await self._session.interrupt()

    async def caller_speech_stopped(self) -> None:
        """Start the clock of the turn latency."""
        self._caller_stopped_ns = time.monotonic_ns()

    async def caller_transcript(self, text: str) -> None:
        """Record what the caller said."""
        if text.strip() and not self.fenced:
            await self._bus.publish_event(self.call_id, TranscriptTurn(role="caller", text=text.strip()))

    # --- playout and barge-in --------------------------------------------------------------------------

    async def _on_playout(self, message: Control) -> None:
        if not isinstance(message, Playout):
            return
        generation = self.generations.by_number(message.generation)
        if generation is None:
            return
        generation.played_ms = max(generation.played_ms, message.played_ms)
        if message.final:
            generation.playout_final = True
            self._final_playout.setdefault(generation.number, asyncio.Event()).set()

    async def _after_barge_in(self, generation: Generation) -> None:
        """Wait for the edge's final playout of a cleared generation, then reconcile the model and the record."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self._final_playout[generation.number].wait(), self._options.heard_report_wait_s
            )
        played = int(min(generation.played_ms, generation.sent_ms))
        generation.played_ms = played
        await self._bus.publish_event(self.call_id, BargeIn(generation=generation.number, played_ms=played))
        if self._session is not None and not generation.reconciled:
            generation.reconciled = True
            report = HeardReport(
                response_id=generation.response_id,
                played_ms=played,
                sent_ms=int(generation.sent_ms),
                heard_text=generation.heard_text(),
                full_text=generation.full_text,
            )
            try:
                await self._session.reconcile_heard(report)
            except SwitchboardError as exc:
                await self.session_error(exc)
        await self._publish_agent_turn(generation)

    async def _publish_agent_turn(self, generation: Generation) -> None:
        if generation.transcript_published or not generation.full_text or self.fenced:
            return
        generation.transcript_published = True
        text = generation.heard_text() if generation.cleared else generation.full_text
        turn = TranscriptTurn(
            role="agent", text=text, generation=generation.number, interrupted=generation.cleared
        )
        try:  # the message id makes a retry of a turn that was stored after all a no-op
            await self._bus.publish_event(
                self.call_id, turn, msg_id=f"{self.call_id}:turn:{generation.number}"
            )
        except (NatsError, TimeoutError) as exc:  # NATS away: tried again when the call ends here
            generation.transcript_published = False
            logger.warning("agent turn %d not stored yet: %r", generation.number, exc)

    # --- tools -----------------------------------------------------------------------------------------

    async def tool_called(self, call: ToolCall) -> None:
        """Run a tool of the registry, tell the model, and act on the call."""
        outcome = await self._tools.run(call, self.tool_context)
        self._metrics.tool_call(call.name)
        await self._bus.publish_event(
            self.call_id,
            ToolCalled(
                name=call.name,
                arguments=call.arguments,
                result=outcome.result,
                error=str(outcome.result.get("error", "")),
            ),
        )
        if self._session is not None:
            respond = outcome.respond or self._left_without_a_word(call, outcome)
            await self._session.send_tool_result(call, outcome.result, respond=respond)
        if outcome.dtmf:
            await self._bus.publish_control(self.call_id, SendDtmf(digits=outcome.dtmf))
        if outcome.transfer_to:
            self._spawn(self._after_playout(Transfer(to=outcome.transfer_to)))
        elif outcome.hangup_reason:
            self._spawn(self._after_playout(Hangup(reason=outcome.hangup_reason)))

    def _left_without_a_word(self, call: ToolCall, outcome: ToolOutcome) -> bool:
        """The model ended or transferred the call in a response that said nothing: let it say goodbye first.

        Models often call the tool alone instead of speaking in the same response; the caller would hear the
        line go dead. Only known when the provider names the response of the call.
        """
        if (outcome.hangup_reason is None and outcome.transfer_to is None) or not call.response_id:
            return False
        generation = self.generations.by_response(call.response_id)
        return generation is not None and generation.sent_ms == 0

    async def _after_playout(self, message: Hangup | Transfer) -> None:
        """Let the goodbye play out (including a response that has not started speaking yet), then act."""
        await self._played_out(within_s=self._options.hangup_wait_s)
        await self._bus.publish_control(self.call_id, message)
        if isinstance(message, Hangup):
            self.end(f"hangup:{message.reason}")

    async def _voicemail_message(self) -> str:
        """The profile's voicemail message when an answering machine took this call and one is to be left."""
        voicemail = self.profile.voicemail
        if voicemail is None or voicemail.action != "leave_message" or self._calls is None:
            return ""
        record = await self._calls.find(self.call_id)
        if record is None or not (record.answered_by.startswith("machine") or record.answered_by == "fax"):
            return ""
        return voicemail.message

    async def _hang_up_after_the_message(self) -> None:
        """Once the message has been spoken and played out to the machine, end the call."""
        deadline = time.monotonic() + VOICEMAIL_START_S
        while not self.generations.all() and time.monotonic() < deadline:  # noqa: ASYNC110  # polled like the goodbye
            await asyncio.sleep(0.05)
        await self._played_out(within_s=self.profile.max_duration_s)
        await self._hang_up("voicemail_left")

    async def _played_out(self, *, within_s: float) -> None:
        """Wait (at most `within_s`) until every response has played out and 0.3 s went by with nothing playing."""
        deadline = time.monotonic() + within_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            busy = any(not g.cleared and not g.fully_played() for g in self.generations.all())
            now = time.monotonic()
            if busy:
                quiet_since = now
            elif now - quiet_since >= 0.3:
                break
            await asyncio.sleep(0.05)

    async def _hang_up(self, reason: str) -> None:
        await self._bus.publish_control(self.call_id, Hangup(reason=reason))
        self.end(reason)

    # --- session health --------------------------------------------------------------------------------

    async def session_error(self, error: SwitchboardError) -> None:
        """Record the error; a non-retryable one ends the call with a reason."""
        self._metrics.model_error(error.code, error.retryable)
        logger.warning("model error %s (retryable=%s): %s", error.code, error.retryable, error.message)
        await self._bus.publish_event(
            self.call_id,
            ErrorOccurred(
                component=agent_component(self._caps.provider),
                code=error.code,
                message=error.message[:500],
                retryable=error.retryable,
            ),
        )
        if not error.retryable:
            await self._hang_up(f"model_error:{error.code}")

    async def session_reconnected(self) -> None:
        """Count it; if the drop cut an answer short, have the model carry it on (no dead air)."""
        self._metrics.reconnect()
        logger.info("model session reconnected")
        cut = self.generations.latest
        if cut is not None and not cut.cleared and (not cut.done or cut.cut_short):
            self._spawn(self._carry_on(cut))

    async def _carry_on(self, cut: Generation) -> None:
        """The answer `cut` was under way when the model's connection dropped: ask for the rest of it.

        Waits a moment for the provider to close the interrupted response (its end may arrive after the
        reconnection); an answer that ended normally, or one the caller spoke over, needs nothing.
        """
        for _ in range(_CUT_SETTLE_STEPS):
            if cut.done:
                break
            await asyncio.sleep(_CUT_SETTLE_STEP_S)
        if cut.cleared or (cut.done and not cut.cut_short) or self.generations.latest is not cut:
            return
        cut.cut_short = False
        logger.info("the model connection dropped during answer %d: asking for the rest of it", cut.number)
        self._metrics.answer_resumed()
        if self._session is not None:
            try:
                await self._session.speak_first(continue_prompt(cut.heard_text()))
            except SwitchboardError as exc:
                await self.session_error(exc)

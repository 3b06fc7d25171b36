"""Which FFI events reach a LiveKit room or microphone stream: its own, not every call's.

livekit `rtc` (1.1) hands each event of its native side to every subscriber whose filter accepts it, one event
loop callback per subscriber. Its filters are by kind only: every `AudioStream` accepts every call's audio
frames (and drops the others' after waking up), and every `Room` accepts every call's `capture_frame`
callback. With N calls on one loop each frame costs N wake-ups, so the edge's CPU per call grew with the number
of calls. These functions narrow the two subscriptions, in place under the queue's lock so no event is lost:
a stream keeps its own frames, a room everything but media and capture callbacks (which only `capture_frame`
waits for, on a subscription of its own).
"""

from __future__ import annotations

from collections.abc import Callable

from livekit import rtc
from livekit.rtc._ffi_client import FfiClient
from livekit.rtc._proto import ffi_pb2

#: Events a room never uses: media frames (their streams take them) and `capture_frame` callbacks.
NOT_FOR_ROOMS = frozenset({"audio_stream_event", "video_stream_event", "capture_audio_frame"})


class SubscriptionNotFound(RuntimeError):
    """The SDK no longer keeps its subscriptions as this module expects (a livekit upgrade changed them)."""

    retryable = False


def _refilter(queue: object, accept: Callable[[ffi_pb2.FfiEvent], bool]) -> None:
    """Give `queue`'s subscription the filter `accept`."""
    ffi_queue = FfiClient.instance.queue
    with ffi_queue._lock:
        subscribers = ffi_queue._subscribers
        for index, (subscribed, loop, _) in enumerate(subscribers):
            if subscribed is queue:
                subscribers[index] = (subscribed, loop, accept)
                return
    raise SubscriptionNotFound("the livekit FFI queue has no such subscription")


def own_frames_only(stream: rtc.AudioStream) -> None:
    """`stream` is woken only by its own frames (and its end), not by every call's."""
    handle = stream._ffi_handle.handle

    def accept(event: ffi_pb2.FfiEvent) -> bool:
        return event.audio_stream_event.stream_handle == handle

    _refilter(stream._ffi_queue, accept)


def room_events_only(room: rtc.Room) -> None:
    """`room` (connected) is not woken by media frames nor by `capture_frame` callbacks."""

    def accept(event: ffi_pb2.FfiEvent) -> bool:
        return event.WhichOneof("message") not in NOT_FOR_ROOMS

    _refilter(room._ffi_queue, accept)

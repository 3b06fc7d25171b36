"""A call's LiveKit room and microphone stream are woken by their own FFI events, not by every call's."""

import asyncio
from types import SimpleNamespace
from typing import cast

import pytest
from livekit import rtc
from livekit.rtc._ffi_client import FfiClient
from livekit.rtc._proto import ffi_pb2

from switchboard.media_edge.livekit_events import SubscriptionNotFound, own_frames_only, room_events_only

pytestmark = pytest.mark.unit


def frame_of(stream_handle: int) -> ffi_pb2.FfiEvent:
    event = ffi_pb2.FfiEvent()
    event.audio_stream_event.stream_handle = stream_handle
    event.audio_stream_event.eos.SetInParent()
    return event


def capture_callback(async_id: int) -> ffi_pb2.FfiEvent:
    event = ffi_pb2.FfiEvent()
    event.capture_audio_frame.async_id = async_id
    return event


def room_event(room_handle: int) -> ffi_pb2.FfiEvent:
    event = ffi_pb2.FfiEvent()
    event.room_event.room_handle = room_handle
    event.room_event.eos.SetInParent()
    return event


async def delivered(queue: asyncio.Queue[ffi_pb2.FfiEvent]) -> list[ffi_pb2.FfiEvent]:
    await asyncio.sleep(0.01)  # the queue is fed by loop callbacks
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


async def test_a_microphone_stream_receives_its_own_frames_only() -> None:
    ffi = FfiClient.instance.queue
    # subscribed as the SDK's AudioStream subscribes: every call's frames
    queue = ffi.subscribe(
        asyncio.get_running_loop(), filter_fn=lambda e: e.WhichOneof("message") == "audio_stream_event"
    )
    try:
        stream = SimpleNamespace(_ffi_queue=queue, _ffi_handle=SimpleNamespace(handle=7))
        own_frames_only(cast(rtc.AudioStream, stream))
        for event in (frame_of(5), frame_of(7), capture_callback(1), room_event(3), frame_of(9), frame_of(7)):
            ffi.put(event)
        got = await delivered(queue)
    finally:
        ffi.unsubscribe(queue)
    assert [event.audio_stream_event.stream_handle for event in got] == [7, 7]


async def test_a_room_receives_neither_media_frames_nor_capture_callbacks() -> None:
    ffi = FfiClient.instance.queue
    queue = ffi.subscribe(asyncio.get_running_loop())
    try:
        room_events_only(cast(rtc.Room, SimpleNamespace(_ffi_queue=queue)))
        for event in (frame_of(5), capture_callback(1), room_event(3), capture_callback(2), room_event(4)):
            ffi.put(event)
        got = await delivered(queue)
    finally:
        ffi.unsubscribe(queue)
    assert [event.room_event.room_handle for event in got] == [3, 4]


async def test_a_subscription_the_sdk_does_not_hold_is_an_error() -> None:
    stream = SimpleNamespace(_ffi_queue=asyncio.Queue(), _ffi_handle=SimpleNamespace(handle=7))
    with pytest.raises(SubscriptionNotFound):
        own_frames_only(cast(rtc.AudioStream, stream))

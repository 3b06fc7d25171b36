import pytest

from switchboard.common.bus import subjects
from switchboard.common.bus.client import Bus
from switchboard.common.calls.record import CallStatus
from switchboard.common.calls.store import CallStore
from switchboard.common.profiles import ProfileStore
from switchboard.common.security.stream_token import stream_token
from switchboard.media_edge.call_setup import (
    Refusal,
    attach_request,
    call_id_from,
    claim_call,
)
from switchboard.media_edge.leg import LegIds

from .conftest import seed_call

SECRET = "a-secret"


@pytest.mark.unit
def test_the_stream_token_must_be_the_calls() -> None:
    assert call_id_from({"call_id": "c-1", "token": stream_token(SECRET, "c-1")}, SECRET) == "c-1"
    for parameters in (
        {},
        {"call_id": "c-1"},
        {"call_id": "c-1", "token": stream_token(SECRET, "c-2")},
        {"call_id": "c-1", "token": stream_token("another secret", "c-1")},
        {"call_id": "c.*", "token": stream_token(SECRET, "c.*")},  # not a subject token
    ):
        with pytest.raises(Refusal) as refused:
            call_id_from(parameters, SECRET)
        assert refused.value.reason == "bad_token"


@pytest.mark.unit
def test_the_attach_request_carries_the_providers_formats() -> None:
    from switchboard.common.profiles import Profile

    profile = Profile(name="p", provider="gemini", model="m", instructions="i", greeting="g", voice="v")
    request = attach_request("c-1", profile, "edge-1")
    assert (request.caller_format, request.agent_in_format, request.agent_out_format) == (
        "pcmu8k",
        "pcm16k",
        "pcm24k",
    )
    assert request.profile == "p" and request.requester == "edge-1"


@pytest.mark.integration
@pytest.mark.timeout(30)
async def test_claiming_a_call_writes_the_stream_ids_and_refuses_a_second_stream(client: Bus) -> None:
    calls = CallStore(await client.js.key_value(subjects.CALLS_BUCKET))
    profiles = ProfileStore(await client.js.key_value(subjects.PROFILES_BUCKET))
    await seed_call(client, "claim-1")
    record, profile = await claim_call(
        calls, profiles, "claim-1", LegIds("MZ1", "CA1"), edge_instance="edge-1"
    )
    assert (record.stream_id, record.provider_call_id, profile.provider) == ("MZ1", "CA1", "openai")
    again, _ = await claim_call(
        calls, profiles, "claim-1", LegIds("MZ1", "CA1"), edge_instance="edge-1"
    )  # idempotent
    assert again.stream_id == "MZ1"
    with pytest.raises(Refusal, match="stream_exists"):
        await claim_call(calls, profiles, "claim-1", LegIds("MZ2", "CA1"), edge_instance="edge-1")


@pytest.mark.integration
@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("reason", "fields"),
    [
        ("call_over", {"status": CallStatus.COMPLETED}),
        ("call_sid_mismatch", {"provider_call_id": "CA-other"}),
        ("wrong_transport", {"transport": "livekit"}),
        ("no_profile", {"profile": "nobody"}),
    ],
)
async def test_a_call_the_stream_cannot_belong_to_is_refused(
    client: Bus, reason: str, fields: dict[str, object]
) -> None:
    call_id = f"refuse-{reason}"
    await seed_call(client, call_id, **fields)
    calls = CallStore(await client.js.key_value(subjects.CALLS_BUCKET))
    profiles = ProfileStore(await client.js.key_value(subjects.PROFILES_BUCKET))
    with pytest.raises(Refusal) as refused:
        await claim_call(calls, profiles, call_id, LegIds("MZ1", "CA1"), edge_instance="edge-1")
    assert refused.value.reason == reason
    unchanged, _ = await calls.get(call_id)
    assert unchanged.stream_id == ""

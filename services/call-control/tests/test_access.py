import pytest

from switchboard.call_control.access import ApiKeys, RateLimiter, presented_key

pytestmark = pytest.mark.unit


def test_keys_identify_their_client_and_nothing_else() -> None:
    keys = ApiKeys(["first-key-0123456789", "second-key-0123456789"])
    first, second = keys.identify("first-key-0123456789"), keys.identify("second-key-0123456789")
    assert first is not None and second is not None and first != second
    assert "first-key" not in first.id
    assert keys.identify("first-key-012345678") is None
    assert keys.identify("") is None and keys.identify(None) is None


def test_the_key_comes_from_a_bearer_token_or_x_api_key() -> None:
    assert presented_key([(b"authorization", b"Bearer abc")]) == "abc"
    assert presented_key([(b"x-api-key", b"abc")]) == "abc"
    assert presented_key([(b"authorization", b"Basic abc")]) is None


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    limiter = RateLimiter(per_s=2.0, burst=3)
    assert [limiter.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", now=0.0) == pytest.approx(0.5)
    assert limiter.take("b", now=0.0) == 0.0  # each client has its own bucket
    assert limiter.take("a", now=0.5) == 0.0
    assert limiter.take("a", now=0.5) == pytest.approx(0.5)
    assert limiter.take("a", now=100.0) == 0.0  # refills up to the burst only
    assert [limiter.take("a", now=100.0) for _ in range(3)][-1] > 0

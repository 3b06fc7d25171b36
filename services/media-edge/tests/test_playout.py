import pytest

from switchboard.media_edge.playout import PlayoutLedger, SentChunk

pytestmark = pytest.mark.unit


def chunk(mark: str, generation: int, start: int, end: int, sent_at: float) -> SentChunk:
    return SentChunk(mark, generation, start, end, b"\xff" * (end - start), sent_at)


def test_an_echo_confirms_its_chunk_and_every_one_before() -> None:
    ledger = PlayoutLedger()
    ledger.sent(chunk("a", 1, 0, 800, 0.0), 0.0)
    ledger.sent(chunk("b", 1, 800, 1600, 0.0), 0.0)
    ledger.sent(chunk("c", 1, 1600, 2400, 0.0), 0.0)
    assert ledger.lead(0.0) == pytest.approx(0.3)
    assert ledger.echoed("b", 0.2) is not None
    assert ledger.confirmed(1) == 1600
    assert ledger.pending_count == 1
    assert ledger.lead(0.2) == pytest.approx(0.1)  # re-anchored on the echo
    assert ledger.echoed("a", 0.3) is None  # already confirmed


def test_the_playhead_is_interpolated_between_echoes_but_never_beyond_what_was_sent() -> None:
    ledger = PlayoutLedger()
    ledger.sent(chunk("a", 1, 0, 160, 0.0), 0.0)
    ledger.sent(chunk("b", 1, 160, 320, 0.0), 0.0)
    assert ledger.played(1, 0.010) == 80
    ledger.echoed("a", 0.021)
    assert ledger.played(1, 0.021) == 160
    assert ledger.played(1, 0.031) == 240
    assert ledger.played(1, 5.0) == 320


def test_audio_sent_after_an_underrun_plays_from_when_it_was_sent() -> None:
    ledger = PlayoutLedger()
    ledger.sent(chunk("a", 1, 0, 160, 0.0), 0.0)
    ledger.echoed("a", 0.02)
    ledger.sent(chunk("b", 1, 160, 320, 1.0), 1.0)
    assert ledger.played(1, 0.5) == 160
    assert ledger.played(1, 1.01) == 240


def test_a_clear_leaves_nothing_to_confirm_and_hands_back_newer_generations() -> None:
    ledger = PlayoutLedger()
    ledger.sent(chunk("a", 1, 0, 160, 0.0), 0.0)
    ledger.sent(chunk("b", 1, 160, 320, 0.0), 0.0)
    ledger.sent(chunk("c", 2, 0, 160, 0.0), 0.0)
    assert ledger.has_pending_upto(1)
    resend = ledger.clear(1, 0.01)
    assert [c.mark for c in resend] == ["c"]
    assert ledger.echoed("a", 0.011) is None  # Twilio echoes pending marks on clear: not played
    assert ledger.confirmed(1) == 0
    assert ledger.lead(0.01) == 0.0

"""CardTestingWindow (webhooks.card_testing): InMemoryCardTestingWindow and RedisCardTestingWindow on
the machine's Redis, one suite.

record() adds attempts to their minute's counters and cards; with `read` it returns the window ending
now (the current minute and the nine before it for 600 s): attempts, declines, small declines, the
declines per code and the distinct cards over all its minutes. Attempts older than the window are
left out. Each call that sends something is one round trip; a call with nothing to send sends nothing.
"""

from __future__ import annotations

from platform_monitoring.webhooks.card_testing import CardTestingWindow, WindowCounts

from tests.contract.harness import RACERS, race
from tests.support.card_testing import declined, rule_thresholds, succeeded
from tests.support.clock import T0

T = rule_thresholds()


def read(window: CardTestingWindow, now: float) -> WindowCounts:
    counts = window.record([], now, T, read=True)
    assert counts is not None
    return counts


def test_an_empty_window_counts_nothing(card_testing_window: CardTestingWindow) -> None:
    assert read(card_testing_window, T0) == WindowCounts(0, 0, 0, 0, {})


def test_attempts_declines_codes_and_small_amounts_add_up(card_testing_window: CardTestingWindow) -> None:
    batch = succeeded(5) + declined(3, code="incorrect_cvc", amount=50) + declined(2, code="do_not_honor", start=10)
    counts = card_testing_window.record(batch, T0, T, read=True)
    assert counts == WindowCounts(10, 5, 5, 3, {"incorrect_cvc": 3, "do_not_honor": 2})


def test_distinct_cards_are_counted_across_the_windows_minutes(card_testing_window: CardTestingWindow) -> None:
    for minute in range(5):  # the same two cards every minute, plus one new card each minute
        at = T0 + minute * 60
        card_testing_window.record(
            declined(2, at=at, cards=2) + declined(1, at=at, start=100 + minute), at, T, read=False
        )
    counts = read(card_testing_window, T0 + 240)
    assert (counts.declines, counts.distinct_cards) == (15, 7)


def test_minutes_leave_the_window_as_it_moves(card_testing_window: CardTestingWindow) -> None:
    card_testing_window.record(declined(4, at=T0), T0, T, read=False)
    card_testing_window.record(declined(3, at=T0 + 300, start=50), T0 + 300, T, read=False)
    assert read(card_testing_window, T0 + 599).declines == 7  # T0's minute is still the window's first
    later = read(card_testing_window, T0 + 600)
    assert (later.declines, later.distinct_cards) == (3, 3)


def test_attempts_older_than_the_window_are_left_out(card_testing_window: CardTestingWindow) -> None:
    counts = card_testing_window.record(declined(6, at=T0 - 3600) + declined(1, at=T0, start=9), T0, T, read=True)
    assert counts is not None and (counts.attempts, counts.declines) == (1, 1)


def test_each_call_that_sends_is_one_round_trip(card_testing_window: CardTestingWindow) -> None:
    trips = card_testing_window.round_trips  # type: ignore[attr-defined]
    assert card_testing_window.record([], T0, T, read=False) is None
    assert card_testing_window.round_trips == trips  # type: ignore[attr-defined]
    card_testing_window.record(declined(10) + succeeded(10), T0, T, read=True)
    assert card_testing_window.round_trips == trips + 1  # type: ignore[attr-defined]


def test_concurrent_batches_give_exact_totals(card_testing_window: CardTestingWindow) -> None:
    race(RACERS, lambda index: card_testing_window.record(declined(5, start=index * 5), T0, T, read=False))
    counts = read(card_testing_window, T0)
    assert (counts.declines, counts.distinct_cards) == (5 * RACERS, 5 * RACERS)

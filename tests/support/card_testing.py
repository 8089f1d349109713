"""A stand-in for the card-testing window (webhooks/card_testing.py) and payment attempts for tests.

InMemoryCardTestingWindow keeps RedisCardTestingWindow's minute buckets and their expiry; its distinct
cards are exact where Redis's HyperLogLog estimates (exact at these sizes: tests/contract compares).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence

from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.webhooks.card_testing import (
    CARD_TESTING,
    PaymentAttempt,
    Thresholds,
    WindowCounts,
    _by_minute,
    card_key,
    window_buckets,
)

from tests.support.clock import T0


def rule_thresholds() -> Thresholds:
    """The shipped card_testing_suspected rule's thresholds."""
    rule = RuleSet.load()[CARD_TESTING]
    return Thresholds.of(rule.window_seconds, rule.params)


class InMemoryCardTestingWindow:
    def __init__(self) -> None:
        self.counts: dict[int, Counter[str]] = {}
        self.cards: dict[int, set[str]] = {}
        self.round_trips = 0
        self._lock = threading.Lock()

    def record(
        self, attempts: Sequence[PaymentAttempt], now: float, thresholds: Thresholds, *, read: bool
    ) -> WindowCounts | None:
        buckets = window_buckets(now, thresholds.window_seconds)
        with self._lock:
            writes = _by_minute(attempts, thresholds, buckets.start)
            if not writes and not read:
                return None
            self.round_trips += 1
            for minute, fields, cards in writes:
                self.counts.setdefault(minute, Counter()).update(fields)
                self.cards.setdefault(minute, set()).update(cards)
            if not read:
                return None
            total: Counter[str] = Counter()
            distinct: set[str] = set()
            for minute in buckets:
                total.update(self.counts.get(minute, Counter()))
                distinct |= self.cards.get(minute, set())
        codes = {name.removeprefix("code:"): n for name, n in total.items() if name.startswith("code:")}
        return WindowCounts(total["attempts"], total["declines"], len(distinct), total["small"], codes)


def declined(
    n: int, *, at: float = T0, code: str = "card_declined", cards: int | None = None, amount: int = 2500, start: int = 0
) -> list[PaymentAttempt]:
    """n declines at `at`, on `cards` distinct cards (default: each its own), numbered from `start`."""
    return [PaymentAttempt(False, at, code, card_key(f"fp_{start + i % (cards or n)}"), amount) for i in range(n)]


def succeeded(n: int, *, at: float = T0, amount: int = 2500) -> list[PaymentAttempt]:
    return [PaymentAttempt(True, at, amount=amount) for _ in range(n)]

"""Card testing: someone checks stolen card numbers against the checkout with many small attempts.

From the payment attempts the webhook processor already sees (payment_intent.succeeded,
payment_intent.payment_failed, and charge.failed for charges made without a PaymentIntent),
the detector counts a sliding window (the rule's `window_seconds`, 10 minutes by default) and
raises `card_testing_suspected` (critical) when any of Stripe's documented patterns holds
(https://docs.stripe.com/disputes/prevention/card-testing), thresholds from the rule's params:

- distinct_cards: at least `min_declines` declines across at least `min_distinct_cards`
  distinct card fingerprints (one fraudster, many cards; a customer retrying is one card);
- decline_ratio: at least `min_attempts` attempts, of which a share of declines at least
  `ratio_factor` times the `baseline_decline_ratio` (an ordinary bad day declines 5-15%);
- testing_codes: at least `min_testing_declines` declines for incorrect_cvc, incorrect_number,
  card_velocity_exceeded and their kin (`testing_codes`): guessing, not insufficient funds;
- small_amounts: at least `min_declines` declines of which `small_amount_share` or more were
  for at most `small_amount_cents` (testers probe with $0.50-$1 payments).

The window lives in Redis (the metric store's server), in one-minute buckets that expire by
themselves: a hash of counters per minute (attempts, declines, small declines, per decline code)
and a HyperLogLog of the card fingerprints per minute; the window's distinct cards is one
PFCOUNT over its minutes' HyperLogLogs (Redis merges them; 12 KB at most per minute, a 0.81%
error that is exact at the sizes that matter here, and no fingerprint list to read back). One
batch of events is one pipelined round trip (the writes, then the window's reads), sent only
when the batch holds a payment attempt. DynamoDB (the alert windows) would cost a write per
attempt and could not count distinct cards without reading every item back.

Fingerprints are hashed before they leave the process and never appear in the alert: its
context holds counts, the top decline codes and the small-amount share only.

An attempt is counted once: it is fed only for an event this invocation processed (not for a
duplicate delivery). A failed evaluation (Redis down) is logged and counted, never fails the
events; the next batch evaluates the same window again. The alert is a count rule of threshold
1: each batch the pattern holds in is an occurrence, throttled into one notification, resolved
by the scheduled checks once the window holds no occurrence any more.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from platform_monitoring.core.interfaces import Alerting
from platform_monitoring.observability.logging import monitoring_log, stripe_log
from platform_monitoring.observability.metrics import metrics, recorder

if TYPE_CHECKING:
    import redis

CARD_TESTING = "card_testing_suspected"
BUCKET_SECONDS = 60
KEY_PREFIX = "{askproai}:ct"  # the metric store's hash tag: one Redis Cluster slot
TOP_CODES = 3


@dataclass(frozen=True)
class PaymentAttempt:
    """One payment attempt as the detector sees it (no card data beyond a hashed fingerprint)."""

    succeeded: bool
    created: float  # Stripe's `created`, epoch seconds
    decline_code: str = ""
    card: str | None = None  # a hash of the card fingerprint
    amount: int | None = None  # minor units


def card_key(fingerprint: Any) -> str | None:
    """A card fingerprint as the window stores it: a short hash, not Stripe's value."""
    if not isinstance(fingerprint, str) or not fingerprint:
        return None
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Thresholds:
    """The card_testing_suspected rule's window and params (alert_rules.json is their one source)."""

    window_seconds: int
    min_declines: int
    min_distinct_cards: int
    min_attempts: int
    baseline_decline_ratio: float
    ratio_factor: float
    testing_codes: frozenset[str]
    min_testing_declines: int
    small_amount_cents: int
    small_amount_share: float

    @classmethod
    def of(cls, window_seconds: int, params: Mapping[str, Any]) -> Thresholds:
        """From the card_testing_suspected rule's window and params (wired in wiring/, as the
        webhooks package does not read alerting's rules). A missing param is a ValueError naming it."""
        missing = [name for name in _PARAMS if name not in params]
        if missing:
            raise ValueError(f"{CARD_TESTING}: params {', '.join(missing)} missing (alert_rules.json)")
        p = params
        return cls(
            window_seconds=window_seconds,
            min_declines=int(p["min_declines"]),
            min_distinct_cards=int(p["min_distinct_cards"]),
            min_attempts=int(p["min_attempts"]),
            baseline_decline_ratio=float(p["baseline_decline_ratio"]),
            ratio_factor=float(p["ratio_factor"]),
            testing_codes=frozenset(p["testing_codes"]),
            min_testing_declines=int(p["min_testing_declines"]),
            small_amount_cents=int(p["small_amount_cents"]),
            small_amount_share=float(p["small_amount_share"]),
        )


_PARAMS = tuple(name for name in Thresholds.__dataclass_fields__ if name != "window_seconds")


@dataclass(frozen=True)
class WindowCounts:
    attempts: int = 0
    declines: int = 0
    distinct_cards: int = 0
    small_declines: int = 0
    codes: Mapping[str, int] | None = None

    @property
    def decline_ratio(self) -> float:
        return self.declines / self.attempts if self.attempts else 0.0

    def signals(self, t: Thresholds) -> list[str]:
        """The card-testing patterns that hold in this window."""
        codes = self.codes or {}
        held = []
        if self.declines >= t.min_declines and self.distinct_cards >= t.min_distinct_cards:
            held.append("distinct_cards")
        ratio_limit = min(1.0, t.baseline_decline_ratio * t.ratio_factor)
        if self.attempts >= t.min_attempts and self.decline_ratio >= ratio_limit:
            held.append("decline_ratio")
        if sum(count for code, count in codes.items() if code in t.testing_codes) >= t.min_testing_declines:
            held.append("testing_codes")
        if self.declines >= t.min_declines and self.small_declines >= math.ceil(t.small_amount_share * self.declines):
            held.append("small_amounts")
        return held

    def evidence(self, signals: Sequence[str]) -> dict[str, Any]:
        codes = Counter(self.codes or {})
        return {
            "signals": "+".join(signals),
            "attempts": self.attempts,
            "declines": self.declines,
            "decline_ratio": f"{self.decline_ratio * 100:.0f}%",
            "distinct_cards": self.distinct_cards,
            "top_decline_codes": ", ".join(f"{code} {count}" for code, count in codes.most_common(TOP_CODES)),
            "small_amount_share": f"{self.small_declines / self.declines * 100:.0f}%" if self.declines else "0%",
        }


class CardTestingWindow(Protocol):
    def record(
        self, attempts: Sequence[PaymentAttempt], now: float, thresholds: Thresholds, *, read: bool
    ) -> WindowCounts | None:
        """Add the attempts to their minutes; with `read`, return the window ending at `now`."""
        ...


def _bucket(at: float) -> int:
    return int(at // BUCKET_SECONDS)


def window_buckets(now: float, window_seconds: int) -> range:
    """The minutes the window ending at `now` reads: the current one and those before it, as many
    as the window has whole minutes (so a 600 s window counts between 9 and 10 minutes back)."""
    last = _bucket(now)
    size = max(1, window_seconds // BUCKET_SECONDS)
    return range(last - size + 1, last + 1)


class RedisCardTestingWindow:
    """The window in Redis (see the module docstring). `round_trips` counts pipelines sent."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.round_trips = 0

    def record(
        self, attempts: Sequence[PaymentAttempt], now: float, thresholds: Thresholds, *, read: bool
    ) -> WindowCounts | None:
        buckets = window_buckets(now, thresholds.window_seconds)
        ttl = thresholds.window_seconds + 2 * BUCKET_SECONDS
        pipeline = self.client.pipeline(transaction=False)
        for minute, fields, cards in _by_minute(attempts, thresholds, buckets.start):
            counts = f"{KEY_PREFIX}:n:{minute}"
            for name, value in fields.items():
                pipeline.hincrby(counts, name, value)
            pipeline.expire(counts, ttl)
            if cards:
                hll = f"{KEY_PREFIX}:c:{minute}"
                pipeline.pfadd(hll, *sorted(cards))
                pipeline.expire(hll, ttl)
        writes = len(pipeline)
        if read:
            for minute in buckets:
                pipeline.hgetall(f"{KEY_PREFIX}:n:{minute}")
            pipeline.pfcount(*(f"{KEY_PREFIX}:c:{minute}" for minute in buckets))
        if not len(pipeline):
            return None
        self.round_trips += 1
        replies = pipeline.execute()[writes:]
        if not read:
            return None
        return _counts(replies[:-1], int(replies[-1]))


def _by_minute(
    attempts: Sequence[PaymentAttempt], t: Thresholds, first_minute: int
) -> list[tuple[int, Counter[str], set[str]]]:
    """The attempts' counter increments and cards per minute; attempts older than the window are
    left out (a declined payment recovered hours later by reconciliation is no burst now)."""
    minutes: dict[int, tuple[Counter[str], set[str]]] = {}
    for attempt in attempts:
        minute = _bucket(attempt.created)
        if minute < first_minute:
            continue
        fields, cards = minutes.setdefault(minute, (Counter(), set()))
        fields["attempts"] += 1
        if attempt.succeeded:
            continue
        fields["declines"] += 1
        fields[f"code:{attempt.decline_code or 'unknown'}"] += 1
        if attempt.amount is not None and attempt.amount <= t.small_amount_cents:
            fields["small"] += 1
        if attempt.card:
            cards.add(attempt.card)
    return [(minute, fields, cards) for minute, (fields, cards) in sorted(minutes.items())]


def _counts(hashes: Sequence[Mapping[Any, Any]], distinct: int) -> WindowCounts:
    total: Counter[str] = Counter()
    for values in hashes:
        for name, value in values.items():
            total[name.decode() if isinstance(name, bytes) else str(name)] += int(value)
    codes = {name.removeprefix("code:"): count for name, count in total.items() if name.startswith("code:")}
    return WindowCounts(total["attempts"], total["declines"], distinct, total["small"], codes)


class CardTestingDetector:
    """Feeds a batch's attempts to the window and raises card_testing_suspected while a pattern holds."""

    def __init__(
        self,
        window: CardTestingWindow,
        thresholds: Thresholds,
        alerts: Alerting,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window = window
        self.thresholds = thresholds
        self.alerts = alerts
        self.clock = clock

    def observe(self, attempts: Sequence[PaymentAttempt]) -> list[str]:
        """The patterns that held (each raised as one occurrence); never raises."""
        if not attempts:
            return []
        declined = any(not attempt.succeeded for attempt in attempts)
        try:
            # Only a batch with a decline can start a burst: a batch of successes is counted, not read.
            counts = self.window.record(attempts, self.clock(), self.thresholds, read=declined)
        except Exception as error:
            monitoring_log.warning("Card-testing window unavailable", extra={"error": type(error).__name__})
            metrics.add_metric(name="CardTestingErrors", unit=MetricUnit.Count, value=1)
            return []
        if counts is None:
            return []
        recorder.set("card_testing_window", counts.attempts, measure="attempts")
        recorder.set("card_testing_window", counts.declines, measure="declines")
        recorder.set("card_testing_window", counts.distinct_cards, measure="distinct_cards")
        recorder.set("card_testing_window", counts.small_declines, measure="small_declines")
        signals = counts.signals(self.thresholds)
        if not signals:
            return []
        for signal in signals:
            recorder.inc("card_testing_signals_total", signal=signal)
        evidence = counts.evidence(signals)
        stripe_log.warning("Card testing suspected", extra={"card_testing": evidence})
        try:
            self.alerts.alert(CARD_TESTING, evidence)
        except Exception:  # the events are processed; the next batch raises it again
            monitoring_log.exception("Could not raise card_testing_suspected")
        return signals

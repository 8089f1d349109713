"""Card testing on a fake clock and the in-memory window: each documented pattern fires, once; an
ordinary bad day does not; the evidence is counts, never a card fingerprint."""

from __future__ import annotations

import json

import pytest
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.webhooks.card_testing import CARD_TESTING, CardTestingDetector, PaymentAttempt, Thresholds

from tests.support.alerting import published, service
from tests.support.card_testing import InMemoryCardTestingWindow, declined, succeeded
from tests.support.clock import T0, Clock
from tests.support.fakes import InMemoryAlertStore, InMemoryMetricBackend, RecordingPublisher

RULE = RuleSet.load()[CARD_TESTING]
DEFAULTS = Thresholds.of(RULE.window_seconds, RULE.params)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def alerting(clock: Clock, publisher: RecordingPublisher) -> AlertingService:
    return service(InMemoryAlertStore(), publisher, clock)


@pytest.fixture
def detector(alerting: AlertingService, clock: Clock) -> CardTestingDetector:
    return CardTestingDetector(InMemoryCardTestingWindow(), DEFAULTS, alerting, clock=clock)


def test_the_rules_params_are_the_thresholds() -> None:
    assert DEFAULTS.window_seconds == 600 and DEFAULTS.min_declines == 10 and DEFAULTS.min_distinct_cards == 8
    assert "incorrect_cvc" in DEFAULTS.testing_codes and DEFAULTS.small_amount_cents == 100
    changed = RuleSet.load("card_testing_suspected.min_declines=20,card_testing_suspected.testing_codes=incorrect_cvc")
    rule = changed[CARD_TESTING]
    thresholds = Thresholds.of(rule.window_seconds, rule.params)
    assert thresholds.min_declines == 20 and thresholds.testing_codes == {"incorrect_cvc"}


def test_a_rule_without_a_threshold_param_is_refused_by_name() -> None:
    params = {name: value for name, value in RULE.params.items() if name not in {"min_attempts", "ratio_factor"}}
    with pytest.raises(ValueError, match="min_attempts, ratio_factor missing"):
        Thresholds.of(RULE.window_seconds, params)


def test_a_card_testing_burst_pages_exactly_once(
    detector: CardTestingDetector, clock: Clock, publisher: RecordingPublisher, metric_store: InMemoryMetricBackend
) -> None:
    """Forty declines on forty cards, small amounts, CVC guesses, in batches of ten over four minutes."""
    for batch in range(4):
        clock.advance(60)
        detector.observe(declined(10, at=clock.now, code="incorrect_cvc", amount=50, start=batch * 10))
    [page] = published(publisher)
    assert page.alert_type == CARD_TESTING and page.severity == "critical"
    # the first batch's ten attempts are below min_attempts (20): the decline ratio is not judged yet
    assert page.context["signals"] == "distinct_cards+testing_codes+small_amounts"
    assert page.context["distinct_cards"] == 10 and page.context["top_decline_codes"] == "incorrect_cvc 10"
    assert page.context["small_amount_share"] == "100%"
    record = detector.alerts.get(CARD_TESTING)  # type: ignore[attr-defined]
    assert record.suppressed == 3  # the later batches are repeats of the same alert
    recorder.flush()
    snapshot = metric_store.snapshot()
    assert snapshot["askproai_card_testing_signals"]['["distinct_cards"]'] == 4.0
    assert snapshot["askproai_card_testing_window"]['["distinct_cards"]'] == 40.0


def test_an_ordinary_bad_day_does_not_page(
    detector: CardTestingDetector, clock: Clock, publisher: RecordingPublisher
) -> None:
    """Ten minutes of a busy shop: 200 payments, six declines (insufficient funds, one CVC typo, one
    customer retrying the same card three times)."""
    for minute in range(10):
        clock.advance(60)
        attempts = succeeded(20, at=clock.now)
        if minute == 2:
            attempts += declined(3, at=clock.now, code="insufficient_funds", cards=1)
        if minute == 5:
            attempts += declined(2, at=clock.now, code="insufficient_funds") + declined(
                1, at=clock.now, code="incorrect_cvc"
            )
        assert detector.observe(attempts) == []
    assert published(publisher) == []


@pytest.mark.parametrize(
    ("burst", "signal"),
    [
        (lambda at: declined(10, at=at, cards=8, code="generic_decline"), "distinct_cards"),
        (lambda at: declined(5, at=at, cards=1, code="incorrect_number"), "testing_codes"),
        (lambda at: declined(10, at=at, cards=2, amount=100) + succeeded(30, at=at), "small_amounts"),
        (lambda at: declined(12, at=at, cards=3, code="do_not_honor") + succeeded(18, at=at), "decline_ratio"),
    ],
)
def test_each_pattern_alone_is_enough(burst: object, signal: str, detector: CardTestingDetector, clock: Clock) -> None:
    assert detector.observe(burst(clock.now)) == [signal]  # type: ignore[operator]


def test_below_each_threshold_nothing_holds(alerting: AlertingService, clock: Clock) -> None:
    def fresh() -> CardTestingDetector:
        return CardTestingDetector(InMemoryCardTestingWindow(), DEFAULTS, alerting, clock=clock)

    assert fresh().observe(declined(9, at=clock.now, cards=9)) == []  # 9 declines: one short of 10
    assert fresh().observe(declined(10, at=clock.now, cards=7)) == []  # 7 cards: one short of 8
    assert fresh().observe(declined(4, at=clock.now, code="card_velocity_exceeded", cards=1)) == []
    assert fresh().observe(declined(7, at=clock.now, cards=2) + succeeded(13, at=clock.now)) == []  # 35% < 40%


def test_the_window_forgets_declines_older_than_ten_minutes(
    detector: CardTestingDetector, clock: Clock, publisher: RecordingPublisher
) -> None:
    detector.observe(declined(9, at=clock.now))
    clock.advance(600)
    assert detector.observe(declined(9, at=clock.now, start=100)) == []  # 18 cards, but never 10 at once
    assert published(publisher) == []


def test_a_recovered_old_decline_is_not_a_burst_now(detector: CardTestingDetector, clock: Clock) -> None:
    """Reconciliation hands over declines created hours ago: they are outside the window."""
    assert detector.observe(declined(30, at=clock.now - 7200)) == []


def test_successes_alone_are_counted_without_reading_the_window(alerting: AlertingService, clock: Clock) -> None:
    window = InMemoryCardTestingWindow()
    detector = CardTestingDetector(window, DEFAULTS, alerting, clock=clock)
    detector.observe(succeeded(10, at=clock.now))
    assert window.round_trips == 1 and sum(c["attempts"] for c in window.counts.values()) == 10
    detector.observe([])
    assert window.round_trips == 1  # nothing to send, nothing sent


def test_the_evidence_names_no_card(detector: CardTestingDetector, clock: Clock, publisher: RecordingPublisher) -> None:
    attempts = [PaymentAttempt(False, clock.now, "incorrect_cvc", f"card-{i}", 100) for i in range(10)]
    detector.observe(attempts)
    [page] = published(publisher)
    assert "card-" not in json.dumps(page.context) and "fp_" not in json.dumps(page.context)


def test_a_window_that_fails_is_logged_and_never_raised(alerting: AlertingService, clock: Clock) -> None:
    class Down:
        def record(self, *args: object, **kwargs: object) -> None:
            raise ConnectionError("redis down")

    detector = CardTestingDetector(Down(), DEFAULTS, alerting, clock=clock)  # type: ignore[arg-type]
    assert detector.observe(declined(20, at=T0)) == []

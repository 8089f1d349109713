"""Alert quality from a seeded month of alert histories (a fake clock): fired, pages, time to
acknowledge and to resolve (median, p90), flapping and resolved-unacknowledged, exactly."""

from __future__ import annotations

import pytest
from platform_monitoring.alerting.delivery.history import DeliveryAttempt
from platform_monitoring.alerting.quality import RuleQuality, alert_quality, median, p90
from platform_monitoring.alerting.service import AlertingService

from tests.support.alerting import published, service
from tests.support.clock import T0, Clock
from tests.support.fakes import InMemoryAlertStore, InMemoryDeliveryHistory, RecordingPublisher

DAY = 86400.0
NOW = T0 + 30 * DAY


class Seeded:
    def __init__(self) -> None:
        self.clock = Clock()
        self.store = InMemoryAlertStore()
        self.history = InMemoryDeliveryHistory()
        self.publisher = RecordingPublisher()
        self.alerting: AlertingService = service(self.store, self.publisher, self.clock, history=self.history)

    def fire(self, at: float, alert_type: str = "payment_failure", **context: object) -> str:
        self.clock.now = at
        decision = self.alerting.alert(alert_type, {"count": 3, **context})
        assert decision.notified, decision
        return decision.alert_id

    def deliver(self, **outcomes: str) -> None:
        """The dispatcher's attempts at the last published notification."""
        notification = published(self.publisher)[-1]
        for channel, outcome in outcomes.items():
            self.history.record(
                DeliveryAttempt.create(
                    notification,
                    channel=channel,
                    target=channel,
                    at=self.alerting.now_ms(),
                    outcome=outcome,
                    reason="",
                    attempt=1,
                )
            )

    def ack(self, at: float, alert_id: str = "payment_failure") -> None:
        self.clock.now = at
        self.alerting.acknowledge(alert_id)

    def resolve(self, at: float, alert_id: str = "payment_failure") -> None:
        self.clock.now = at
        self.alerting.resolve(alert_id)


@pytest.fixture
def seeded() -> Seeded:
    month = Seeded()
    # D, 20 days ago: acknowledged after 60 s, resolved after 1200 s
    d = NOW - 20 * DAY
    month.fire(d)
    month.deliver(email="sent", slack="sent")
    month.ack(d + 60)
    month.resolve(d + 1200)
    # A, 6 days ago: acknowledged after 120 s, resolved after 600 s
    a = NOW - 6 * DAY
    month.fire(a)
    month.deliver(email="sent", slack="failed")
    month.ack(a + 120)
    month.resolve(a + 600)
    # B: fired again 300 s after A resolved (within the 900 s throttle: flapping); its page reached
    # nobody (email failed); resolved after 60 s, unacknowledged
    b = a + 600 + 300
    month.fire(b)
    month.deliver(email="failed")
    month.resolve(b + 60)
    # C, 2 days ago: acknowledged after 300 s, resolved after an hour
    c = NOW - 2 * DAY
    month.fire(c)
    month.deliver(slack="sent")
    month.ack(c + 300)
    month.resolve(c + 3600)
    # E: a queue backlog still firing, paged by email
    month.fire(NOW - 3600, "queue_backlog", queue="webhooks", size=5000)
    month.deliver(email="sent")
    month.clock.now = NOW
    return month


def figures(month: Seeded, window: str) -> dict[str, RuleQuality]:
    report = month.alerting
    result = alert_quality(report.rules, month.store, month.history, now_ms=report.now_ms(), window=window)
    return {rule.rule: rule for rule in result.rules}


def test_seven_days_of_payment_failures(seeded: Seeded) -> None:
    week = figures(seeded, "7d")["payment_failure"]
    assert week == RuleQuality(
        rule="payment_failure",
        severity="critical",
        fired=3,  # A, B, C
        pages=2,  # A's and C's pages reached someone; B's did not
        acknowledged=2,
        resolved=3,
        flapping=1,  # B
        resolved_unacknowledged=1,  # B
        ack_median_seconds=210.0,  # 120, 300
        ack_p90_seconds=300.0,
        resolve_median_seconds=600.0,  # 60, 600, 3600
        resolve_p90_seconds=3600.0,
    )


def test_thirty_days_include_the_older_episode(seeded: Seeded) -> None:
    month = figures(seeded, "30d")["payment_failure"]
    assert (month.fired, month.pages, month.acknowledged, month.resolved) == (4, 3, 3, 4)
    assert (month.flapping, month.resolved_unacknowledged) == (1, 1)
    assert (month.ack_median_seconds, month.ack_p90_seconds) == (120.0, 300.0)  # 60, 120, 300
    assert (month.resolve_median_seconds, month.resolve_p90_seconds) == (900.0, 3600.0)  # 60, 600, 1200, 3600


def test_an_alert_still_firing_counts_as_fired_with_no_times_yet(seeded: Seeded) -> None:
    backlog = figures(seeded, "7d")["queue_backlog"]
    assert (backlog.fired, backlog.pages, backlog.resolved, backlog.resolve_median_seconds) == (1, 1, 0, None)
    quiet = figures(seeded, "7d")["stripe_dispute"]
    assert (quiet.fired, quiet.pages, quiet.ack_p90_seconds) == (0, 0, None)


def test_a_reopen_outside_the_throttle_is_not_flapping() -> None:
    month = Seeded()
    month.fire(NOW - DAY)
    month.resolve(NOW - DAY + 60)
    month.fire(NOW - DAY + 60 + 900)  # exactly the throttle period later
    month.clock.now = NOW
    assert figures(month, "7d")["payment_failure"].flapping == 0


def test_a_repeat_after_the_throttle_is_a_page_but_not_a_new_episode() -> None:
    month = Seeded()
    month.fire(NOW - DAY)
    month.deliver(slack="sent")
    month.fire(NOW - DAY + 901)  # still firing: the throttle ended, so it pages again
    month.deliver(slack="sent")
    month.clock.now = NOW
    week = figures(month, "7d")["payment_failure"]
    assert (week.fired, week.pages) == (1, 2)


def test_the_window_is_validated(seeded: Seeded) -> None:
    with pytest.raises(ValueError, match="window must be one of 7d, 30d"):
        figures(seeded, "1y")


@pytest.mark.parametrize(
    ("values", "middle", "ninetieth"),
    [([5.0], 5.0, 5.0), ([1.0, 2.0], 1.5, 2.0), (list(map(float, range(1, 11))), 5.5, 9.0), ([], None, None)],
)
def test_median_and_nearest_rank_p90(values: list[float], middle: float | None, ninetieth: float | None) -> None:
    assert (median(values), p90(values)) == (middle, ninetieth)

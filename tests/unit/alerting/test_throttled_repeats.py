"""A repeat of an alert already firing and throttled is one write on its record (issue 17), and
the behaviour around it stays: the alert does not resolve while occurrences continue, a storm
that outlasts the throttle period notifies again on its first occurrence after it, and anything
that changed the record elsewhere (resolved, released) sends the call down the whole decision."""

from __future__ import annotations

from platform_monitoring.alerting.rules import RuleSet

from tests.support.alerting import Clock, published, service
from tests.support.fakes import InMemoryAlertStore, RecordingPublisher

RULE = RuleSet.load()["payment_failure"]  # 3 in 5 minutes, throttled 15 minutes
WINDOW, THROTTLE = RULE.window_ms // 1000, RULE.throttle_seconds


def test_a_throttled_repeat_is_one_request_until_the_throttle_periods_last_window() -> None:
    store, publisher, clock = InMemoryAlertStore(), RecordingPublisher(), Clock()
    alerting = service(store, publisher, clock)
    alerting.alert("payment_failure", {"count": 3})
    costs = []
    for second in range(60, THROTTLE, 60):
        clock.at(second)
        store.requests = 0
        assert alerting.alert("payment_failure").outcome == "throttled"
        costs.append((second, store.requests))
    # The record's write alone while the occurrence leaves the window before the throttle ends;
    # in the throttle period's last window the occurrence is written too (for the decision after
    # it), and the window is not counted: three requests before issue 17 throughout.
    assert {requests for second, requests in costs if second < THROTTLE - WINDOW} == {1}
    assert {requests for second, requests in costs if second >= THROTTLE - WINDOW} == {2}


def test_a_storm_outlasting_the_throttle_notifies_again_on_its_first_occurrence_after_it() -> None:
    store, publisher, clock = InMemoryAlertStore(), RecordingPublisher(), Clock()
    alerting = service(store, publisher, clock)
    alerting.alert("payment_failure", {"count": 3})
    for second in range(20, THROTTLE, 20):
        clock.at(second)
        alerting.alert("payment_failure")
    clock.at(THROTTLE)
    decision = alerting.alert("payment_failure")
    assert decision.notified
    assert decision.count == WINDOW // 20  # the occurrences of the last window, as without the shortcut
    assert len(published(publisher)) == 2


def test_repeats_written_to_the_record_only_keep_the_alert_from_resolving() -> None:
    store, publisher, clock = InMemoryAlertStore(), RecordingPublisher(), Clock()
    alerting = service(store, publisher, clock)
    alerting.alert("payment_failure", {"count": 3})
    for second in (100, 200, 300, 400):
        clock.at(second)
        alerting.alert("payment_failure")
    clock.at(400 + WINDOW - 1)  # nothing in the window table since t=0, but one seen 299 s ago
    assert alerting.resolve_quiet(alerting.alerts(status="active")) == []
    clock.at(400 + WINDOW)
    [resolved] = alerting.resolve_quiet(alerting.alerts(status="active"))
    assert resolved.resolution == "no occurrence in the last 5 minutes"


def test_a_resolved_alert_reopens_on_the_next_occurrence_although_this_process_saw_it_throttled() -> None:
    store, publisher, clock = InMemoryAlertStore(), RecordingPublisher(), Clock()
    alerting = service(store, publisher, clock)
    other = service(store, publisher, clock)  # another Lambda: the API resolving it by hand
    alerting.alert("payment_failure", {"count": 3})
    clock.at(60)
    assert alerting.alert("payment_failure").outcome == "throttled"
    other.resolve("payment_failure", by="on-call")
    clock.at(120)
    assert alerting.alert("payment_failure", {"count": 3}).notified
    assert [n.kind for n in published(publisher)] == ["firing", "resolved", "firing"]


def test_a_sparse_repeat_while_throttled_is_a_repeat_and_a_refused_write_decides_in_full() -> None:
    store, publisher, clock = InMemoryAlertStore(), RecordingPublisher(), Clock()
    alerting = service(store, publisher, clock)
    other = service(store, publisher, clock)
    alerting.alert("payment_failure", {"count": 3})
    clock.at(THROTTLE - 10)  # one occurrence, alone in its window, while the alert is throttled
    assert alerting.alert("payment_failure").outcome == "throttled"
    other.resolve("payment_failure")
    clock.at(THROTTLE - 5)  # written to the window once, although the repeat write was refused
    assert alerting.alert("payment_failure").outcome == "below_threshold"
    assert len(store.events["payment_failure"]) == 3 + 2


def test_a_retried_occurrence_does_not_raise_the_running_window_count() -> None:
    store, publisher, clock = InMemoryAlertStore(), RecordingPublisher(), Clock()
    alerting = service(store, publisher, clock)
    for event_id in ("evt_1", "evt_2", "evt_3"):
        alerting.alert("payment_failure", {"occurrence_id": event_id})
    clock.at(60)
    assert alerting.alert("payment_failure", {"occurrence_id": "evt_4"}).count == 4
    assert alerting.alert("payment_failure", {"occurrence_id": "evt_4"}).count == 4
    assert alerting.get("payment_failure").window_count == 4

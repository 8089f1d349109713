"""AlertingService on in-memory fakes: windows at their edges, throttling, lifecycle, silences."""

from __future__ import annotations

import threading

import pytest
from platform_monitoring.alerting.rules import RuleSet, UnknownAlertType
from platform_monitoring.alerting.service import SilenceRefused
from platform_monitoring.alerting.store import AlertConflict, AlertNotFound
from platform_monitoring.core.config import ConfigurationError

from tests.support.alerting import published, service
from tests.support.clock import T0, Clock
from tests.support.fakes import InMemoryAlertStore, RecordingPublisher


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> InMemoryAlertStore:
    return InMemoryAlertStore()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


def test_the_guides_manual_alert_test_works_as_written(publisher: RecordingPublisher) -> None:
    # Given the guide's call, as its "Manual Alert Test" shows it
    alerting = service(publisher=publisher)
    # When
    decision = alerting.alert("payment_failure", {"count": 5, "window": 5})
    # Then five failures were reported at once: above the threshold of 3, so it notifies
    assert decision.outcome == "notified"
    [notification] = published(publisher)
    assert notification.alert_type == "payment_failure"
    assert notification.severity == "critical"
    assert notification.channels == ("email", "slack", "sms")
    assert notification.summary == "5 payment failures in the last 5 minutes (threshold 3)"
    assert notification.runbook_url == "https://runbooks.example.com/payment_failure.md"
    assert notification.context == {"count": 5, "window": 5}


@pytest.mark.parametrize(
    ("third_at", "fires"),
    [
        (299.999, True),  # the first failure is 299.999 s old: still inside the 5-minute window
        (300.0, False),  # exactly 5 minutes old: it has left the window (the start is exclusive)
        (300.001, False),
    ],
)
def test_payment_failure_window_edges(clock: Clock, third_at: float, fires: bool) -> None:
    alerting = service(clock=clock)
    assert alerting.alert("payment_failure").outcome == "below_threshold"
    clock.at(120)
    assert alerting.alert("payment_failure").outcome == "below_threshold"
    clock.at(third_at)
    decision = alerting.alert("payment_failure")
    assert decision.outcome == ("notified" if fires else "below_threshold")
    assert decision.count == (3 if fires else 2)


@pytest.mark.parametrize(("third_at", "fires"), [(59.999, True), (60.0, False)])
def test_database_connection_failure_one_minute_edges(clock: Clock, third_at: float, fires: bool) -> None:
    alerting = service(clock=clock)
    alerting.alert("database_connection_failure")
    clock.at(30)
    alerting.alert("database_connection_failure")
    clock.at(third_at)
    assert alerting.alert("database_connection_failure").notified is fires


def test_security_breach_needs_five_within_the_minute(clock: Clock) -> None:
    alerting = service(clock=clock)
    outcomes = []
    for second in (0, 10, 20, 30, 40):
        clock.at(second)
        outcomes.append(alerting.alert("security_breach_attempt", {"ip": "198.51.100.7"}).outcome)
    assert outcomes == ["below_threshold"] * 4 + ["notified"]


def test_an_override_moves_the_threshold(clock: Clock) -> None:
    alerting = service(clock=clock, overrides="payment_failure.threshold=2")
    alerting.alert("payment_failure")
    assert alerting.alert("payment_failure").notified


def test_repeats_are_throttled_counted_and_shown_in_the_next_notification(
    clock: Clock, store: InMemoryAlertStore, publisher: RecordingPublisher
) -> None:
    alerting = service(store, publisher, clock)
    # Given a firing alert
    for _ in range(3):
        alerting.alert("payment_failure")
    # When seven more come within the 15-minute throttle period (and the 5-minute window)
    for second in range(30, 240, 30):
        clock.at(second)
        assert alerting.alert("payment_failure").outcome == "throttled"
    # Then nothing more was sent, and the repeats are counted on the alert
    assert len(published(publisher)) == 1
    record = alerting.get("payment_failure")
    # count: the occurrence that fired it and every repeat (the two before the threshold are in the window only)
    assert (record.suppressed, record.count, record.window_count, record.notifications) == (7, 8, 10, 1)
    # When the throttle period has passed, the next burst notifies and carries the count
    clock.at(900)
    decision = alerting.alert("payment_failure", {"count": 3})
    assert decision.notified and decision.suppressed == 7
    second = published(publisher)[1]
    assert second.suppressed == 7
    assert second.total == 11
    assert alerting.get("payment_failure").suppressed == 0


def test_fifty_concurrent_alerts_notify_once(store: InMemoryAlertStore, publisher: RecordingPublisher) -> None:
    alerting = service(store, publisher)
    barrier = threading.Barrier(50)
    outcomes: list[str] = []

    def one() -> None:
        barrier.wait()
        outcomes.append(alerting.alert("payment_failure").outcome)

    threads = [threading.Thread(target=one) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("notified") == 1
    assert len(published(publisher)) == 1
    assert outcomes.count("throttled") == alerting.get("payment_failure").suppressed


def test_acknowledged_alerts_stop_repeating_but_still_count(clock: Clock, publisher: RecordingPublisher) -> None:
    alerting = service(publisher=publisher, clock=clock)
    alerting.alert("payment_failure", {"count": 3})
    record = alerting.acknowledge("payment_failure", by="alice", note="on it")
    assert (record.status, record.acknowledged_by, record.ack_note) == ("acknowledged", "alice", "on it")
    assert alerting.acknowledge("payment_failure", by="bob").acknowledged_by == "alice"  # idempotent
    clock.at(3600)  # far beyond the throttle period
    for _ in range(3):
        assert alerting.alert("payment_failure", {"count": 3}).outcome == "acknowledged"
    assert len(published(publisher)) == 1
    assert alerting.get("payment_failure").suppressed == 3


def test_resolve_sends_a_resolved_notice_and_a_new_occurrence_reopens(
    clock: Clock, publisher: RecordingPublisher
) -> None:
    alerting = service(publisher=publisher, clock=clock)
    alerting.alert("payment_failure", {"count": 4})
    resolved = alerting.resolve("payment_failure", by="alice", note="Stripe incident over")
    assert resolved.status == "resolved"
    assert resolved.resolution == "resolved by alice: Stripe incident over"
    notice = published(publisher)[-1]
    assert notice.kind == "resolved"
    assert notice.channels == ("email", "slack")  # the rule's resolved_channels: no SMS at night for good news
    with pytest.raises(AlertConflict):
        alerting.resolve("payment_failure")
    with pytest.raises(AlertConflict):
        alerting.acknowledge("payment_failure")
    # A new occurrence in the window reopens it as a fresh incident
    clock.at(30)
    decision = alerting.alert("payment_failure")
    assert decision.notified
    record = alerting.get("payment_failure")
    assert record.status == "firing"
    assert (record.count, record.window_count) == (1, 5)
    assert record.first_seen == int((T0 + 30) * 1000)
    assert record.resolved_at is None and record.acknowledged_by is None


def test_unknown_ids_and_types(clock: Clock) -> None:
    alerting = service(clock=clock)
    with pytest.raises(AlertNotFound):
        alerting.acknowledge("payment_failure")
    with pytest.raises(AlertNotFound):
        alerting.get("nothing")
    with pytest.raises(UnknownAlertType):
        alerting.alert("payment_failures")


def test_quiet_windows_resolve_count_alerts(clock: Clock, publisher: RecordingPublisher) -> None:
    alerting = service(publisher=publisher, clock=clock)
    alerting.alert("database_connection_failure", {"count": 3})
    clock.at(59.999)
    assert alerting.resolve_quiet(alerting.alerts(status="active")) == []
    clock.at(60)
    [resolved] = alerting.resolve_quiet(alerting.alerts(status="active"))
    assert resolved.resolution == "no occurrence in the last minute"
    assert resolved.resolved_by == "schedule"
    assert published(publisher)[-1].kind == "resolved"


def test_a_silence_mutes_a_type_until_it_ends(clock: Clock, publisher: RecordingPublisher) -> None:
    alerting = service(publisher=publisher, clock=clock)
    silence = alerting.silence("payment_failure", minutes=30, reason="deploy", by="ci")
    assert [s.id for s in alerting.silences()] == [silence.id]
    # During the silence nothing is sent, however often it fires
    assert alerting.alert("payment_failure", {"count": 3}).outcome == "silenced"
    clock.at(600)
    assert alerting.alert("payment_failure", {"count": 3}).outcome == "throttled"
    # Only the silence's own audit notice went out (security_control_change, never silenced)
    assert [n.alert_type for n in published(publisher)] == ["security_control_change"]
    # Other types are not muted
    assert alerting.alert("database_connection_failure", {"count": 3}).notified
    # After it ends, the next occurrence notifies with what was muted
    clock.at(1800)
    decision = alerting.alert("payment_failure", {"count": 3})
    assert decision.notified
    assert published(publisher)[-1].suppressed == 2
    assert alerting.silences() == []


def test_silences_are_validated_and_removable(clock: Clock) -> None:
    alerting = service(clock=clock)
    with pytest.raises(ValueError, match="end in the future"):
        alerting.silence("payment_failure", minutes=0)
    with pytest.raises(ValueError, match="at most 7 days"):
        alerting.silence("payment_failure", minutes=8 * 24 * 60)
    with pytest.raises(UnknownAlertType):
        alerting.silence("everything", minutes=5)
    silence = alerting.silence("payment_failure", minutes=5)
    assert alerting.unsilence(silence.id) == silence
    with pytest.raises(AlertNotFound):
        alerting.unsilence(silence.id)


def test_grouping_labels_make_separate_alerts(publisher: RecordingPublisher) -> None:
    alerting = service(publisher=publisher)
    alerting.alert("queue_backlog", {"queue": "webhooks", "size": 5000})
    alerting.alert("queue_backlog", {"queue": "stripe", "size": 2000})
    assert [n.summary for n in published(publisher)] == [
        "Queue webhooks holds 5000 messages (threshold 1000)",
        "Queue stripe holds 2000 messages (threshold 1000)",
    ]
    assert len({n.alert_id for n in published(publisher)}) == 2
    assert all(n.alert_id.startswith("queue_backlog-") for n in published(publisher))


def test_a_failing_channel_is_not_told_about_itself(publisher: RecordingPublisher) -> None:
    service(publisher=publisher).alert("alert_channel_failure", {"channel": "slack", "error": "HTTP 500"})
    assert published(publisher)[0].channels == ("email", "sms")


def test_no_secret_reaches_an_alert(publisher: RecordingPublisher) -> None:
    alerting = service(publisher=publisher)
    alerting.alert(
        "payment_failure",
        {
            "count": 3,
            "api_key": "abc123",
            "detail": "charge with sk_live_4eC39HqLyjWDarjtT1zdp7dc failed",
            "card": "4242 4242 4242 4242",
        },
    )
    notification = published(publisher)[0]
    text = notification.to_json()
    for secret in ("abc123", "4eC39HqLyjWDarjtT1zdp7dc", "4242 4242 4242 4242"):
        assert secret not in text
    assert "4eC39HqLyjWDarjtT1zdp7dc" not in str(alerting.get("payment_failure").context)


def test_a_failed_publish_gives_the_throttle_back(publisher: RecordingPublisher) -> None:
    alerting = service(publisher=publisher)
    publisher.fail = ConnectionError("SNS is down")
    decision = alerting.alert("payment_failure", {"count": 3})
    assert decision.outcome == "error"  # logged and counted; the caller is not taken down
    publisher.fail = None
    assert alerting.alert("payment_failure").notified  # not throttled by the notification that never went out


def test_a_retried_occurrence_counts_once_and_still_notifies(
    store: InMemoryAlertStore, publisher: RecordingPublisher
) -> None:
    # A webhook's third failed payment: recorded, then SNS refused the publication, so the processor
    # failed the message and SQS delivers it again.
    alerting = service(store, publisher)
    for event_id in ("evt_1", "evt_2"):
        assert alerting.alert("payment_failure", {"occurrence_id": event_id}).outcome == "below_threshold"
    publisher.fail = ConnectionError("SNS is down")
    assert alerting.alert("payment_failure", {"occurrence_id": "evt_3"}).outcome == "error"
    publisher.fail = None
    retried = alerting.alert("payment_failure", {"occurrence_id": "evt_3"})
    assert (retried.notified, retried.count) == (True, 3)  # not 4: the retry is the same occurrence
    (notification,) = published(publisher)
    assert "occurrence_id" not in notification.context  # bookkeeping, not something to show on-call
    # a redelivery of an earlier event changes nothing in the window either
    assert alerting.alert("payment_failure", {"occurrence_id": "evt_1"}).count == 3


def test_disabled_monitoring_touches_nothing(store: InMemoryAlertStore) -> None:
    alerting = service(store, enabled=False)
    assert alerting.alert("payment_failure", {"count": 9}).outcome == "disabled"
    assert store.requests == 0


def test_listing_filters_and_orders(clock: Clock) -> None:
    alerting = service(clock=clock)
    alerting.alert("payment_failure", {"count": 3})
    clock.at(10)
    alerting.alert("stripe_webhook_failure", {"count": 5})
    clock.at(20)
    alerting.alert("queue_backlog", {"queue": "default", "size": 1001})
    alerting.acknowledge("payment_failure")
    assert [r.type for r in alerting.alerts()] == ["queue_backlog", "stripe_webhook_failure", "payment_failure"]
    assert [r.type for r in alerting.alerts(status="firing")] == ["queue_backlog", "stripe_webhook_failure"]
    assert [r.type for r in alerting.alerts(severity="critical")] == ["payment_failure"]
    assert len(alerting.alerts(status="active")) == 3
    assert alerting.alerts(status="resolved") == []


def test_costs_per_decision_in_requests(store: InMemoryAlertStore) -> None:
    alerting = service(store)
    alerting.alert("payment_failure")
    assert store.requests == 2  # below threshold: write the occurrence, count the window
    store.requests = 0
    alerting.alert("payment_failure", {"count": 2})
    assert store.requests == 6  # fires: write, count, repeat (refused), claim, its episode, silences
    store.requests = 0
    alerting.alert("payment_failure")
    assert store.requests == 1  # throttled: the repeat write alone (issue 17; it was write, count, repeat)


def test_a_security_alert_is_silenced_only_when_forced_and_the_audit_never(
    clock: Clock, publisher: RecordingPublisher
) -> None:
    alerting = service(publisher=publisher, clock=clock)
    with pytest.raises(SilenceRefused) as refused:
        alerting.silence("security_breach_attempt", minutes=30, reason="deploy")
    assert refused.value.code == "security_alert" and "force" in str(refused.value)
    assert alerting.silences() == [] and published(publisher) == []  # refused: nothing stored, nothing sent
    with pytest.raises(SilenceRefused) as refused:
        alerting.silence("security_control_change", minutes=30, force=True)
    assert refused.value.code == "not_silenceable"
    silence = alerting.silence("security_breach_attempt", minutes=30, by="alice", force=True, actor_ip="198.51.100.7")
    assert alerting.muted_security_types(silence) == ["security_breach_attempt"]
    assert alerting.muted_security_types(alerting.silence("payment_failure", minutes=5)) == []
    assert alerting.alert("security_breach_attempt", {"count": 5}).outcome == "silenced"
    forced = published(publisher)[0]
    assert (forced.alert_type, forced.context["actor_ip"], forced.context["by"]) == (
        "security_control_change",
        "198.51.100.7",
        "alice",
    )
    assert "forced" in forced.context["target"] and "security_breach_attempt" in forced.summary


def test_every_silence_and_its_removal_pages_even_after_an_acknowledgement(
    clock: Clock, publisher: RecordingPublisher
) -> None:
    alerting = service(publisher=publisher, clock=clock)
    first = alerting.silence("payment_failure", minutes=5, actor_ip="198.51.100.8")
    [notice] = published(publisher)
    alerting.acknowledge(notice.alert_id, by="bob")  # an acknowledged audit alert must not hide the next change
    alerting.unsilence(first.id, by="bob", actor_ip="198.51.100.9")
    alerting.silence("payment_failure", minutes=5)
    actions = [(n.context["action"], n.context["actor_ip"]) for n in published(publisher)]
    assert actions == [
        ("silence created", "198.51.100.8"),
        ("silence removed", "198.51.100.9"),
        ("silence created", "unknown"),
    ]
    assert len({n.alert_id for n in published(publisher)}) == 3


def test_an_override_cannot_make_a_security_alert_silenceable() -> None:
    with pytest.raises(ConfigurationError, match="cannot be overridden"):
        RuleSet.load("security_breach_attempt.security=false")

"""A resolved notice during a silence (Alertmanager #226): it goes to the channels that delivered the
alert's firing notification, per the delivery history; nobody paged, no notice; the rule can opt out."""

from __future__ import annotations

import pytest
from platform_monitoring.alerting.delivery.history import DeliveryAttempt
from platform_monitoring.alerting.notification import Notification
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.core.config import ConfigurationError

from tests.support.alerting import AUDIT_NOTICES, service
from tests.support.alerting import published as all_published
from tests.support.clock import Clock
from tests.support.fakes import InMemoryDeliveryHistory, RecordingPublisher


def delivered(history: InMemoryDeliveryHistory, notification: Notification, *, at: int, **outcomes: str) -> None:
    """What the dispatcher would record: one attempt per channel with its outcome."""
    for channel, outcome in outcomes.items():
        history.record(
            DeliveryAttempt.create(
                notification, channel=channel, target=channel, at=at, outcome=outcome, reason="", attempt=1
            )
        )


def published(publisher: RecordingPublisher) -> list[Notification]:
    return all_published(publisher, excluding=AUDIT_NOTICES)


@pytest.fixture
def history() -> InMemoryDeliveryHistory:
    return InMemoryDeliveryHistory()


def test_an_alert_resolving_during_a_silence_tells_the_channels_it_paged(history: InMemoryDeliveryHistory) -> None:
    clock, publisher = Clock(), RecordingPublisher()
    alerting = service(publisher=publisher, clock=clock, history=history)
    # Given payment_failure paged: Slack delivered it, email failed every attempt, SMS too
    alerting.alert("payment_failure", {"count": 3})
    [firing] = published(publisher)
    delivered(history, firing, at=alerting.now_ms(), slack="sent", email="failed", sms="sent")
    # When a silence starts (a deploy) and the alert resolves during it
    clock.advance(120)
    alerting.silence("payment_failure", minutes=30, reason="deploy")
    alerting.resolve("payment_failure", by="oncall")
    # Then the resolved notice goes out, to the rule's resolved channels that delivered the page
    resolved = published(publisher)[-1]
    assert resolved.kind == "resolved"
    assert resolved.channels == ("slack",)  # resolved_channels are email+slack; email never reached anyone


def test_an_alert_that_fired_during_the_silence_paged_nobody_and_stays_quiet(
    history: InMemoryDeliveryHistory,
) -> None:
    clock, publisher = Clock(), RecordingPublisher()
    alerting = service(publisher=publisher, clock=clock, history=history)
    alerting.silence("payment_failure", minutes=30)
    assert alerting.alert("payment_failure", {"count": 3}).outcome == "silenced"
    clock.advance(60)
    alerting.resolve("payment_failure")
    assert published(publisher) == []


def test_a_page_of_an_earlier_episode_does_not_count(history: InMemoryDeliveryHistory) -> None:
    clock, publisher = Clock(), RecordingPublisher()
    alerting = service(publisher=publisher, clock=clock, history=history)
    # An earlier episode paged email and slack, and resolved (its notice went out normally)
    alerting.alert("payment_failure", {"count": 3})
    delivered(history, published(publisher)[0], at=alerting.now_ms(), email="sent", slack="sent")
    clock.advance(60)
    alerting.resolve("payment_failure")
    assert [n.kind for n in published(publisher)] == ["firing", "resolved"]
    # When it fires again inside a silence and resolves
    clock.advance(3600)
    alerting.silence("payment_failure", minutes=30)
    assert alerting.alert("payment_failure", {"count": 3}).outcome == "silenced"
    clock.advance(60)
    alerting.resolve("payment_failure")
    # Then this episode paged nobody: no notice
    assert [n.kind for n in published(publisher)] == ["firing", "resolved"]


def test_the_rule_can_keep_a_silence_quiet_both_ways(history: InMemoryDeliveryHistory) -> None:
    clock, publisher = Clock(), RecordingPublisher()
    alerting = service(
        publisher=publisher,
        clock=clock,
        history=history,
        overrides="payment_failure.notify_resolved_when_silenced=false",
    )
    alerting.alert("payment_failure", {"count": 3})
    delivered(history, published(publisher)[0], at=alerting.now_ms(), email="sent", slack="sent")
    alerting.silence("payment_failure", minutes=30)
    alerting.resolve("payment_failure")
    assert [n.kind for n in published(publisher)] == ["firing"]


def test_without_a_history_a_silence_stays_quiet() -> None:
    publisher = RecordingPublisher()
    alerting = service(publisher=publisher)
    alerting.alert("payment_failure", {"count": 3})
    alerting.silence("payment_failure", minutes=30)
    alerting.resolve("payment_failure")
    assert [n.kind for n in published(publisher)] == ["firing"]


def test_outside_a_silence_the_notice_goes_to_every_resolved_channel(history: InMemoryDeliveryHistory) -> None:
    publisher = RecordingPublisher()
    alerting = service(publisher=publisher, history=history)
    alerting.alert("payment_failure", {"count": 3})
    delivered(history, published(publisher)[0], at=alerting.now_ms(), slack="sent", email="failed")
    alerting.resolve("payment_failure")
    assert published(publisher)[-1].channels == ("email", "slack")


def test_the_option_defaults_to_send_and_is_validated() -> None:
    rules = RuleSet.load()
    assert all(rule.notify_resolved_when_silenced for rule in rules.values())
    with pytest.raises(ConfigurationError, match="notify_resolved_when_silenced is true or false"):
        RuleSet.load("payment_failure.notify_resolved_when_silenced=maybe")

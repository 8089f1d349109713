"""Alert quality on a real moto server: episodes are items of AlertsTable read through its sparse
`episodes-by-type` index (built from template.yaml), the alert list does not see them, and the
statistics come from Queries, never a Scan."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from platform_monitoring.alerting.quality import alert_quality

from tests.support.alerting import Clock, moto_service
from tests.support.event_costs import WireCounter
from tests.support.local_stack import AwsEmulator, aws_emulator

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsEmulator]:
    with aws_emulator() as emulator:
        yield emulator


def test_episodes_through_the_index_give_exact_figures(aws: AwsEmulator) -> None:
    clock = Clock()
    alerting = moto_service(aws, clock, history=True)
    # Episode 1: acknowledged after 45 s, resolved after 300 s
    assert alerting.alert("stripe_webhook_failure", {"count": 5}).notified
    clock.advance(45)
    alerting.acknowledge("stripe_webhook_failure")
    clock.advance(255)
    alerting.resolve("stripe_webhook_failure")
    # Episode 2: fires again 10 minutes later (throttle 30 minutes: flapping), resolved unacknowledged after 120 s
    clock.advance(600)
    assert alerting.alert("stripe_webhook_failure", {"count": 5}).notified
    clock.advance(120)
    alerting.resolve("stripe_webhook_failure")
    # The alert list holds the alert once, not its episodes
    assert [record.id for record in alerting.alerts()] == ["stripe_webhook_failure"]
    wire = WireCounter()
    wire.attach(alerting.store._client)  # type: ignore[attr-defined]
    report = alert_quality(alerting.rules, alerting.store, alerting.history, now_ms=alerting.now_ms(), window="7d")
    operations = wire.take()
    assert operations["dynamodb.Scan"] == 0 and operations["dynamodb.Query"] == len(alerting.rules)
    figures = {rule.rule: rule for rule in report.rules}["stripe_webhook_failure"]
    assert (figures.fired, figures.acknowledged, figures.resolved) == (2, 1, 2)
    assert (figures.flapping, figures.resolved_unacknowledged) == (1, 1)
    assert (figures.ack_median_seconds, figures.resolve_median_seconds, figures.resolve_p90_seconds) == (
        45.0,
        210.0,
        300.0,
    )

"""The silences of one type, read by a Query on AlertSilencesTable's by-type index (built from
template.yaml on a moto server), mute exactly as the scan they replace did."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from platform_monitoring.alerting.store import DynamoAlertStore, Silence

from tests.support.alerting import Clock, moto_service
from tests.support.event_costs import WireCounter
from tests.support.local_stack import AwsEmulator, aws_emulator

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsEmulator]:
    with aws_emulator() as emulator:
        yield emulator


def test_the_index_finds_the_running_silences_of_one_type_only(aws: AwsEmulator) -> None:
    store = DynamoAlertStore(aws.client("dynamodb"), "AlertsTable", "AlertWindowsTable", "AlertSilencesTable")
    silences = [
        Silence("ended", "queue_backlog", 1_000, 2_000),
        Silence("running", "queue_backlog", 1_000, 9_000, "deploy", "ci"),
        Silence("later", "queue_backlog", 5_000, 9_500),
        Silence("other-type", "payment_failure", 1_000, 9_000),
    ]
    for silence in silences:
        store.put_silence(silence, 10)
    found = store.active_silences("queue_backlog", 3_000)
    assert sorted(s.id for s in found) == ["later", "running"]  # ends after now; starts_at is the caller's
    assert next(s for s in found if s.id == "running") == silences[1]


def test_a_silence_mutes_a_firing_decision_with_one_query_and_no_scan(aws: AwsEmulator) -> None:
    clock = Clock()
    alerting = moto_service(aws, clock)
    wire = WireCounter()
    wire.attach(alerting.store._client)  # type: ignore[attr-defined]
    alerting.silence("stripe_webhook_failure", minutes=30, reason="deploy")
    wire.take()
    decision = alerting.alert("stripe_webhook_failure", {"count": 5})
    assert decision.outcome == "silenced"
    operations = wire.take()
    assert operations["dynamodb.Scan"] == 0 and operations["dynamodb.Query"] == 2  # the window, the silences
    clock.advance(31 * 60)
    assert alerting.alert("stripe_webhook_failure", {"count": 5}).notified

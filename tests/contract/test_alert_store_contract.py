"""AlertStore (alerting.store): InMemoryAlertStore and DynamoAlertStore on AlertsTable,
AlertWindowsTable and AlertSilencesTable, one suite.

Rule windows count occurrences strictly after a time and recognise an occurrence ID once; each
record method is one conditional write whose loser changes nothing (claiming twice: one wins;
a retried claim with the same notification ID wins again); transitions raise AlertNotFound or
AlertConflict; silences are created once; samples are read from a time on.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from platform_monitoring.alerting.store import (
    ACKNOWLEDGED,
    FIRING,
    RESOLVED,
    AlertConflict,
    AlertNotFound,
    AlertRecord,
    Claim,
    Episode,
    NewAlert,
    Silence,
)

from tests.contract.harness import RACERS, T0_MS, AlertStoreHarness, race, unique

MINUTE = 60_000
THROTTLE = 15 * MINUTE
EXPIRES = T0_MS // 1000 + 86400


def new_alert(
    alert_id: str, now: int = T0_MS, *, nid: str | None = None, occurrences: int = 1, **changes: Any
) -> NewAlert:
    values: dict[str, Any] = {
        "id": alert_id,
        "type": "payment_failure_spike",
        "severity": "critical",
        "title": "Payment failures",
        "summary": f"{occurrences} failed payments",
        "labels": {"currency": "eur", "merchant": "ünï 日本"},
        "context": {"last_error": "card_declined", "amounts": [100, 250]},
        "now": now,
        "notify_until": now + THROTTLE,
        "notification_id": nid or unique("n"),
        "occurrences": occurrences,
        "window_count": occurrences,
    }
    values.update(changes)
    return NewAlert(**values)


def firing(harness: AlertStoreHarness, now: int = T0_MS, **changes: Any) -> NewAlert:
    """A new alert claimed at `now` (so firing and throttled until now + THROTTLE)."""
    alert = new_alert(unique("alert"), now, **changes)
    assert harness.store.claim(alert) == Claim(0, now, alert.occurrences)
    return alert


def resolved(harness: AlertStoreHarness, at: int = T0_MS + MINUTE) -> NewAlert:
    alert = firing(harness)
    harness.store.resolve(alert.id, "ops", "fixed", at, at // 1000 + 30 * 86400)
    return alert


def record(harness: AlertStoreHarness, alert_id: str) -> AlertRecord:
    found = harness.store.get(alert_id)
    assert found is not None
    return found


# --- rule windows ------------------------------------------------------------------------------


def test_occurrences_are_counted_strictly_after_a_time_per_alert(alert_store: AlertStoreHarness) -> None:
    store, alert_id, other = alert_store.store, unique("w"), unique("w")
    assert store.add_events(alert_id, T0_MS - MINUTE, 1, EXPIRES)
    assert store.add_events(alert_id, T0_MS, 2, EXPIRES)
    assert store.add_events(alert_id, T0_MS + 1, 1, EXPIRES)
    assert store.add_events(other, T0_MS + 1, 1, EXPIRES)

    assert store.count_events(alert_id, T0_MS - MINUTE - 1) == 4
    assert store.count_events(alert_id, T0_MS - MINUTE) == 3  # the one at after_ms is outside
    assert store.count_events(alert_id, T0_MS) == 1
    assert store.count_events(alert_id, T0_MS + 1) == 0
    assert store.count_events(unique("w"), 0) == 0


def test_many_occurrences_in_one_call_all_count(alert_store: AlertStoreHarness) -> None:
    store, alert_id = alert_store.store, unique("w")
    assert store.add_events(alert_id, T0_MS, 60, EXPIRES)  # more than one DynamoDB batch (25)
    assert store.add_events(alert_id, T0_MS, 0, EXPIRES)
    assert store.count_events(alert_id, T0_MS - 1) == 60


def test_an_occurrence_id_counts_once_per_alert(alert_store: AlertStoreHarness) -> None:
    store, alert_id, other = alert_store.store, unique("w"), unique("w")
    assert store.add_events(alert_id, T0_MS, 1, EXPIRES, occurrence_id="evt_1")
    assert not store.add_events(alert_id, T0_MS + 5, 1, EXPIRES, occurrence_id="evt_1")  # a redelivery
    assert store.add_events(alert_id, T0_MS, 1, EXPIRES, occurrence_id="evt_2")
    assert store.add_events(other, T0_MS, 1, EXPIRES, occurrence_id="evt_1")  # another alert's window
    assert store.count_events(alert_id, T0_MS - 1) == 2
    assert store.count_events(other, T0_MS - 1) == 1


def test_an_occurrence_id_only_guards_a_single_occurrence(alert_store: AlertStoreHarness) -> None:
    store, alert_id = alert_store.store, unique("w")
    assert store.add_events(alert_id, T0_MS, 3, EXPIRES, occurrence_id="batch")
    assert store.add_events(alert_id, T0_MS, 3, EXPIRES, occurrence_id="batch")
    assert store.count_events(alert_id, T0_MS - 1) == 6


def test_concurrent_deliveries_of_one_occurrence_count_once(alert_store: AlertStoreHarness) -> None:
    store, alert_id = alert_store.store, unique("w")
    results = race(RACERS, lambda _: store.add_events(alert_id, T0_MS, 1, EXPIRES, occurrence_id="evt_race"))
    assert sorted(results, key=str) == [False] * (RACERS - 1) + [True]
    assert store.count_events(alert_id, T0_MS - 1) == 1


# --- claim -------------------------------------------------------------------------------------


def test_claiming_a_new_alert_creates_a_firing_record(alert_store: AlertStoreHarness) -> None:
    alert = new_alert(unique("alert"), occurrences=3, window_count=7)
    assert alert_store.store.claim(alert) == Claim(suppressed=0, first_seen=T0_MS, total=3)
    found = record(alert_store, alert.id)
    assert found == AlertRecord(
        id=alert.id,
        type=alert.type,
        severity=alert.severity,
        status=FIRING,
        title=alert.title,
        summary=alert.summary,
        labels=alert.labels,
        first_seen=T0_MS,
        last_seen=T0_MS,
        count=3,
        window_count=7,
        suppressed=0,
        notifications=1,
        last_notified=T0_MS,
        notified_until=T0_MS + THROTTLE,
        notification_id=alert.notification_id,
        context=alert.context,
    )


def test_a_throttled_alert_cannot_be_claimed_until_the_throttle_ends(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = firing(alert_store)
    before = record(alert_store, alert.id)
    assert store.claim(new_alert(alert.id, T0_MS + THROTTLE - 1)) is None
    assert record(alert_store, alert.id) == before  # the loser changed nothing

    later = new_alert(alert.id, T0_MS + THROTTLE, occurrences=2, title="Payment failures again")
    assert store.claim(later) == Claim(suppressed=0, first_seen=T0_MS, total=3)  # at notified_until: free
    found = record(alert_store, alert.id)
    assert (found.first_seen, found.count, found.notifications) == (T0_MS, 3, 2)
    assert (found.notification_id, found.notified_until, found.last_notified) == (
        later.notification_id,
        later.notify_until,
        later.now,
    )
    assert found.title == "Payment failures again"


def test_a_claim_reports_and_resets_the_repeats_suppressed_before_it(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = firing(alert_store)
    for minute in (1, 2):
        applied, _ = store.repeat(
            alert.id, T0_MS + minute * MINUTE, 1, window_count=minute, summary="again", context={}
        )
        assert applied
    claim = store.claim(new_alert(alert.id, T0_MS + THROTTLE))
    assert claim == Claim(suppressed=2, first_seen=T0_MS, total=4)
    assert record(alert_store, alert.id).suppressed == 0


def test_a_retried_claim_with_the_same_notification_id_wins_again(alert_store: AlertStoreHarness) -> None:
    """The request timed out after the write was applied: its retry must not lose to itself."""
    store = alert_store.store
    alert = firing(alert_store)
    retry = store.claim(alert)
    assert retry is not None
    found = record(alert_store, alert.id)
    assert (found.status, found.notification_id) == (FIRING, alert.notification_id)


def test_acknowledged_and_resolved_alerts_are_not_claimed(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    acknowledged = firing(alert_store)
    store.acknowledge(acknowledged.id, "ops", None, T0_MS + 1)
    assert store.claim(new_alert(acknowledged.id, T0_MS + 2 * THROTTLE)) is None
    gone = resolved(alert_store)
    assert store.claim(new_alert(gone.id, T0_MS + 2 * THROTTLE)) is None
    assert record(alert_store, acknowledged.id).status == ACKNOWLEDGED
    assert record(alert_store, gone.id).status == RESOLVED


def test_concurrent_claims_of_one_alert_have_one_winner(alert_store: AlertStoreHarness) -> None:
    store, alert_id = alert_store.store, unique("alert")
    contenders = [new_alert(alert_id, nid=f"n{index}") for index in range(RACERS)]
    results = race(RACERS, lambda index: store.claim(contenders[index]))
    winners = [index for index, result in enumerate(results) if isinstance(result, Claim)]
    assert len(winners) == 1 and results.count(None) == RACERS - 1, results
    found = record(alert_store, alert_id)
    assert (found.notification_id, found.count, found.notifications) == (f"n{winners[0]}", 1, 1)


# --- repeat ------------------------------------------------------------------------------------


def test_a_repeat_while_throttled_counts_without_notifying(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = firing(alert_store)
    applied, current = store.repeat(
        alert.id, T0_MS + MINUTE, 2, window_count=9, summary="3 failed payments", context={"last_error": "expired"}
    )
    assert applied and current is not None
    assert current == record(alert_store, alert.id)
    assert (current.count, current.suppressed, current.window_count, current.last_seen) == (3, 1, 9, T0_MS + MINUTE)
    assert (current.summary, current.context) == ("3 failed payments", {"last_error": "expired"})
    assert (current.notifications, current.last_notified, current.first_seen) == (1, T0_MS, T0_MS)


def test_a_repeat_is_refused_once_the_throttle_ends_and_returns_the_record(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = firing(alert_store)
    before = record(alert_store, alert.id)
    applied, current = store.repeat(alert.id, T0_MS + THROTTLE, 1, window_count=1, summary="x", context={})
    assert not applied
    assert current == before == record(alert_store, alert.id)


def test_a_repeat_of_an_unknown_alert_is_refused_and_writes_nothing(alert_store: AlertStoreHarness) -> None:
    alert_id = unique("alert")
    assert alert_store.store.repeat(alert_id, T0_MS, 1, window_count=1, summary="x", context={}) == (False, None)
    assert alert_store.store.get(alert_id) is None


def test_an_acknowledged_alert_absorbs_repeats_after_the_throttle(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = firing(alert_store)
    store.acknowledge(alert.id, "ops", "looking", T0_MS + 1)
    applied, current = store.repeat(alert.id, T0_MS + 2 * THROTTLE, 1, window_count=1, summary="x", context={})
    assert applied and current is not None
    assert (current.status, current.count, current.suppressed) == (ACKNOWLEDGED, 2, 1)


def test_a_resolved_alert_refuses_repeats(alert_store: AlertStoreHarness) -> None:
    alert = resolved(alert_store)
    applied, current = alert_store.store.repeat(
        alert.id, T0_MS + 2 * MINUTE, 1, window_count=1, summary="x", context={}
    )
    assert not applied and current is not None
    assert (current.status, current.count) == (RESOLVED, 1)


# --- release and mark_silenced -----------------------------------------------------------------


def test_release_gives_the_throttle_back_only_to_its_own_notification(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = firing(alert_store)
    store.release(alert.id, "someone-else")
    assert record(alert_store, alert.id).notified_until == alert.notify_until
    store.release(alert.id, alert.notification_id)
    assert record(alert_store, alert.id).notified_until == 0
    assert store.claim(new_alert(alert.id, T0_MS + 1)) is not None  # the next occurrence notifies


def test_mark_silenced_moves_the_throttle_of_its_own_notification(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = firing(alert_store)
    until = T0_MS + 3 * THROTTLE
    store.mark_silenced(alert.id, "someone-else", until, 5)
    assert record(alert_store, alert.id).silenced_until is None
    store.mark_silenced(alert.id, alert.notification_id, until, 3)
    found = record(alert_store, alert.id)
    assert (found.notified_until, found.silenced_until, found.suppressed) == (until, until, 3)


def test_release_and_mark_silenced_create_no_record(alert_store: AlertStoreHarness) -> None:
    store, alert_id = alert_store.store, unique("alert")
    store.release(alert_id, "n")
    store.mark_silenced(alert_id, "n", T0_MS, 1)
    assert store.get(alert_id) is None
    assert alert_store.raw_item(alert_id) is None


# --- acknowledge and resolve -------------------------------------------------------------------


def test_acknowledging_a_firing_alert(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = firing(alert_store)
    acknowledged = store.acknowledge(alert.id, "ops@example.com", "on it", T0_MS + MINUTE)
    assert acknowledged == record(alert_store, alert.id)
    assert (acknowledged.status, acknowledged.acknowledged_at) == (ACKNOWLEDGED, T0_MS + MINUTE)
    assert (acknowledged.acknowledged_by, acknowledged.ack_note) == ("ops@example.com", "on it")

    with pytest.raises(AlertConflict) as twice:
        store.acknowledge(alert.id, "someone", None, T0_MS + 2 * MINUTE)
    assert twice.value.record == acknowledged  # the record as it is, unchanged


def test_an_acknowledgement_without_a_note_stores_an_empty_one(alert_store: AlertStoreHarness) -> None:
    alert = firing(alert_store)
    assert alert_store.store.acknowledge(alert.id, "ops", None, T0_MS + 1).ack_note == ""


def test_resolving_sets_the_ttl_and_a_resolved_alert_stays_resolved(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = firing(alert_store)
    expires_at = (T0_MS + MINUTE) // 1000 + 30 * 86400
    done = store.resolve(alert.id, "ops", "rolled back", T0_MS + MINUTE, expires_at)
    assert done == record(alert_store, alert.id)
    assert (done.status, done.resolved_at, done.resolved_by, done.resolution) == (
        RESOLVED,
        T0_MS + MINUTE,
        "ops",
        "rolled back",
    )
    raw = alert_store.raw_item(alert.id)
    assert raw is not None and raw["expires_at"] == expires_at  # DynamoDB's TTL removes it later

    with pytest.raises(AlertConflict) as again:
        store.resolve(alert.id, "ops", "twice", T0_MS + 2 * MINUTE, expires_at + 60)
    assert again.value.record == done
    with pytest.raises(AlertConflict):
        store.acknowledge(alert.id, "ops", None, T0_MS + 2 * MINUTE)
    assert alert_store.raw_item(alert.id) == raw


def test_an_acknowledged_alert_can_be_resolved(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = firing(alert_store)
    store.acknowledge(alert.id, "ops", None, T0_MS + 1)
    done = store.resolve(alert.id, "ops", "done", T0_MS + 2, EXPIRES)
    assert (done.status, done.acknowledged_by) == (RESOLVED, "ops")


def test_transitions_of_an_unknown_alert_raise_not_found_and_create_nothing(alert_store: AlertStoreHarness) -> None:
    store, alert_id = alert_store.store, unique("alert")
    with pytest.raises(AlertNotFound):
        store.acknowledge(alert_id, "ops", None, T0_MS)
    with pytest.raises(AlertNotFound):
        store.resolve(alert_id, "ops", "x", T0_MS, EXPIRES)
    assert store.get(alert_id) is None


def test_concurrent_acknowledgements_have_one_winner(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = firing(alert_store)
    results = race(RACERS, lambda index: store.acknowledge(alert.id, f"ops{index}", None, T0_MS + 1))
    winners = [result for result in results if isinstance(result, AlertRecord)]
    assert len(winners) == 1, results
    assert all(isinstance(result, AlertConflict) for result in results if result is not winners[0])
    assert record(alert_store, alert.id).acknowledged_by == winners[0].acknowledged_by


# --- reopen ------------------------------------------------------------------------------------


def test_reopening_a_resolved_alert_starts_it_afresh(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = firing(alert_store)
    store.acknowledge(alert.id, "ops", "note", T0_MS + 1)
    store.mark_silenced(alert.id, alert.notification_id, T0_MS + 2, 0)
    store.resolve(alert.id, "ops", "fixed", T0_MS + MINUTE, EXPIRES)
    again = new_alert(alert.id, T0_MS + 2 * MINUTE, occurrences=2)
    assert store.reopen(again, T0_MS + MINUTE) == Claim(suppressed=0, first_seen=again.now, total=2)

    found = record(alert_store, alert.id)
    assert (found.status, found.first_seen, found.count, found.notifications) == (FIRING, again.now, 2, 1)
    assert (found.notification_id, found.notified_until) == (again.notification_id, again.notify_until)
    cleared = (
        found.acknowledged_at,
        found.acknowledged_by,
        found.ack_note,
        found.resolved_at,
        found.resolved_by,
        found.resolution,
        found.silenced_until,
    )
    assert cleared == (None,) * 7
    raw = alert_store.raw_item(alert.id)
    assert raw is not None and "expires_at" not in raw  # a firing alert never expires


def test_reopen_needs_the_resolution_it_saw(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = resolved(alert_store, at=T0_MS + MINUTE)
    before = record(alert_store, alert.id)
    assert store.reopen(new_alert(alert.id, T0_MS + 2 * MINUTE), T0_MS + MINUTE - 1) is None
    assert record(alert_store, alert.id) == before
    active = firing(alert_store)
    assert store.reopen(new_alert(active.id, T0_MS + 2 * MINUTE), T0_MS) is None
    assert store.reopen(new_alert(unique("alert")), T0_MS) is None


def test_a_retried_reopen_with_the_same_notification_id_wins_again(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = resolved(alert_store, at=T0_MS + MINUTE)
    again = new_alert(alert.id, T0_MS + 2 * MINUTE)
    assert store.reopen(again, T0_MS + MINUTE) is not None
    assert store.reopen(again, T0_MS + MINUTE) == Claim(0, again.now, again.occurrences)
    assert record(alert_store, alert.id).notification_id == again.notification_id


def test_concurrent_reopens_have_one_winner(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    alert = resolved(alert_store, at=T0_MS + MINUTE)
    contenders = [new_alert(alert.id, T0_MS + 2 * MINUTE, nid=unique(f"n{index}")) for index in range(RACERS)]
    results = race(RACERS, lambda index: store.reopen(contenders[index], T0_MS + MINUTE))
    winners = [index for index, result in enumerate(results) if isinstance(result, Claim)]
    assert len(winners) == 1 and results.count(None) == RACERS - 1, results
    assert record(alert_store, alert.id).notification_id == contenders[winners[0]].notification_id


# --- reads -------------------------------------------------------------------------------------


def test_get_and_alerts_read_what_was_written(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    ids = {firing(alert_store).id, resolved(alert_store).id}
    assert store.get(unique("alert")) is None
    listed = {found.id: found for found in store.alerts() if found.id in ids}
    assert set(listed) == ids
    assert all(listed[alert_id] == store.get(alert_id) for alert_id in ids)


# --- silences ----------------------------------------------------------------------------------


def test_a_silence_is_stored_listed_and_deleted_once(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    silence = Silence(unique("s"), "payment_failure_spike", T0_MS, T0_MS + 3_600_000, "deploy ü", "ops")
    quiet = Silence(unique("s"), "webhook_failure", T0_MS, T0_MS + 60_000, "", "api")
    store.put_silence(silence, silence.ends_at // 1000 + 86400)
    store.put_silence(quiet, quiet.ends_at // 1000 + 86400)
    listed = [found for found in store.silences() if found.id in {silence.id, quiet.id}]
    assert sorted(listed, key=lambda found: found.ends_at) == [quiet, silence]

    assert store.delete_silence(silence.id) == silence
    assert store.delete_silence(silence.id) is None
    assert store.delete_silence(unique("s")) is None
    assert [found for found in store.silences() if found.id in {silence.id, quiet.id}] == [quiet]


def test_a_silence_id_is_created_once(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    first = Silence(unique("s"), "payment_failure_spike", T0_MS, T0_MS + 60_000)
    store.put_silence(first, EXPIRES)
    with pytest.raises(ClientError) as refused:
        store.put_silence(Silence(first.id, "other", T0_MS, T0_MS + 1), EXPIRES)
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert [found for found in store.silences() if found.id == first.id] == [first]


# --- samples -----------------------------------------------------------------------------------


def test_the_first_sample_at_or_after_a_time(alert_store: AlertStoreHarness) -> None:
    store, name = alert_store.store, unique("http")
    assert store.sample_since(name, 0) is None
    store.put_sample(name, T0_MS, {"requests": 200.0, "errors": 3.0}, EXPIRES)
    store.put_sample(name, T0_MS + MINUTE, {"requests": 250.5, "errors": 4.0}, EXPIRES)
    store.put_sample(unique("http"), T0_MS - MINUTE, {"requests": 1.0}, EXPIRES)

    assert store.sample_since(name, T0_MS - 1) == (T0_MS, {"requests": 200.0, "errors": 3.0})
    assert store.sample_since(name, T0_MS) == (T0_MS, {"requests": 200.0, "errors": 3.0})  # inclusive
    assert store.sample_since(name, T0_MS + 1) == (T0_MS + MINUTE, {"requests": 250.5, "errors": 4.0})
    assert store.sample_since(name, T0_MS + MINUTE + 1) is None


def test_a_sample_at_the_same_time_replaces_the_earlier_one(alert_store: AlertStoreHarness) -> None:
    store, name = alert_store.store, unique("http")
    store.put_sample(name, T0_MS, {"requests": 1.0, "errors": 1.0}, EXPIRES)
    store.put_sample(name, T0_MS, {"requests": 2.0}, EXPIRES)
    found = store.sample_since(name, 0)
    assert found == (T0_MS, {"requests": 2.0})
    assert all(isinstance(value, float) for value in found[1].values())


def test_episodes_are_listed_by_type_and_time_and_close_once(alert_store: AlertStoreHarness) -> None:
    store = alert_store.store
    kind, other = unique("episode_type"), unique("episode_other")  # the real table is shared by the tests
    pf = unique("pf")
    store.open_episode(pf, kind, T0_MS)
    store.open_episode(pf, kind, T0_MS)  # a retry: still one episode
    store.open_episode(pf, kind, T0_MS + 10 * MINUTE)
    store.open_episode("qb-abc", other, T0_MS + MINUTE)
    store.close_episode(pf, T0_MS, "acknowledged_at", T0_MS + MINUTE)
    store.close_episode(pf, T0_MS, "acknowledged_at", T0_MS + 2 * MINUTE)  # the first wins
    store.close_episode(pf, T0_MS, "resolved_at", T0_MS + 3 * MINUTE)
    store.close_episode(pf, T0_MS + 99, "resolved_at", T0_MS + 3 * MINUTE)  # no such episode
    found = sorted(store.episodes(kind, T0_MS, T0_MS + 10 * MINUTE), key=lambda e: e.fired_at)
    assert found == [
        Episode(pf, kind, T0_MS, T0_MS + MINUTE, T0_MS + 3 * MINUTE),
        Episode(pf, kind, T0_MS + 10 * MINUTE),
    ]
    assert store.episodes(kind, T0_MS + 1, T0_MS + 10 * MINUTE - 1) == []
    assert [e.alert_id for e in store.episodes(other, 0, T0_MS * 2)] == ["qb-abc"]
    assert not [r for r in store.alerts() if r.id.startswith("episode#")]  # episodes are not alerts

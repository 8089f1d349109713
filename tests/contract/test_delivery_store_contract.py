"""DeliveryStore (alerting.delivery.records): InMemoryDeliveryStore and DynamoDeliveryStore on
AlertDeliveriesTable, one suite.

claim() hands out a lease on one (notification, target): the attempt number to whoever may send,
None while another holds an unexpired lease or once it was sent. A failure frees it at once; a
lease that ran out (strictly before now) can be taken over; each claim counts an attempt.
"""

from __future__ import annotations

from platform_monitoring.alerting.delivery.records import DeliveryStore

from tests.contract.harness import RACERS, T0_MS, race, unique

LEASE = 30_000
EMAIL, SLACK = "email", "slack"


def test_the_first_claim_is_attempt_one_and_holds_a_lease(delivery_store: DeliveryStore) -> None:
    nid = unique("n")
    assert delivery_store.claim(nid, EMAIL, T0_MS, LEASE) == 1
    assert delivery_store.claim(nid, EMAIL, T0_MS + 1, LEASE) is None  # in flight elsewhere
    assert delivery_store.claim(nid, EMAIL, T0_MS + LEASE, LEASE) is None  # the lease's last moment


def test_an_expired_lease_is_taken_over_as_the_next_attempt(delivery_store: DeliveryStore) -> None:
    nid = unique("n")
    assert delivery_store.claim(nid, EMAIL, T0_MS, LEASE) == 1
    assert delivery_store.claim(nid, EMAIL, T0_MS + LEASE + 1, LEASE) == 2
    assert delivery_store.claim(nid, EMAIL, T0_MS + LEASE + 2, LEASE) is None  # the new lease holds
    assert delivery_store.claim(nid, EMAIL, T0_MS + 2 * LEASE + 2, LEASE) == 3


def test_a_sent_delivery_is_never_claimed_again(delivery_store: DeliveryStore) -> None:
    nid = unique("n")
    assert delivery_store.claim(nid, EMAIL, T0_MS, LEASE) == 1
    delivery_store.mark_sent(nid, EMAIL, T0_MS + 10, "ses-message-id")
    assert delivery_store.claim(nid, EMAIL, T0_MS + 11, LEASE) is None
    assert delivery_store.claim(nid, EMAIL, T0_MS + 100 * LEASE, LEASE) is None


def test_a_failed_delivery_can_be_claimed_at_once(delivery_store: DeliveryStore) -> None:
    nid = unique("n")
    assert delivery_store.claim(nid, SLACK, T0_MS, LEASE) == 1
    delivery_store.mark_failed(nid, SLACK, T0_MS + 10, "HTTP 503 from Slack")
    assert delivery_store.claim(nid, SLACK, T0_MS + 11, LEASE) == 2  # within the old lease: failed frees it
    assert delivery_store.claim(nid, SLACK, T0_MS + 12, LEASE) is None
    delivery_store.mark_failed(nid, SLACK, T0_MS + 13, "x" * 2000)  # a long error is fine
    assert delivery_store.claim(nid, SLACK, T0_MS + 14, LEASE) == 3
    delivery_store.mark_sent(nid, SLACK, T0_MS + 15, "")
    assert delivery_store.claim(nid, SLACK, T0_MS + 16, LEASE) is None


def test_targets_and_notifications_are_independent(delivery_store: DeliveryStore) -> None:
    nid, other = unique("n"), unique("n")
    assert delivery_store.claim(nid, EMAIL, T0_MS, LEASE) == 1
    delivery_store.mark_sent(nid, EMAIL, T0_MS, "ok")
    assert delivery_store.claim(nid, SLACK, T0_MS, LEASE) == 1
    assert delivery_store.claim(nid, "sms:+15555550100", T0_MS, LEASE) == 1
    assert delivery_store.claim(other, EMAIL, T0_MS, LEASE) == 1


def test_concurrent_claims_have_one_winner(delivery_store: DeliveryStore) -> None:
    nid = unique("n")
    results = race(RACERS, lambda _: delivery_store.claim(nid, EMAIL, T0_MS, LEASE))
    assert results.count(1) == 1 and results.count(None) == RACERS - 1, results


def test_concurrent_takeovers_of_an_expired_lease_have_one_winner(delivery_store: DeliveryStore) -> None:
    nid = unique("n")
    assert delivery_store.claim(nid, EMAIL, T0_MS, LEASE) == 1
    results = race(RACERS, lambda _: delivery_store.claim(nid, EMAIL, T0_MS + LEASE + 1, LEASE))
    assert results.count(2) == 1 and results.count(None) == RACERS - 1, results


def test_marking_a_delivery_nobody_claimed(delivery_store: DeliveryStore) -> None:
    """The marks are unconditional writes: a sent mark stops every later claim, a failed one frees
    the target for its first attempt."""
    sent, failed = unique("n"), unique("n")
    delivery_store.mark_sent(sent, EMAIL, T0_MS, "ok")
    assert delivery_store.claim(sent, EMAIL, T0_MS + 1, LEASE) is None
    delivery_store.mark_failed(failed, EMAIL, T0_MS, "refused")
    assert delivery_store.claim(failed, EMAIL, T0_MS + 1, LEASE) == 1

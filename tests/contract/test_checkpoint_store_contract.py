"""CheckpointStore (webhooks.reconciliation): InMemoryCheckpointStore and DynamoCheckpointStore on
StripeReconciliationTable, one suite.

acquire() takes the lease of a checkpoint name and returns its checkpoint (None at first); while an
unexpired lease is held by another run it raises LeaseHeld, after the lease's end anyone may take
it. release() gives the lease back and moves the checkpoint forward, never back; a run whose lease
expired and was taken by another cannot release (False) nor move the checkpoint.
"""

from __future__ import annotations

import pytest
from platform_monitoring.webhooks.reconciliation import CheckpointStore, LeaseHeld

from tests.contract.harness import RACERS, race, unique

NOW = 1_795_946_400  # epoch seconds
LEASE = 900


def test_a_new_checkpoint_has_no_position(checkpoint_store: CheckpointStore) -> None:
    name = unique("checkpoint")
    assert checkpoint_store.acquire(name, "run-a", NOW, LEASE) is None
    assert checkpoint_store.release(name, "run-a", NOW - 120)
    assert checkpoint_store.acquire(name, "run-b", NOW + 600, LEASE) == NOW - 120


def test_a_held_lease_refuses_another_run_until_it_expires(checkpoint_store: CheckpointStore) -> None:
    name = unique("checkpoint")
    checkpoint_store.acquire(name, "run-a", NOW, LEASE)
    with pytest.raises(LeaseHeld):
        checkpoint_store.acquire(name, "run-b", NOW + LEASE, LEASE)  # its last second: still held
    assert checkpoint_store.acquire(name, "run-b", NOW + LEASE + 1, LEASE) is None  # expired: taken


def test_the_checkpoint_only_moves_forward(checkpoint_store: CheckpointStore) -> None:
    name = unique("checkpoint")
    checkpoint_store.acquire(name, "run-a", NOW, LEASE)
    assert checkpoint_store.release(name, "run-a", NOW)
    checkpoint_store.acquire(name, "replay", NOW + 10, LEASE)
    assert checkpoint_store.release(name, "replay", NOW - 7200)  # an operator's replay of an older range
    assert checkpoint_store.acquire(name, "run-b", NOW + 20, LEASE) == NOW  # not rewound, lease released


def test_releasing_without_a_checkpoint_keeps_it(checkpoint_store: CheckpointStore) -> None:
    name = unique("checkpoint")
    checkpoint_store.acquire(name, "run-a", NOW, LEASE)
    checkpoint_store.release(name, "run-a", NOW)
    checkpoint_store.acquire(name, "run-b", NOW + 60, LEASE)
    assert checkpoint_store.release(name, "run-b", None)
    assert checkpoint_store.acquire(name, "run-c", NOW + 120, LEASE) == NOW


def test_a_run_whose_lease_was_taken_cannot_release_or_move_the_checkpoint(checkpoint_store: CheckpointStore) -> None:
    name = unique("checkpoint")
    checkpoint_store.acquire(name, "slow", NOW, LEASE)
    checkpoint_store.acquire(name, "next", NOW + LEASE + 1, LEASE)  # the slow run's lease expired
    assert not checkpoint_store.release(name, "slow", NOW + 500)
    assert not checkpoint_store.release(name, "slow", None)
    assert checkpoint_store.release(name, "next", NOW + 800)
    assert checkpoint_store.acquire(name, "after", NOW + 2000, LEASE) == NOW + 800


def test_names_are_independent(checkpoint_store: CheckpointStore) -> None:
    first, second = unique("checkpoint"), unique("checkpoint")
    checkpoint_store.acquire(first, "run-a", NOW, LEASE)
    assert checkpoint_store.acquire(second, "run-b", NOW, LEASE) is None  # not held by run-a's lease


def test_of_runs_starting_together_exactly_one_takes_the_lease(checkpoint_store: CheckpointStore) -> None:
    name = unique("checkpoint")
    results = race(RACERS, lambda index: checkpoint_store.acquire(name, f"run-{index}", NOW, LEASE))
    winners = [index for index, result in enumerate(results) if not isinstance(result, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(results[index], LeaseHeld) for index in range(RACERS) if index not in winners)
    assert checkpoint_store.release(name, f"run-{winners[0]}", NOW)

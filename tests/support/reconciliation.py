"""Stand-ins for Stripe reconciliation's checkpoint store and the Events API, for fast unit tests.

InMemoryCheckpointStore keeps DynamoCheckpointStore's conditions (under a lock); the real store is
exercised on moto server by tests/component/test_stripe_reconciliation.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from platform_monitoring.webhooks.reconciliation import LeaseHeld


class InMemoryCheckpointStore:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def acquire(self, name: str, owner: str, now: int, lease_seconds: int) -> int | None:
        with self._lock:
            item = self.items.setdefault(name, {})
            if "lease_until" in item and item["lease_until"] >= now:
                raise LeaseHeld(name)
            item.update(lease_owner=owner, lease_until=now + lease_seconds)
            checkpoint: int | None = item.get("checkpoint")
            return checkpoint

    def release(self, name: str, owner: str, checkpoint: int | None) -> bool:
        with self._lock:
            item = self.items.get(name, {})
            if item.get("lease_owner") != owner:
                return False
            if checkpoint is not None and ("checkpoint" not in item or item["checkpoint"] < checkpoint):
                item["checkpoint"] = checkpoint
            item.pop("lease_owner", None)
            item.pop("lease_until", None)
            return True


class FakeEventSource:
    """Stripe's Events API over a list of events: the type and `created` filters, pages of `page_size`
    (one call each, the first one even when empty), and failures to raise on chosen calls."""

    def __init__(self, events: list[Mapping[str, Any]] | None = None, page_size: int = 100) -> None:
        self.stored: list[Mapping[str, Any]] = list(events or [])
        self.page_size = page_size
        self.calls = 0
        self.rate_limited = 0
        self.fail_types: dict[str, Exception] = {}

    def events(self, event_type: str, since: int, until: int) -> Iterator[dict[str, Any]]:
        if event_type in self.fail_types:
            self.calls += 1
            raise self.fail_types[event_type]
        matching = [dict(e) for e in self.stored if e["type"] == event_type and since <= e["created"] <= until]
        matching.sort(key=lambda e: -int(e["created"]))  # newest first, as Stripe lists
        self.calls += 1
        for start in range(0, max(len(matching), 1), self.page_size):
            if start:
                self.calls += 1
            yield from matching[start : start + self.page_size]

"""In-memory stand-ins for the library's stores and publisher, for fast unit tests.

Each keeps the same conditions as its real store (under a lock); tests/contract runs one suite on
the fake and on the real store against moto server, so the two cannot drift.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from botocore.exceptions import ClientError
from platform_monitoring.alerting.delivery.history import DeliveryAttempt
from platform_monitoring.alerting.delivery.records import FAILED, SENDING, SENT
from platform_monitoring.alerting.notification import Notification
from platform_monitoring.alerting.store import (
    ACKNOWLEDGED,
    ACTIVE,
    FIRING,
    RESOLVED,
    AlertConflict,
    AlertNotFound,
    AlertRecord,
    Claim,
    Episode,
    NewAlert,
    Silence,
    _context_json,
    episode_id,
)
from platform_monitoring.observability.catalog import CATALOG
from platform_monitoring.observability.store import DROPPED_METRIC, Update, series_key
from platform_monitoring.security.events import SecurityEvent
from platform_monitoring.security.rules import DAY, Block, WindowRule
from platform_monitoring.security.stores import _replace, sort_key, window_keys

_REDIS_PLACES = Decimal("1e-17")


def _redis_add(current: float, amount: float) -> float:
    """HINCRBYFLOAT: Redis adds in long double and keeps the sum as text with 17 decimal places,
    so 0.1 + 0.2 is 0.3 there (not 0.30000000000000004) and an increment below 1e-17 is lost."""
    with localcontext(prec=400):  # enough digits to hold any double to 17 places exactly
        total = Decimal(repr(current)) + Decimal(repr(amount))
        return float(total.quantize(_REDIS_PLACES, rounding=ROUND_HALF_EVEN))


class InMemoryMetricBackend:
    """A fake with the same semantics as the Redis store, for unit tests (each call atomic, as the
    store's Lua script is)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hashes: dict[str, dict[str, float]] = defaultdict(dict)
        self.series: dict[str, set[str]] = defaultdict(set)
        self.round_trips = 0

    def apply(self, updates: list[Update], cap: int) -> None:
        if not updates:
            return  # the Redis store sends nothing then
        with self._lock:
            self.round_trips += 1
            self._apply(updates, cap)

    def _apply(self, updates: list[Update], cap: int) -> None:
        refused: set[tuple[str, str]] = set()
        for update in updates:
            known = self.series[update.metric]
            if (update.metric, update.series) in refused:
                continue
            if update.series not in known:
                if len(known) >= cap:
                    refused.add((update.metric, update.series))
                    dropped = series_key([update.metric])
                    self.series[DROPPED_METRIC].add(dropped)
                    counts = self.hashes[DROPPED_METRIC]
                    counts[dropped] = _redis_add(counts.get(dropped, 0.0), 1.0)
                    continue
                known.add(update.series)
            values = self.hashes[update.metric]
            current = values.get(update.field)
            if update.op == "inc":
                values[update.field] = _redis_add(current or 0.0, update.value)
            elif update.op == "set" or current is None:
                values[update.field] = float(update.value)
            elif update.op == "max":
                values[update.field] = max(current, float(update.value))
            else:  # "min"
                values[update.field] = min(current, float(update.value))

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            self.round_trips += 1
            return {metric.name: dict(self.hashes.get(metric.name, {})) for metric in CATALOG}


# ---------------------------------------------------------------------------
# In memory (unit tests)
# ---------------------------------------------------------------------------
class InMemoryAlertStore:
    """The same conditions as DynamoAlertStore, each applied atomically under one lock.

    `requests` counts calls the way DynamoDB would count requests, for tests that check costs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: dict[str, list[int]] = {}
        self.seen: set[tuple[str, str]] = set()
        self.records: dict[str, dict[str, Any]] = {}
        self.silence_items: dict[str, Silence] = {}
        self.samples: dict[str, dict[int, dict[str, float]]] = {}
        self.episode_items: dict[str, Episode] = {}
        self.requests = 0

    def _count_request(self) -> None:
        self.requests += 1

    def add_events(self, alert_id: str, at_ms: int, n: int, expires_at: int, occurrence_id: str | None = None) -> bool:
        with self._lock:
            self._count_request()
            if occurrence_id is not None and n == 1:
                if (alert_id, occurrence_id) in self.seen:
                    return False
                self.seen.add((alert_id, occurrence_id))
            self.events.setdefault(alert_id, []).extend([at_ms] * n)
            return True

    def count_events(self, alert_id: str, after_ms: int) -> int:
        with self._lock:
            self._count_request()
            return sum(1 for at in self.events.get(alert_id, []) if at > after_ms)

    def _update(
        self,
        alert_id: str,
        condition: Callable[[dict[str, Any] | None], bool],
        change: Callable[[dict[str, Any]], None],
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(old item copy, None) when applied; (None, current copy) when not."""
        with self._lock:
            self._count_request()
            current = self.records.get(alert_id)
            if not condition(current):
                return None, dict(current) if current else None
            old = dict(current or {})
            item = current if current is not None else {"id": alert_id}
            change(item)
            self.records[alert_id] = item
            return old, None

    def repeat(
        self, alert_id: str, now_ms: int, n: int, *, window_count: int, summary: str, context: dict[str, Any]
    ) -> tuple[bool, AlertRecord | None]:
        def condition(item: dict[str, Any] | None) -> bool:
            return item is not None and (
                item["status"] == ACKNOWLEDGED or (item["status"] == FIRING and item["notified_until"] > now_ms)
            )

        def change(item: dict[str, Any]) -> None:
            item.update(
                last_seen=now_ms, summary=summary, context_json=_context_json(context), window_count=window_count
            )
            item["count"] = item.get("count", 0) + n
            item["suppressed"] = item.get("suppressed", 0) + 1

        applied, current = self._update(alert_id, condition, change)
        if applied is not None:
            return True, AlertRecord.from_item(self.records[alert_id])
        return False, AlertRecord.from_item(current) if current else None

    @staticmethod
    def _notify(item: dict[str, Any], alert: NewAlert) -> None:
        item.update(
            type=alert.type,
            severity=alert.severity,
            title=alert.title,
            summary=alert.summary,
            labels=dict(alert.labels),
            context_json=_context_json(alert.context),
            status=FIRING,
            last_seen=alert.now,
            last_notified=alert.now,
            notified_until=alert.notify_until,
            notification_id=alert.notification_id,
            suppressed=0,
            window_count=alert.window_count,
        )

    def claim(self, alert: NewAlert) -> Claim | None:
        def condition(item: dict[str, Any] | None) -> bool:
            # notification_id: a retried request (timeout after DynamoDB applied it) still wins.
            return (
                item is None
                or (item["status"] == FIRING and item["notified_until"] <= alert.now)
                or item.get("notification_id") == alert.notification_id
            )

        def change(item: dict[str, Any]) -> None:
            self._notify(item, alert)
            item.setdefault("first_seen", alert.now)
            item["count"] = item.get("count", 0) + alert.occurrences
            item["notifications"] = item.get("notifications", 0) + 1

        old, _ = self._update(alert.id, condition, change)
        if old is None:
            return None
        return Claim.after(old, alert)

    def reopen(self, alert: NewAlert, resolved_at: int) -> Claim | None:
        def condition(item: dict[str, Any] | None) -> bool:
            return item is not None and (
                (item["status"] == RESOLVED and item.get("resolved_at") == resolved_at)
                or item.get("notification_id") == alert.notification_id
            )

        def change(item: dict[str, Any]) -> None:
            self._notify(item, alert)
            item.update(first_seen=alert.now, count=alert.occurrences, notifications=1)
            for name in (
                "acknowledged_at",
                "acknowledged_by",
                "ack_note",
                "resolved_at",
                "resolved_by",
                "resolution",
                "silenced_until",
                "expires_at",
            ):
                item.pop(name, None)

        old, _ = self._update(alert.id, condition, change)
        return None if old is None else Claim(0, alert.now, alert.occurrences)

    def release(self, alert_id: str, notification_id: str) -> None:
        self._update(
            alert_id,
            lambda item: item is not None and item.get("notification_id") == notification_id,
            lambda item: item.update(notified_until=0),
        )

    def mark_silenced(self, alert_id: str, notification_id: str, until_ms: int, suppressed: int) -> None:
        def change(item: dict[str, Any]) -> None:
            item.update(notified_until=until_ms, silenced_until=until_ms)
            item["suppressed"] = item.get("suppressed", 0) + suppressed

        self._update(alert_id, lambda item: item is not None and item.get("notification_id") == notification_id, change)

    def get(self, alert_id: str) -> AlertRecord | None:
        with self._lock:
            self._count_request()
            item = self.records.get(alert_id)
            return AlertRecord.from_item(item) if item else None

    def alerts(self) -> list[AlertRecord]:
        with self._lock:
            self._count_request()
            return [AlertRecord.from_item(item) for item in self.records.values()]

    def _transition(
        self, alert_id: str, allowed_from: tuple[str, ...], values: dict[str, Any], verb: str
    ) -> AlertRecord:
        old, current = self._update(
            alert_id, lambda item: item is not None and item["status"] in allowed_from, lambda item: item.update(values)
        )
        if old is not None:
            return AlertRecord.from_item(self.records[alert_id])
        if current is None:
            raise AlertNotFound(alert_id)
        record = AlertRecord.from_item(current)
        raise AlertConflict(f"alert {alert_id} is {record.status}; it cannot be {verb}", record)

    def acknowledge(self, alert_id: str, by: str, note: str | None, now_ms: int) -> AlertRecord:
        values = {"status": ACKNOWLEDGED, "acknowledged_at": now_ms, "acknowledged_by": by, "ack_note": note or ""}
        return self._transition(alert_id, (FIRING,), values, "acknowledged")

    def resolve(self, alert_id: str, by: str, resolution: str, now_ms: int, expires_at: int) -> AlertRecord:
        values = {
            "status": RESOLVED,
            "resolved_at": now_ms,
            "resolved_by": by,
            "resolution": resolution,
            "expires_at": expires_at,
        }
        return self._transition(alert_id, ACTIVE, values, "resolved")

    def open_episode(self, alert_id: str, alert_type: str, fired_at: int) -> None:
        with self._lock:
            self._count_request()
            key = episode_id(alert_id, fired_at)
            self.episode_items.setdefault(key, Episode(alert_id, alert_type, fired_at))

    def close_episode(self, alert_id: str, fired_at: int, field: str, at_ms: int) -> None:
        with self._lock:
            self._count_request()
            key = episode_id(alert_id, fired_at)
            episode = self.episode_items.get(key)
            if episode is not None and getattr(episode, field) is None:
                self.episode_items[key] = replace(episode, **{field: at_ms})

    def episodes(self, alert_type: str, since_ms: int, until_ms: int) -> list[Episode]:
        with self._lock:
            self._count_request()
            return sorted(
                (e for e in self.episode_items.values() if e.type == alert_type and since_ms <= e.fired_at <= until_ms),
                key=lambda e: e.fired_at,
            )

    def put_silence(self, silence: Silence, expires_at: int) -> None:
        with self._lock:
            self._count_request()
            if silence.id in self.silence_items:  # what DynamoDB's attribute_not_exists(id) raises
                raise ClientError(
                    {"Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}},
                    "PutItem",
                )
            self.silence_items[silence.id] = silence

    def silences(self) -> list[Silence]:
        with self._lock:
            self._count_request()
            return list(self.silence_items.values())

    def active_silences(self, alert_type: str, now_ms: int) -> list[Silence]:
        with self._lock:
            self._count_request()
            return [s for s in self.silence_items.values() if s.type == alert_type and s.ends_at > now_ms]

    def delete_silence(self, silence_id: str) -> Silence | None:
        with self._lock:
            self._count_request()
            return self.silence_items.pop(silence_id, None)

    def put_sample(self, name: str, at_ms: int, values: dict[str, float], expires_at: int) -> None:
        with self._lock:
            self._count_request()
            self.samples.setdefault(name, {})[at_ms] = dict(values)

    def sample_since(self, name: str, since_ms: int) -> tuple[int, dict[str, float]] | None:
        with self._lock:
            self._count_request()
            times = sorted(at for at in self.samples.get(name, {}) if at >= since_ms)
            return (times[0], dict(self.samples[name][times[0]])) if times else None


class RecordingPublisher:
    """An in-memory topic for unit tests; `fail` makes the next publishes raise.

    Like SNS it returns a new message ID for each publication (`message_ids`, beside
    `notifications`) and refuses an empty filter attribute (alert_type, severity, kind).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.notifications: list[Notification] = []
        self.message_ids: list[str] = []
        self.fail: Exception | None = None

    def publish(self, notification: Notification) -> str:
        if self.fail is not None:
            raise self.fail
        for name in ("alert_type", "severity", "kind"):
            if not getattr(notification, name):
                raise ClientError(
                    {
                        "Error": {
                            "Code": "InvalidParameter",
                            "Message": f"The message attribute '{name}' must contain non-empty message attribute value",
                        }
                    },
                    "Publish",
                )
        message_id = str(uuid.uuid4())
        with self._lock:  # the two lists stay in step under concurrent publishers
            self.notifications.append(notification)
            self.message_ids.append(message_id)
        return message_id


class InMemoryDeliveryStore:
    """Unit tests' fake, same conditions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests = 0

    def claim(self, notification_id: str, target: str, now_ms: int, lease_ms: int) -> int | None:
        with self._lock:
            self.requests += 1
            record = self.records.get((notification_id, target))
            if record is not None and not (
                record["status"] == FAILED or (record["status"] == SENDING and record["lease_until"] < now_ms)
            ):
                return None
            attempts = (record or {}).get("attempts", 0) + 1
            self.records[(notification_id, target)] = {
                "status": SENDING,
                "lease_until": now_ms + lease_ms,
                "attempts": attempts,
            }
            return int(attempts)

    def _set(self, notification_id: str, target: str, status: str, note: str) -> None:
        # An unconditional write, as in DynamoDB: it creates the record when nobody claimed it.
        with self._lock:
            self.requests += 1
            self.records.setdefault((notification_id, target), {}).update(status=status, note=note)

    def mark_sent(self, notification_id: str, target: str, now_ms: int, receipt: str) -> None:
        self._set(notification_id, target, SENT, receipt)

    def mark_failed(self, notification_id: str, target: str, now_ms: int, error: str) -> None:
        self._set(notification_id, target, FAILED, error)


class InMemoryBlockStore:
    """The unit tests' fake, with the DynamoDB store's conditions applied under a lock."""

    def __init__(self) -> None:
        self.occurrences: dict[str, set[str]] = {}
        self.blocks: dict[str, Block] = {}
        self.lock = threading.Lock()
        self.round_trips = 0

    def add_occurrences(self, event: SecurityEvent, rules: tuple[WindowRule, ...], expires_at: int) -> bool:
        keys = window_keys(event, rules)
        with self.lock:
            self.round_trips += 1
            if any(sk in self.occurrences.get(pk, set()) for pk, sk in keys):
                return False
            for pk, sk in keys:
                self.occurrences.setdefault(pk, set()).add(sk)
            return True

    def remove_occurrences(self, event: SecurityEvent, rules: tuple[WindowRule, ...]) -> None:
        with self.lock:
            self.round_trips += 1
            for pk, sk in window_keys(event, rules):
                self.occurrences.get(pk, set()).discard(sk)

    def count(self, rule: WindowRule, ip: str, since_ms: int) -> int:
        with self.lock:
            self.round_trips += 1
            return sum(1 for sk in self.occurrences.get(f"{rule.name}#{ip}", set()) if sk > sort_key(since_ms))

    def get(self, ip: str) -> Block | None:
        with self.lock:
            self.round_trips += 1
            return self.blocks.get(ip)

    def active_blocks(self, now_ms: int) -> list[Block]:
        with self.lock:
            self.round_trips += 1
            return [block for block in self.blocks.values() if block.until_ms > now_ms]

    def put_block(self, block: Block, previous: Block | None, now_ms: int, expires_at: int, *, force: bool) -> bool:
        with self.lock:
            self.round_trips += 1
            current = self.blocks.get(block.ip)
            if current is not None and current.active(now_ms) and not force:
                return False
            # `previous` is the block the caller read, known by its blocked_at_ms (the DynamoDB
            # condition): a block ended meanwhile is still that block, a new one is not.
            if _blocked_at(current) != _blocked_at(previous):
                return False
            self.blocks[block.ip] = _as_stored(block)
            return True

    def end_block(self, ip: str, now_ms: int, by: str) -> Block | None:
        with self.lock:
            self.round_trips += 1
            current = self.blocks.get(ip)
            if current is None or not current.active(now_ms):
                return current
            ended = _replace(current, until_ms=now_ms, unblocked_at_ms=now_ms, unblocked_by=by)
            self.blocks[ip] = ended
            return ended


def _as_stored(block: Block) -> Block:
    """What DynamoBlockStore reads back after put_block: no unblocking fields (end_block writes
    those), one offence and a day's duration when they were unset."""
    return _replace(
        block,
        offences=block.offences or 1,
        duration_seconds=block.duration_seconds or DAY,
        unblocked_at_ms=None,
        unblocked_by=None,
    )


def _blocked_at(block: Block | None) -> int | None:
    return None if block is None else block.blocked_at_ms


class InMemoryEscalationStore:
    """DynamoEscalationStore's conditions on an InMemoryAlertStore's records (under its lock)."""

    def __init__(self, alerts: InMemoryAlertStore) -> None:
        self.alerts = alerts

    def advance(self, record: AlertRecord, new_key: str, now_ms: int) -> bool:
        def condition(item: dict[str, Any] | None) -> bool:
            return (
                item is not None
                and item["status"] == FIRING
                and item.get("first_seen") == record.first_seen
                and item.get("escalation_key") == record.escalation_key
            )

        def change(item: dict[str, Any]) -> None:
            item.update(escalation_key=new_key, last_notified=now_ms)
            item["notifications"] = item.get("notifications", 0) + 1

        old, _ = self.alerts._update(record.id, condition, change)
        return old is not None

    def give_back(self, alert_id: str, new_key: str, old_key: str | None) -> None:
        def change(item: dict[str, Any]) -> None:
            if old_key is None:
                item.pop("escalation_key", None)
            else:
                item["escalation_key"] = old_key

        self.alerts._update(alert_id, lambda item: item is not None and item.get("escalation_key") == new_key, change)

    def unacknowledge(
        self, record: AlertRecord, new_key: str, notification_id: str, now_ms: int, notify_until: int
    ) -> bool:
        def condition(item: dict[str, Any] | None) -> bool:
            return (
                item is not None
                and item["status"] == ACKNOWLEDGED
                and item.get("acknowledged_at") == record.acknowledged_at
            )

        def change(item: dict[str, Any]) -> None:
            item.update(
                status=FIRING,
                escalation_key=new_key,
                notification_id=notification_id,
                last_notified=now_ms,
                notified_until=notify_until,
            )
            for name in ("acknowledged_at", "acknowledged_by", "ack_note"):
                item.pop(name, None)
            item["notifications"] = item.get("notifications", 0) + 1

        old, _ = self.alerts._update(record.id, condition, change)
        return old is not None


class InMemoryDeliveryHistory:
    """DynamoDeliveryHistory in a list: oldest first, the newest `limit` per alert."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempts: list[DeliveryAttempt] = []

    def record(self, attempt: DeliveryAttempt) -> None:
        with self._lock:
            self.attempts.append(attempt)

    def for_alert(self, alert_id: str, limit: int = 200) -> list[DeliveryAttempt]:
        with self._lock:
            found = sorted((a for a in self.attempts if a.alert_id == alert_id), key=lambda a: a.sort_key)
            return found[-limit:]

    def since(self, alert_id: str, since_ms: int) -> list[DeliveryAttempt]:
        with self._lock:
            found = (a for a in self.attempts if a.alert_id == alert_id and a.at >= since_ms)
            return sorted(found, key=lambda a: a.sort_key)

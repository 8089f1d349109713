"""Escalation and acknowledgement timeouts (PagerDuty's model), evaluated every minute.

A rule's `escalation` (alert_rules.json; see alerting/rules.py) says whom to page again while an
alert fires unacknowledged. ScheduledChecksFunction hands this module the active alerts after it
has resolved what cleared, and for each alert whose rule escalates:

- firing: the episode started when the alert fired (its `first_seen`) or when its
  acknowledgement timed out. When the next step is due, one conditional write on the alert's
  record moves `escalation_key` from "<start>:<pages sent>" to "<start>:<due page>"; only the run
  that wins the write publishes the page, so two runs at once never page twice, and a step
  missed while the schedule was down is sent once (the latest due), not replayed.
- acknowledged for longer than `ack_timeout_seconds`: one conditional write (still acknowledged,
  by the same acknowledgement) makes it firing again with a new episode; the winner pages the
  rule's channels as when it first fired, and the escalation starts over.

Resolving (by hand or by the schedule) changes the status, so every later write's condition
fails: resolve stops everything. A silenced alert type is not escalated while the silence lasts.
The pages carry deterministic notification ids, so a redelivered topic message is not sent twice
(the dispatcher's delivery records).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.alerting.rules import AlertRule, Escalation, describe_seconds
from platform_monitoring.alerting.store import ACKNOWLEDGED, FIRING, AlertRecord
from platform_monitoring.observability.logging import monitoring_log

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from platform_monitoring.alerting.service import AlertingService

ESCALATED, ACK_TIMEOUT = "escalated", "ack_timeout"


def episode(record: AlertRecord) -> tuple[int, int]:
    """(episode start in ms, escalation pages sent in it) from the record's escalation_key."""
    if record.escalation_key:
        start, _, level = record.escalation_key.partition(":")
        # A key older than first_seen belongs to an episode before the alert was resolved and reopened.
        if start.isdigit() and level.isdigit() and int(start) >= record.first_seen:
            return int(start), int(level)
    return record.first_seen, 0


def span(seconds: int) -> str:
    """3600 -> '1 hour', 600 -> '10 minutes' (describe_seconds says 'hour', for 'in the last hour')."""
    text = describe_seconds(seconds)
    return text if text[0].isdigit() else f"1 {text}"


def escalation_key(start_ms: int, level: int) -> str:
    return f"{start_ms}:{level}"


def page_id(*parts: object) -> str:
    """A notification id the same in every run that could send this page (so a retry is deduplicated)."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


class EscalationStore(Protocol):
    def advance(self, record: AlertRecord, new_key: str, now_ms: int) -> bool:
        """Set escalation_key to new_key if the alert still fires in the same episode as record; True if applied."""
        ...

    def give_back(self, alert_id: str, new_key: str, old_key: str | None) -> None:
        """Undo advance (the page could not be published), unless someone moved on meanwhile."""
        ...

    def unacknowledge(
        self, record: AlertRecord, new_key: str, notification_id: str, now_ms: int, notify_until: int
    ) -> bool:
        """Make the acknowledged alert firing again, if still acknowledged by the same acknowledgement; True if so."""
        ...


class DynamoEscalationStore:
    """The escalation writes on AlertsTable (each one conditional UpdateItem)."""

    def __init__(self, client: DynamoDBClient, alerts_table: str) -> None:
        self._client = client
        self.alerts_table = alerts_table

    def _update(self, alert_id: str, values: dict[str, Any], **request: Any) -> dict[str, Any] | None:
        from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415

        serialize = TypeSerializer().serialize
        client = self._client
        try:
            response = client.update_item(
                TableName=self.alerts_table,
                Key={"id": {"S": alert_id}},
                ExpressionAttributeValues={name: serialize(value) for name, value in values.items()},
                **request,
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return dict(response.get("Attributes") or {})

    def advance(self, record: AlertRecord, new_key: str, now_ms: int) -> bool:
        seen = "escalation_key = :seen" if record.escalation_key else "attribute_not_exists(escalation_key)"
        values: dict[str, Any] = {":firing": FIRING, ":fs": record.first_seen, ":key": new_key, ":now": now_ms}
        values[":one"] = 1
        if record.escalation_key:
            values[":seen"] = record.escalation_key
        applied = self._update(
            record.id,
            values,
            UpdateExpression="SET escalation_key = :key, last_notified = :now ADD notifications :one",
            ConditionExpression=f"#status = :firing AND first_seen = :fs AND {seen}",
            ExpressionAttributeNames={"#status": "status"},
            ReturnValues="UPDATED_NEW",
        )
        return applied is not None

    def give_back(self, alert_id: str, new_key: str, old_key: str | None) -> None:
        values: dict[str, Any] = {":new": new_key}
        if old_key is None:
            update = "REMOVE escalation_key"
        else:
            update, values[":old"] = "SET escalation_key = :old", old_key
        self._update(alert_id, values, UpdateExpression=update, ConditionExpression="escalation_key = :new")

    def unacknowledge(
        self, record: AlertRecord, new_key: str, notification_id: str, now_ms: int, notify_until: int
    ) -> bool:
        applied = self._update(
            record.id,
            {
                ":ack": ACKNOWLEDGED,
                ":at": record.acknowledged_at or 0,
                ":firing": FIRING,
                ":key": new_key,
                ":nid": notification_id,
                ":now": now_ms,
                ":until": notify_until,
                ":one": 1,
            },
            UpdateExpression="SET #status = :firing, escalation_key = :key, notification_id = :nid, "
            "last_notified = :now, notified_until = :until REMOVE acknowledged_at, acknowledged_by, ack_note "
            "ADD notifications :one",
            ConditionExpression="#status = :ack AND acknowledged_at = :at",
            ExpressionAttributeNames={"#status": "status"},
        )
        return applied is not None


@dataclass(frozen=True)
class Page:
    """One page this run sent (or tried to): an escalation step or an expired acknowledgement."""

    alert_id: str
    alert_type: str
    kind: str  # escalated | ack_timeout
    level: int
    channels: tuple[str, ...]
    notification_id: str
    outcome: str = "paged"  # paged | error (publishing failed; the next run tries again)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "type": self.alert_type,
            "kind": self.kind,
            "level": self.level,
            "channels": list(self.channels),
            "outcome": self.outcome,
        }


class Escalator:
    """Pages again the alerts nobody acknowledged, and un-acknowledges expired acknowledgements."""

    def __init__(self, alerting: AlertingService, store: EscalationStore) -> None:
        self.alerting = alerting
        self.store = store

    def evaluate(self, records: Iterable[AlertRecord]) -> list[Page]:
        """Every page due now for these (active) alerts; each alert's failure is logged and skipped."""
        pages: list[Page] = []
        now = self.alerting.now_ms()
        for record in records:
            rule = self.alerting.rules.get(record.type)
            if rule is None or rule.escalation is None or not record.active:
                continue
            escalation = rule.escalation
            # The alert's own title and severity: one fed in from Prometheus or CloudWatch brings them.
            rule = replace(rule, title=record.title, severity=record.severity)
            try:
                page = self._evaluate(rule, escalation, record, now)
            except Exception:  # one alert's failure must not stop the others' escalation
                monitoring_log.exception("Escalation failed", extra={"alert_id": record.id})
                continue
            if page is not None:
                pages.append(page)
        return pages

    def _evaluate(self, rule: AlertRule, escalation: Escalation, record: AlertRecord, now: int) -> Page | None:
        if record.status == ACKNOWLEDGED:
            timeout = escalation.ack_timeout_seconds
            expired = timeout is not None and record.acknowledged_at is not None
            if not expired or now < (record.acknowledged_at or 0) + (timeout or 0) * 1000:
                return None
            if self.alerting.active_silence(rule.type, now) is not None:
                return None
            return self._ack_timed_out(rule, timeout or 0, record, now)
        if record.status == FIRING:
            return self._escalate(rule, escalation, record, now)
        return None

    def _escalate(self, rule: AlertRule, escalation: Escalation, record: AlertRecord, now: int) -> Page | None:
        start, sent = episode(record)
        due = escalation.due_level((now - start) / 1000)
        if due <= sent or self.alerting.active_silence(rule.type, now) is not None:
            return None
        new_key = escalation_key(start, due)
        if not self.store.advance(record, new_key, now):
            return None  # another run sent this page, or the alert was acknowledged or resolved meanwhile
        after = span(escalation.page_at(due) or 0)
        page = Page(record.id, rule.type, ESCALATED, due, escalation.channels(due), page_id(record.id, start, due))
        summary = f"Not acknowledged after {after}: {record.summary}"
        if not self._publish(rule, record, page, summary, now):
            self.store.give_back(record.id, new_key, record.escalation_key)
            return replace(page, outcome="error")
        return page

    def _ack_timed_out(self, rule: AlertRule, timeout: int, record: AlertRecord, now: int) -> Page | None:
        notification_id = page_id(record.id, ACK_TIMEOUT, record.acknowledged_at)
        if not self.store.unacknowledge(
            record, escalation_key(now, 0), notification_id, now, now + rule.throttle_seconds * 1000
        ):
            return None  # another run did it, or it was resolved meanwhile
        monitoring_log.info(
            "Acknowledgement timed out; the alert fires again",
            extra={"alert_id": record.id, "acknowledged_by": record.acknowledged_by},
        )
        page = Page(record.id, rule.type, ACK_TIMEOUT, 0, rule.channels, notification_id)
        by = f" by {record.acknowledged_by}" if record.acknowledged_by else ""
        summary = f"Acknowledged{by} {span(timeout)} ago and still firing: {record.summary}"
        if not self._publish(rule, record, page, summary, now):
            return replace(page, outcome="error")
        return page

    def _publish(self, rule: AlertRule, record: AlertRecord, page: Page, summary: str, now: int) -> bool:
        notification = self.alerting.firing_notification(
            rule,
            notification_id=page.notification_id,
            alert_id=record.id,
            labels=record.labels,
            summary=summary,
            count=record.window_count,
            total=record.count,
            suppressed=record.suppressed,
            first_seen=record.first_seen,
            last_seen=record.last_seen,
            context=record.context,
            channels=page.channels,
            now=now,
            escalation=page.level,
        )
        try:
            self.alerting.publisher.publish(notification)
        except Exception:
            monitoring_log.exception("Could not publish the escalation page", extra={"alert_id": record.id})
            return False
        monitoring_log.warning(
            f"Alert escalated: {summary}",
            extra={"alert_id": record.id, "kind": page.kind, "level": page.level, "channels": list(page.channels)},
        )
        return True

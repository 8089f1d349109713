"""Alert state in DynamoDB: rule windows, active alert records, silences, sampled counters.

Every decision two Lambdas could make at once is one conditional write here, so DynamoDB
settles the race; the service (alerting/service.py) holds the logic, this module the writes.

Tables (see template.yaml and docs/alerting.md):
- AlertWindowsTable, key (pk, sk), TTL `expires_at`:
    occurrences  pk "event#<alert id>"   sk "<epoch ms, 15 digits>#<random hex>"
    samples      pk "sample#<name>"      sk "<epoch ms, 15 digits>"   (counter totals, for rates)
- AlertsTable, key `id` (the alert id: its type, plus a hash of its grouping labels), TTL
  `expires_at` set only once resolved. Beside each alert, one item per episode (fired ... resolved;
  the record itself is reused when the alert fires again): id "episode#<alert id>#<fired at ms>",
  `episode_of` (the type), `fired_at`, `acknowledged_at`, `resolved_at`, TTL 35 days; index
  `episodes-by-type` (`episode_of`, `fired_at`) holds only those (sparse): the alert quality
  statistics (alerting/quality.py) are one Query per rule, and the Scan of the alerts skips them.
- AlertSilencesTable, key `id`, TTL `expires_at` (a day after the silence ends); index
  `by-type` (`type`, `ends_at`): the silences of one type still running, for every firing decision.

`tests/support/fakes.py` has the unit tests' InMemoryAlertStore, with the same conditions applied
under a lock; tests/contract runs one suite on both.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.core.dynamo import CLAIM, cancelled_by_own_claim, count_after, new_claim

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


FIRING, ACKNOWLEDGED, RESOLVED = "firing", "acknowledged", "resolved"
SILENCES_BY_TYPE = "by-type"  # AlertSilencesTable's index (template.yaml)
EPISODES_BY_TYPE = "episodes-by-type"  # AlertsTable's index of the episode items (template.yaml)
EPISODE_RETENTION_SECONDS = 35 * 86400  # the 30-day statistics, and the flap before their first day


STATUSES = (FIRING, ACKNOWLEDGED, RESOLVED)
ACTIVE = (FIRING, ACKNOWLEDGED)
MAX_CONTEXT_CHARS = 4000


# The sort key of an occurrence: its time, then a random part, so concurrent ones never collide.
_SK_TIME = "{:015d}"
_AFTER_EVERY_ID = "#~"  # "~" sorts after every hex digit: "<t>#~" is above all occurrences at t


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class AlertNotFound(LookupError):
    pass


class AlertConflict(Exception):
    """The alert is not in a state that allows the change (acknowledging a resolved alert)."""

    def __init__(self, message: str, record: AlertRecord) -> None:
        super().__init__(message)
        self.record = record


@dataclass
class AlertRecord:
    """One alert (type plus grouping labels) and its lifecycle; times in epoch milliseconds."""

    id: str
    type: str = ""
    severity: str = ""
    status: str = ""  # "" only for an item caught half-written (the decision retries)
    title: str = ""
    summary: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    first_seen: int = 0
    last_seen: int = 0
    count: int = 0  # occurrences since it started firing: the one that fired it and every repeat
    window_count: int = 0  # occurrences in the rule's window at the last one (count rules)
    suppressed: int = 0  # repeats not notified since the last notification
    notifications: int = 0
    last_notified: int | None = None
    notified_until: int = 0  # the throttle: no new notification before this
    notification_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    acknowledged_at: int | None = None
    acknowledged_by: str | None = None
    ack_note: str | None = None
    resolved_at: int | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    silenced_until: int | None = None
    escalation_key: str | None = None  # "<episode start ms>:<pages sent>", written by alerting/escalation.py

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "severity": self.severity,
            "status": self.status,
            "title": self.title,
            "summary": self.summary,
            "labels": self.labels,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "count": self.count,
            "window_count": self.window_count,
            "suppressed": self.suppressed,
            "notifications": self.notifications,
            "last_notified": iso(self.last_notified),
            "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_note": self.ack_note or None,
            "resolved_at": iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "resolution": self.resolution,
            "silenced_until": iso(self.silenced_until),
            "context": self.context,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> AlertRecord:
        known = {name: item[name] for name in cls.__dataclass_fields__ if name in item and name != "context"}
        context = item.get("context_json")
        known["context"] = json.loads(context) if isinstance(context, str) else {}
        known["labels"] = dict(known.get("labels") or {})
        return cls(**known)


@dataclass(frozen=True)
class Silence:
    """A time-bounded mute of one alert type (deployments, maintenance)."""

    id: str
    type: str
    starts_at: int
    ends_at: int
    reason: str = ""
    created_by: str = "api"

    def active_at(self, now_ms: int) -> bool:
        return self.starts_at <= now_ms < self.ends_at

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "reason": self.reason,
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class Episode:
    """One firing of an alert, until it resolved: what the quality statistics are made of."""

    alert_id: str
    type: str
    fired_at: int
    acknowledged_at: int | None = None  # the first acknowledgement
    resolved_at: int | None = None


def episode_id(alert_id: str, fired_at: int) -> str:
    return f"episode#{alert_id}#{fired_at:015d}"


@dataclass(frozen=True)
class Claim:
    """Won a notifying write: the repeats suppressed before it, and the alert's totals after it."""

    suppressed: int
    first_seen: int
    total: int

    @classmethod
    def after(cls, old: Mapping[str, Any], alert: NewAlert) -> Claim:
        """The claim from the record as it was before the winning write (empty for a new alert)."""
        return cls(
            int(old.get("suppressed", 0)),
            int(old.get("first_seen", alert.now)),
            int(old.get("count", 0)) + alert.occurrences,
        )


@dataclass(frozen=True)
class NewAlert:
    """What a notifying write sets on the record."""

    id: str
    type: str
    severity: str
    title: str
    summary: str
    labels: dict[str, str]
    context: dict[str, Any]
    now: int
    notify_until: int
    notification_id: str
    occurrences: int  # added to the record's count
    window_count: int = 0  # what the rule's window held when this call decided


class AlertStore(Protocol):
    # rule windows
    def add_events(
        self, alert_id: str, at_ms: int, n: int, expires_at: int, occurrence_id: str | None = None
    ) -> bool: ...
    def count_events(self, alert_id: str, after_ms: int) -> int: ...

    # alert records; each returns None (or False) when its condition failed
    def repeat(
        self, alert_id: str, now_ms: int, n: int, *, window_count: int, summary: str, context: dict[str, Any]
    ) -> tuple[bool, AlertRecord | None]: ...
    def claim(self, alert: NewAlert) -> Claim | None: ...
    def reopen(self, alert: NewAlert, resolved_at: int) -> Claim | None: ...
    def release(self, alert_id: str, notification_id: str) -> None: ...
    def mark_silenced(self, alert_id: str, notification_id: str, until_ms: int, suppressed: int) -> None: ...
    def get(self, alert_id: str) -> AlertRecord | None: ...
    def alerts(self) -> list[AlertRecord]: ...
    def acknowledge(self, alert_id: str, by: str, note: str | None, now_ms: int) -> AlertRecord: ...
    def resolve(self, alert_id: str, by: str, resolution: str, now_ms: int, expires_at: int) -> AlertRecord: ...

    # episodes (alerting/quality.py); each write is idempotent
    def open_episode(self, alert_id: str, alert_type: str, fired_at: int) -> None: ...
    def close_episode(self, alert_id: str, fired_at: int, field: str, at_ms: int) -> None: ...  # first wins
    def episodes(self, alert_type: str, since_ms: int, until_ms: int) -> list[Episode]: ...  # fired between

    # silences
    def put_silence(self, silence: Silence, expires_at: int) -> None: ...
    def silences(self) -> list[Silence]: ...
    def active_silences(self, alert_type: str, now_ms: int) -> list[Silence]: ...  # ending after now_ms
    def delete_silence(self, silence_id: str) -> Silence | None: ...

    # sampled counter totals (the error rate over five minutes)
    def put_sample(self, name: str, at_ms: int, values: dict[str, float], expires_at: int) -> None: ...
    def sample_since(self, name: str, since_ms: int) -> tuple[int, dict[str, float]] | None: ...


def event_key(alert_id: str) -> str:
    return f"event#{alert_id}"


def seen_key(alert_id: str) -> str:
    """The partition of the occurrence IDs an alert's window has recorded (see add_events)."""
    return f"seen#{alert_id}"


def event_sort_key(at_ms: int) -> str:
    return _SK_TIME.format(at_ms) + "#" + uuid.uuid4().hex


def after_sort_key(after_ms: int) -> str:
    """Sort keys above this are the occurrences later than after_ms (an occurrence at after_ms is not)."""
    return _SK_TIME.format(after_ms) + _AFTER_EVERY_ID


def _context_json(context: Mapping[str, Any]) -> str:
    text = json.dumps(context, default=str, separators=(",", ":"))
    if len(text) <= MAX_CONTEXT_CHARS:
        return text
    return json.dumps({"truncated": text[: MAX_CONTEXT_CHARS - 100]})


# ---------------------------------------------------------------------------
# DynamoDB
# ---------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """DynamoDB's Decimals back to int/float, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | set):
        return [_plain(item) for item in value]
    return value


def _dynamo(value: Any) -> Any:
    """Python values for TypeSerializer (which refuses floats)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {key: _dynamo(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_dynamo(item) for item in value]
    return value


class DynamoAlertStore:
    """AlertStore on DynamoDB through the low-level client (one request per method, except pages)."""

    def __init__(self, client: DynamoDBClient, alerts_table: str, windows_table: str, silences_table: str) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer  # noqa: PLC0415

        self._client = client
        self.alerts_table = alerts_table
        self.windows_table = windows_table
        self.silences_table = silences_table
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    # -- helpers ---------------------------------------------------------------
    def _values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self._serializer.serialize(_dynamo(value)) for name, value in values.items()}

    def _item(self, item: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if not item:
            return None
        return {name: _plain(self._deserializer.deserialize(value)) for name, value in item.items()}

    def _record(self, item: Mapping[str, Any] | None) -> AlertRecord | None:
        plain = self._item(item)
        return AlertRecord.from_item(plain) if plain else None

    def _conditional_update(self, **request: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(attributes returned, None) when applied; (None, current item or None) when the condition failed."""
        client = self._client
        try:
            response = client.update_item(ReturnValuesOnConditionCheckFailure="ALL_OLD", **request)
        except client.exceptions.ConditionalCheckFailedException as failed:
            current: Any = failed.response.get("Item")  # ReturnValuesOnConditionCheckFailure=ALL_OLD
            return None, self._item(current) if current else None
        return self._item(response.get("Attributes")) or {}, None

    # -- windows -------------------------------------------------------------
    def add_events(self, alert_id: str, at_ms: int, n: int, expires_at: int, occurrence_id: str | None = None) -> bool:
        """Record n occurrences; False (nothing written) when occurrence_id was recorded before.

        An occurrence with an ID (a Stripe event, a security event) is written in one transaction with
        a marker that must not exist yet, so the retry of a message whose alert failed half-way
        (recorded, then SNS refused the publication) does not count the same occurrence twice.
        """

        def item() -> dict[str, Any]:
            return self._values({"pk": event_key(alert_id), "sk": event_sort_key(at_ms), "expires_at": expires_at})

        if occurrence_id is not None and n == 1:
            claim = new_claim()  # core/dynamo.py: a retry that meets its own write still counts
            marker = self._values(
                {"pk": seen_key(alert_id), "sk": occurrence_id, "expires_at": expires_at, CLAIM: claim}
            )
            try:
                self._client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self.windows_table,
                                "Item": marker,
                                "ConditionExpression": "attribute_not_exists(pk)",
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                            }
                        },
                        {"Put": {"TableName": self.windows_table, "Item": item()}},
                    ]
                )
            except self._client.exceptions.TransactionCanceledException as error:
                own = cancelled_by_own_claim(error, claim)
                if own is None:
                    raise
                return own
            return True
        if n == 1:
            self._client.put_item(TableName=self.windows_table, Item=item())
            return True
        for start in range(0, n, 25):  # BatchWriteItem takes 25 items
            pending: Any = {self.windows_table: [{"PutRequest": {"Item": item()}} for _ in range(min(25, n - start))]}
            for _ in range(5):
                pending = self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems")
                if not pending:
                    break
            else:
                raise RuntimeError("DynamoDB left occurrences unprocessed after 5 attempts")
        return True

    def count_events(self, alert_id: str, after_ms: int) -> int:
        return count_after(self._client, self.windows_table, event_key(alert_id), after_sort_key(after_ms))

    # -- records ---------------------------------------------------------------
    def repeat(
        self, alert_id: str, now_ms: int, n: int, *, window_count: int, summary: str, context: dict[str, Any]
    ) -> tuple[bool, AlertRecord | None]:
        applied, current = self._conditional_update(
            TableName=self.alerts_table,
            Key=self._values({"id": alert_id}),
            UpdateExpression="SET last_seen = :now, summary = :summary, context_json = :ctx, window_count = :wc "
            "ADD #count :n, suppressed :one",
            ConditionExpression="#status = :ack OR (#status = :firing AND notified_until > :now)",
            ExpressionAttributeNames={"#status": "status", "#count": "count"},
            ExpressionAttributeValues=self._values(
                {
                    ":now": now_ms,
                    ":n": n,
                    ":one": 1,
                    ":ack": ACKNOWLEDGED,
                    ":firing": FIRING,
                    ":summary": summary,
                    ":ctx": _context_json(context),
                    ":wc": window_count,
                }
            ),
            ReturnValues="ALL_NEW",
        )
        if applied is not None:
            return True, AlertRecord.from_item(applied)
        return False, AlertRecord.from_item(current) if current else None

    def _notify_values(self, alert: NewAlert) -> dict[str, Any]:
        return {
            ":type": alert.type,
            ":severity": alert.severity,
            ":title": alert.title,
            ":summary": alert.summary,
            ":labels": alert.labels,
            ":ctx": _context_json(alert.context),
            ":firing": FIRING,
            ":now": alert.now,
            ":until": alert.notify_until,
            ":nid": alert.notification_id,
            ":n": alert.occurrences,
            ":wc": alert.window_count,
            ":zero": 0,
            ":one": 1,
        }

    _NOTIFY_SET = (
        "#type = :type, severity = :severity, title = :title, summary = :summary, labels = :labels, "
        "context_json = :ctx, #status = :firing, last_seen = :now, last_notified = :now, "
        "notified_until = :until, notification_id = :nid, suppressed = :zero, window_count = :wc"
    )

    def claim(self, alert: NewAlert) -> Claim | None:
        old, _ = self._conditional_update(
            TableName=self.alerts_table,
            Key=self._values({"id": alert.id}),
            UpdateExpression=f"SET {self._NOTIFY_SET}, first_seen = if_not_exists(first_seen, :now), "
            "#count = if_not_exists(#count, :zero) + :n ADD notifications :one",
            # notification_id = :nid: a retried request (timeout after DynamoDB applied it) still wins.
            ConditionExpression="attribute_not_exists(id) OR (#status = :firing AND notified_until <= :now) "
            "OR notification_id = :nid",
            ExpressionAttributeNames={"#status": "status", "#count": "count", "#type": "type"},
            ExpressionAttributeValues=self._values(self._notify_values(alert)),
            ReturnValues="ALL_OLD",
        )
        if old is None:
            return None
        return Claim.after(old, alert)

    def reopen(self, alert: NewAlert, resolved_at: int) -> Claim | None:
        applied, _ = self._conditional_update(
            TableName=self.alerts_table,
            Key=self._values({"id": alert.id}),
            UpdateExpression=f"SET {self._NOTIFY_SET}, first_seen = :now, #count = :n, notifications = :one "
            "REMOVE acknowledged_at, acknowledged_by, ack_note, resolved_at, resolved_by, resolution, "
            "silenced_until, expires_at",
            ConditionExpression="(#status = :resolved AND resolved_at = :resolved_at) OR notification_id = :nid",
            ExpressionAttributeNames={"#status": "status", "#count": "count", "#type": "type"},
            ExpressionAttributeValues=self._values(
                {**self._notify_values(alert), ":resolved": RESOLVED, ":resolved_at": resolved_at}
            ),
            ReturnValues="UPDATED_OLD",
        )
        # A reopened alert starts afresh: first seen now, counting from this call's occurrences.
        return None if applied is None else Claim(0, alert.now, alert.occurrences)

    def release(self, alert_id: str, notification_id: str) -> None:
        self._conditional_update(
            TableName=self.alerts_table,
            Key=self._values({"id": alert_id}),
            UpdateExpression="SET notified_until = :zero",
            ConditionExpression="notification_id = :nid",
            ExpressionAttributeValues=self._values({":zero": 0, ":nid": notification_id}),
        )

    def mark_silenced(self, alert_id: str, notification_id: str, until_ms: int, suppressed: int) -> None:
        self._conditional_update(
            TableName=self.alerts_table,
            Key=self._values({"id": alert_id}),
            UpdateExpression="SET notified_until = :until, silenced_until = :until ADD suppressed :n",
            ConditionExpression="notification_id = :nid",
            ExpressionAttributeValues=self._values({":until": until_ms, ":n": suppressed, ":nid": notification_id}),
        )

    def get(self, alert_id: str) -> AlertRecord | None:
        response = self._client.get_item(
            TableName=self.alerts_table, Key=self._values({"id": alert_id}), ConsistentRead=True
        )
        return self._record(response.get("Item"))

    def alerts(self) -> list[AlertRecord]:
        records: list[AlertRecord] = []
        request: dict[str, Any] = {
            "TableName": self.alerts_table,
            "ConsistentRead": True,
            "FilterExpression": "attribute_not_exists(episode_of)",  # the alerts, not their episodes
        }
        while True:
            response = self._client.scan(**request)
            records.extend(record for item in response.get("Items", []) if (record := self._record(item)))
            if "LastEvaluatedKey" not in response:
                return records
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _transition(
        self, alert_id: str, allowed_from: tuple[str, ...], update: str, values: dict[str, Any], verb: str
    ) -> AlertRecord:
        placeholders = {f":from{index}": status for index, status in enumerate(allowed_from)}
        applied, current = self._conditional_update(
            TableName=self.alerts_table,
            Key=self._values({"id": alert_id}),
            UpdateExpression=update,
            ConditionExpression=f"#status IN ({', '.join(placeholders)})",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=self._values({**values, **placeholders}),
            ReturnValues="ALL_NEW",
        )
        if applied is not None:
            return AlertRecord.from_item(applied)
        if current is None:
            raise AlertNotFound(alert_id)
        record = AlertRecord.from_item(current)
        raise AlertConflict(f"alert {alert_id} is {record.status}; it cannot be {verb}", record)

    def acknowledge(self, alert_id: str, by: str, note: str | None, now_ms: int) -> AlertRecord:
        return self._transition(
            alert_id,
            (FIRING,),
            "SET #status = :ack, acknowledged_at = :now, acknowledged_by = :by, ack_note = :note",
            {":ack": ACKNOWLEDGED, ":now": now_ms, ":by": by, ":note": note or ""},
            "acknowledged",
        )

    def resolve(self, alert_id: str, by: str, resolution: str, now_ms: int, expires_at: int) -> AlertRecord:
        return self._transition(
            alert_id,
            ACTIVE,
            "SET #status = :resolved, resolved_at = :now, resolved_by = :by, resolution = :resolution, "
            "expires_at = :expires",
            {":resolved": RESOLVED, ":now": now_ms, ":by": by, ":resolution": resolution, ":expires": expires_at},
            "resolved",
        )

    # -- episodes --------------------------------------------------------------
    def open_episode(self, alert_id: str, alert_type: str, fired_at: int) -> None:
        # UpdateItem rather than PutItem: every alerting function already may (and a retry is harmless).
        self._client.update_item(
            TableName=self.alerts_table,
            Key=self._values({"id": episode_id(alert_id, fired_at)}),
            UpdateExpression="SET episode_of = :type, alert_id = :alert, fired_at = :at, expires_at = :expires",
            ExpressionAttributeValues=self._values(
                {
                    ":type": alert_type,
                    ":alert": alert_id,
                    ":at": fired_at,
                    ":expires": fired_at // 1000 + EPISODE_RETENTION_SECONDS,
                }
            ),
        )

    def close_episode(self, alert_id: str, fired_at: int, field: str, at_ms: int) -> None:
        """Set `acknowledged_at` or `resolved_at` once (the first wins); nothing for an unknown episode."""
        if field not in ("acknowledged_at", "resolved_at"):
            raise ValueError(f"an episode has no {field}")
        self._conditional_update(
            TableName=self.alerts_table,
            Key=self._values({"id": episode_id(alert_id, fired_at)}),
            UpdateExpression=f"SET {field} = :at",
            ConditionExpression=f"attribute_exists(episode_of) AND attribute_not_exists({field})",
            ExpressionAttributeValues=self._values({":at": at_ms}),
        )

    def episodes(self, alert_type: str, since_ms: int, until_ms: int) -> list[Episode]:
        """The type's episodes fired in [since_ms, until_ms]: a Query on the sparse episodes index."""
        found: list[Episode] = []
        request: dict[str, Any] = {
            "TableName": self.alerts_table,
            "IndexName": EPISODES_BY_TYPE,
            "KeyConditionExpression": "episode_of = :type AND fired_at BETWEEN :since AND :until",
            "ExpressionAttributeValues": self._values({":type": alert_type, ":since": since_ms, ":until": until_ms}),
        }
        while True:
            response = self._client.query(**request)
            for raw in response.get("Items", []):
                item = self._item(raw) or {}
                found.append(
                    Episode(
                        alert_id=str(item["alert_id"]),
                        type=str(item["episode_of"]),
                        fired_at=int(item["fired_at"]),
                        acknowledged_at=item.get("acknowledged_at"),
                        resolved_at=item.get("resolved_at"),
                    )
                )
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # -- silences --------------------------------------------------------------
    def put_silence(self, silence: Silence, expires_at: int) -> None:
        self._client.put_item(
            TableName=self.silences_table,
            Item=self._values({**asdict(silence), "expires_at": expires_at}),
            ConditionExpression="attribute_not_exists(id)",
        )

    def silences(self) -> list[Silence]:
        found: list[Silence] = []
        request: dict[str, Any] = {"TableName": self.silences_table, "ConsistentRead": True}
        while True:
            response = self._client.scan(**request)
            for raw in response.get("Items", []):
                item = self._item(raw) or {}
                item.pop("expires_at", None)
                found.append(Silence(**item))
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def active_silences(self, alert_type: str, now_ms: int) -> list[Silence]:
        """The silences of one type ending after now_ms: a query on the type index, not a scan.

        The index is eventually consistent (DynamoDB has no strongly consistent index reads): a
        silence created a moment ago, typically well under a second, may not mute yet.
        """
        found: list[Silence] = []
        request: dict[str, Any] = {
            "TableName": self.silences_table,
            "IndexName": SILENCES_BY_TYPE,
            "KeyConditionExpression": "#type = :type AND ends_at > :now",
            "ExpressionAttributeNames": {"#type": "type"},
            "ExpressionAttributeValues": self._values({":type": alert_type, ":now": now_ms}),
        }
        while True:
            response = self._client.query(**request)
            found.extend(self._silence(raw) for raw in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _silence(self, raw: Mapping[str, Any]) -> Silence:
        item = self._item(raw) or {}
        item.pop("expires_at", None)
        return Silence(**item)

    def delete_silence(self, silence_id: str) -> Silence | None:
        client = self._client
        try:
            response = client.delete_item(
                TableName=self.silences_table,
                Key=self._values({"id": silence_id}),
                ConditionExpression="attribute_exists(id)",
                ReturnValues="ALL_OLD",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        item = self._item(response.get("Attributes")) or {}
        item.pop("expires_at", None)
        return Silence(**item)

    # -- samples ---------------------------------------------------------------
    def put_sample(self, name: str, at_ms: int, values: dict[str, float], expires_at: int) -> None:
        self._client.put_item(
            TableName=self.windows_table,
            Item=self._values(
                {"pk": f"sample#{name}", "sk": _SK_TIME.format(at_ms), "values": values, "expires_at": expires_at}
            ),
        )

    def sample_since(self, name: str, since_ms: int) -> tuple[int, dict[str, float]] | None:
        response = self._client.query(
            TableName=self.windows_table,
            KeyConditionExpression="pk = :pk AND sk >= :since",
            ExpressionAttributeValues=self._values({":pk": f"sample#{name}", ":since": _SK_TIME.format(since_ms)}),
            ConsistentRead=True,
            ScanIndexForward=True,
            Limit=1,
        )
        items = response.get("Items") or []
        if not items:
            return None
        item = self._item(items[0]) or {}
        return int(item["sk"]), {key: float(value) for key, value in (item.get("values") or {}).items()}

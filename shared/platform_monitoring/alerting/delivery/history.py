"""The delivery history: every notification attempt, per alert, kept 30 days.

The delivery records (records.py) only know whether a target still needs the notification; the
history keeps what happened at each attempt (Alertmanager's users asked for it since 2015, #172):
alert, notification, channel, the target masked, time, outcome, the provider's reason (SES's
rejection, Slack's `invalid_payload`) and the attempt number. AlertDispatcher writes one item per
attempt; GET /api/alerts/{id}/notifications and `monitoring-test --notifications <id>` read them.

AlertDeliveryHistoryTable: key (alert_id, sk = "<epoch ms, 15 digits>#<notification id>#<target>#<attempt>"),
TTL expires_at, so one Query lists an alert's attempts in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.alerting.notification import Notification
from platform_monitoring.alerting.store import iso
from platform_monitoring.core.masking import mask_text

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HISTORY_DAYS = 30
MAX_HISTORY = 200  # attempts one answer lists (the newest)
SKIPPED = "skipped"


def masked_target(target: str) -> str:
    """sms:+15555550100 -> sms:+•••••••0100; `email` and `slack` name no address and stay as they are."""
    channel, sep, address = target.partition(":")
    if not sep:
        return target
    keep = 4
    digits = [index for index, char in enumerate(address) if char.isdigit()]
    hidden = set(digits[:-keep]) if len(digits) > keep else set(digits)
    return f"{channel}:" + "".join("•" if index in hidden else char for index, char in enumerate(address))


@dataclass(frozen=True)
class DeliveryAttempt:
    alert_id: str
    notification_id: str
    kind: str  # firing | resolved
    channel: str
    target: str  # masked
    at: int  # epoch ms
    outcome: str  # sent | failed | skipped
    reason: str = ""  # the provider's answer: a receipt when sent, its error when failed, why skipped
    attempt: int = 0  # 1, 2, ... for this notification and target; 0 when skipped
    escalation: int = 0  # the escalation page (0: the alert's own notification)

    @property
    def sort_key(self) -> str:
        return f"{self.at:015d}#{self.notification_id}#{self.target}#{self.attempt}"

    def to_api(self) -> dict[str, Any]:
        return {
            "notification_id": self.notification_id,
            "kind": self.kind,
            "escalation": self.escalation,
            "channel": self.channel,
            "target": self.target,
            "at": iso(self.at),
            "outcome": self.outcome,
            "reason": self.reason,
            "attempt": self.attempt,
        }

    @classmethod
    def create(
        cls, notification: Notification, *, channel: str, target: str, at: int, outcome: str, reason: str, attempt: int
    ) -> DeliveryAttempt:
        """An attempt at delivering a Notification (masked target, masked and bounded reason)."""
        return cls(
            alert_id=notification.alert_id,
            notification_id=notification.notification_id,
            kind=notification.kind,
            channel=channel,
            target=masked_target(target),
            at=at,
            outcome=outcome,
            reason=mask_text(" ".join(reason.split()))[:300],
            attempt=attempt,
            escalation=notification.escalation,
        )


class DeliveryHistory(Protocol):
    def record(self, attempt: DeliveryAttempt) -> None: ...

    def for_alert(self, alert_id: str, limit: int = MAX_HISTORY) -> list[DeliveryAttempt]:
        """The alert's attempts, oldest first (the newest `limit`)."""
        ...

    def since(self, alert_id: str, since_ms: int) -> list[DeliveryAttempt]:
        """Every attempt at the alert's notifications from since_ms on, oldest first (the statistics)."""
        ...


class DynamoDeliveryHistory:
    """AlertDeliveryHistoryTable: one PutItem per attempt, one Query per alert."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self.table = table

    def record(self, attempt: DeliveryAttempt) -> None:
        item = {
            "alert_id": {"S": attempt.alert_id},
            "sk": {"S": attempt.sort_key},
            "notification_id": {"S": attempt.notification_id},
            "kind": {"S": attempt.kind},
            "channel": {"S": attempt.channel},
            "target": {"S": attempt.target},
            "at": {"N": str(attempt.at)},
            "outcome": {"S": attempt.outcome},
            "reason": {"S": attempt.reason or "-"},
            "attempt": {"N": str(attempt.attempt)},
            "escalation": {"N": str(attempt.escalation)},
            "expires_at": {"N": str(attempt.at // 1000 + HISTORY_DAYS * 86400)},
        }
        self._client.put_item(TableName=self.table, Item=item)

    def for_alert(self, alert_id: str, limit: int = MAX_HISTORY) -> list[DeliveryAttempt]:
        response = self._client.query(
            TableName=self.table,
            KeyConditionExpression="alert_id = :id",
            ExpressionAttributeValues={":id": {"S": alert_id}},
            ScanIndexForward=False,  # newest first, so Limit keeps the newest
            Limit=limit,
        )
        attempts = [_attempt(item) for item in response.get("Items", [])]
        return attempts[::-1]

    def since(self, alert_id: str, since_ms: int) -> list[DeliveryAttempt]:
        # The sort key starts with the attempt's time (15 digits), so the range is a key condition.
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "alert_id = :id AND sk >= :since",
            "ExpressionAttributeValues": {":id": {"S": alert_id}, ":since": {"S": f"{since_ms:015d}"}},
        }
        attempts: list[DeliveryAttempt] = []
        while True:
            response = self._client.query(**request)
            attempts.extend(_attempt(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return attempts
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _attempt(item: dict[str, Any]) -> DeliveryAttempt:
    return DeliveryAttempt(
        alert_id=item["alert_id"]["S"],
        notification_id=item["notification_id"]["S"],
        kind=item["kind"]["S"],
        channel=item["channel"]["S"],
        target=item["target"]["S"],
        at=int(item["at"]["N"]),
        outcome=item["outcome"]["S"],
        reason="" if item["reason"]["S"] == "-" else item["reason"]["S"],
        attempt=int(item["attempt"]["N"]),
        escalation=int(item.get("escalation", {"N": "0"})["N"]),
    )

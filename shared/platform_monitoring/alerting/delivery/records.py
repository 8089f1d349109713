"""Delivery records: which channel already delivered which notification, so a retry never resends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


DELIVERY_RECORD_DAYS = 7


# ---------------------------------------------------------------------------
# Delivery records
# ---------------------------------------------------------------------------
SENDING, SENT, FAILED = "sending", "sent", "failed"


class DeliveryStore(Protocol):
    def claim(self, notification_id: str, target: str, now_ms: int, lease_ms: int) -> int | None:
        """The attempt number when this caller may send; None when delivered or in flight elsewhere."""
        ...

    def mark_sent(self, notification_id: str, target: str, now_ms: int, receipt: str) -> None: ...

    def mark_failed(self, notification_id: str, target: str, now_ms: int, error: str) -> None: ...


class DynamoDeliveryStore:
    """AlertDeliveriesTable: key (notification_id, target), TTL expires_at."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self.table = table

    def claim(self, notification_id: str, target: str, now_ms: int, lease_ms: int) -> int | None:
        client = self._client
        try:
            response = client.update_item(
                TableName=self.table,
                Key={"notification_id": {"S": notification_id}, "target": {"S": target}},
                UpdateExpression="SET delivery_status = :sending, lease_until = :lease, expires_at = :expires "
                "ADD attempts :one",
                ConditionExpression="attribute_not_exists(notification_id) OR delivery_status = :failed "
                "OR (delivery_status = :sending AND lease_until < :now)",
                ExpressionAttributeValues={
                    ":sending": {"S": SENDING},
                    ":failed": {"S": FAILED},
                    ":lease": {"N": str(now_ms + lease_ms)},
                    ":now": {"N": str(now_ms)},
                    ":expires": {"N": str(now_ms // 1000 + DELIVERY_RECORD_DAYS * 86400)},
                    ":one": {"N": "1"},
                },
                ReturnValues="UPDATED_NEW",
            )
        except client.exceptions.ConditionalCheckFailedException:
            return None
        return int(response["Attributes"]["attempts"]["N"])

    def _set(self, notification_id: str, target: str, status: str, now_ms: int, note: str) -> None:
        self._client.update_item(
            TableName=self.table,
            Key={"notification_id": {"S": notification_id}, "target": {"S": target}},
            UpdateExpression="SET delivery_status = :status, finished_at = :now, note = :note",
            ExpressionAttributeValues={
                ":status": {"S": status},
                ":now": {"N": str(now_ms)},
                ":note": {"S": note[:500] or "-"},
            },
        )

    def mark_sent(self, notification_id: str, target: str, now_ms: int, receipt: str) -> None:
        self._set(notification_id, target, SENT, now_ms, receipt)

    def mark_failed(self, notification_id: str, target: str, now_ms: int, error: str) -> None:
        self._set(notification_id, target, FAILED, now_ms, error)


class NoDeliveryRecords:
    """Every claim succeeds (monitoring-test --alert sends its test through every channel each run)."""

    def claim(self, notification_id: str, target: str, now_ms: int, lease_ms: int) -> int | None:
        return 1

    def mark_sent(self, notification_id: str, target: str, now_ms: int, receipt: str) -> None:
        return None

    def mark_failed(self, notification_id: str, target: str, now_ms: int, error: str) -> None:
        return None

"""Blocks and rule windows in DynamoDB."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.core.dynamo import CLAIM, cancelled_by_own_claim, count_after, holds_claim, new_claim
from platform_monitoring.security.events import SecurityEvent
from platform_monitoring.security.rules import DAY, Block, WindowRule

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class BlockStore(Protocol):
    """IP blocks and rule windows; every race is settled by a conditional write."""

    def add_occurrences(self, event: SecurityEvent, rules: tuple[WindowRule, ...], expires_at: int) -> bool:
        """Record the event in each window (and a marker when it has none); False if already recorded."""
        ...

    def remove_occurrences(self, event: SecurityEvent, rules: tuple[WindowRule, ...]) -> None:
        """Forget the event's items, so its redelivery counts as its first delivery again."""
        ...

    def count(self, rule: WindowRule, ip: str, since_ms: int) -> int: ...

    def get(self, ip: str) -> Block | None:
        """The IP's block record, active or not (callers compare until_ms with the clock)."""
        ...

    def put_block(self, block: Block, previous: Block | None, now_ms: int, expires_at: int, *, force: bool) -> bool:
        """Write a block unless one is active (force: replace it) or `previous` changed meanwhile."""
        ...

    def end_block(self, ip: str, now_ms: int, by: str) -> Block | None: ...


def _replace(block: Block, **changes: Any) -> Block:
    return Block(**{**block.__dict__, **changes})


def sort_key(ms: int) -> str:
    return f"{ms:015d}"


def window_keys(event: SecurityEvent, rules: tuple[WindowRule, ...]) -> list[tuple[str, str]]:
    sk = f"{sort_key(event.occurred_ms)}#{event.id}"
    return [(f"{rule.name}#{event.ip}", sk) for rule in rules] or [(f"seen#{event.ip}", sk)]


class DynamoBlockStore:
    """SecurityBlocksTable (key `ip`, TTL `expires_at`) and SecurityWindowsTable (pk, sk, TTL `expires_at`).

    Windows: one item per event and rule, pk "<rule>#<ip>", sk "<epoch ms, 15 digits>#<event id>",
    all of an event's items in one TransactWriteItems with attribute_not_exists, so a redelivered
    event is recognised and counts once. Counting is a strongly consistent Query (Select COUNT).
    """

    def __init__(self, client: DynamoDBClient, blocks_table: str, windows_table: str) -> None:
        self._client = client
        self.blocks_table = blocks_table
        self.windows_table = windows_table

    def add_occurrences(self, event: SecurityEvent, rules: tuple[WindowRule, ...], expires_at: int) -> bool:
        claim = new_claim()  # core/dynamo.py: a retry that meets its own write still counts
        items = [
            {
                "Put": {
                    "TableName": self.windows_table,
                    "Item": {
                        "pk": {"S": pk},
                        "sk": {"S": sk},
                        "expires_at": {"N": str(expires_at)},
                        CLAIM: {"S": claim},
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
            for pk, sk in window_keys(event, rules)
        ]
        try:
            if len(items) == 1:
                self._client.put_item(**items[0]["Put"])  # type: ignore[arg-type]
            else:
                self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except self._client.exceptions.ConditionalCheckFailedException as error:
            return holds_claim(error.response.get("Item"), claim)
        except self._client.exceptions.TransactionCanceledException as error:
            own = cancelled_by_own_claim(error, claim)
            if own is None:
                raise
            return own
        return True

    def remove_occurrences(self, event: SecurityEvent, rules: tuple[WindowRule, ...]) -> None:
        for pk, sk in window_keys(event, rules):
            self._client.delete_item(TableName=self.windows_table, Key={"pk": {"S": pk}, "sk": {"S": sk}})

    def count(self, rule: WindowRule, ip: str, since_ms: int) -> int:
        return count_after(self._client, self.windows_table, f"{rule.name}#{ip}", sort_key(since_ms))

    def get(self, ip: str) -> Block | None:
        item = self._client.get_item(TableName=self.blocks_table, Key={"ip": {"S": ip}}, ConsistentRead=True).get(
            "Item"
        )
        return _block_from_item(item) if item else None

    def put_block(self, block: Block, previous: Block | None, now_ms: int, expires_at: int, *, force: bool) -> bool:
        item = _block_item(block, expires_at)
        if previous is None:
            condition, values = "attribute_not_exists(ip)", {}
        else:
            condition = "blocked_at_ms = :previous"
            values = {":previous": {"N": str(previous.blocked_at_ms)}}
            if not force:
                condition += " AND until_ms <= :now"
                values[":now"] = {"N": str(now_ms)}
        request: dict[str, Any] = {"TableName": self.blocks_table, "Item": item, "ConditionExpression": condition}
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self._client.put_item(**request)
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def active_blocks(self, now_ms: int) -> list[Block]:
        """Every active block (the WAF updater's full reconcile): a Scan filtered on until_ms, all pages.

        A Scan, not an index: the table holds one item per IP ever blocked in the last 30 days, and
        the updater reads it once a minute, so a GSI's write cost on every block would buy nothing.
        """
        request: dict[str, Any] = {
            "TableName": self.blocks_table,
            "FilterExpression": "until_ms > :now",
            "ExpressionAttributeValues": {":now": {"N": str(now_ms)}},
            "ConsistentRead": True,
        }
        found: list[Block] = []
        while True:
            response = self._client.scan(**request)
            found += [_block_from_item(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return found
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def end_block(self, ip: str, now_ms: int, by: str) -> Block | None:
        try:
            response = self._client.update_item(
                TableName=self.blocks_table,
                Key={"ip": {"S": ip}},
                UpdateExpression="SET until_ms = :now, unblocked_at_ms = :now, unblocked_by = :by",
                ConditionExpression="attribute_exists(ip) AND until_ms > :now",
                ExpressionAttributeValues={":now": {"N": str(now_ms)}, ":by": {"S": by}},
                ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return self.get(ip)  # none, or already over: nothing to end
        return _block_from_item(response["Attributes"])


def _block_item(block: Block, expires_at: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "ip": {"S": block.ip},
        "until_ms": {"N": str(block.until_ms)},
        "blocked_at_ms": {"N": str(block.blocked_at_ms)},
        "reason": {"S": block.reason},
        "decided_by": {"S": block.decided_by},
        "offences": {"N": str(block.offences)},
        "duration_seconds": {"N": str(block.duration_seconds)},
        "expires_at": {"N": str(expires_at)},
    }
    return item


def _block_from_item(item: Mapping[str, Any]) -> Block:
    def number(name: str) -> int | None:
        return int(item[name]["N"]) if name in item else None

    def text(name: str) -> str | None:
        return str(item[name]["S"]) if name in item else None

    return Block(
        ip=text("ip") or "",
        until_ms=number("until_ms") or 0,
        blocked_at_ms=number("blocked_at_ms") or 0,
        reason=text("reason") or "",
        decided_by=text("decided_by") or "",
        offences=number("offences") or 1,
        duration_seconds=number("duration_seconds") or DAY,
        unblocked_at_ms=number("unblocked_at_ms"),
        unblocked_by=text("unblocked_by"),
    )

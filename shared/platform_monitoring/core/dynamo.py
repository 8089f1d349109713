"""DynamoDB patterns more than one store uses."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def count_after(client: DynamoDBClient, table: str, partition: str, after: str) -> int:
    """How many items of one partition (`pk`) sort above `after` (`sk`): a strongly consistent
    COUNT query, followed across pages. The rule windows of alerting and of IP blocking are
    partitions of one item per occurrence, so this is how both count a window."""
    total = 0
    request: Any = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND sk > :after",
        "ExpressionAttributeValues": {":pk": {"S": partition}, ":after": {"S": after}},
        "Select": "COUNT",
        "ConsistentRead": True,
    }
    while True:
        response = client.query(**request)
        total += int(response["Count"])
        if "LastEvaluatedKey" not in response:
            return total
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


# A write that must land once ("this occurrence is new") carries a claim of its own and asks for the
# item back when its condition fails (ReturnValuesOnConditionCheckFailure=ALL_OLD). When botocore
# retries such a write because its answer was lost (the write had landed), the retry's condition
# fails on the call's own item, and the claim tells it from an earlier delivery's write.
CLAIM = "claim"


def new_claim() -> str:
    return uuid.uuid4().hex


def holds_claim(item: Any, claim: str) -> bool:
    """Whether a DynamoDB item (None: none returned) holds this write's claim."""
    return isinstance(item, Mapping) and item.get(CLAIM, {}).get("S") == claim


def cancelled_by_own_claim(error: Any, claim: str) -> bool | None:
    """A TransactionCanceledException: None when no condition failed (another cause), else whether
    the write had landed before (a transaction is all or nothing: one item with this claim is enough)."""
    reasons = error.response.get("CancellationReasons", [])
    if not any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons):
        return None
    return any(holds_claim(reason.get("Item"), claim) for reason in reasons)

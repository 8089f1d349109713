"""DynamoDB patterns more than one store uses."""

from __future__ import annotations

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

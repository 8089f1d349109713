"""What the weekly security review reads: the security_logs table (MySQL) and the blocks.

Aggregates only (counts by type and day, the top sources, the types and sources new this week):
no row, no user agent and no detail leaves MySQL, so a report never carries what the log masked.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.observability.performance import mysql_connection
from platform_monitoring.security.events import FAILED_LOGIN
from platform_monitoring.security.rules import Block
from platform_monitoring.security.stores import _block_from_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from platform_monitoring.core.settings import DatabaseSettings

TOP_SOURCES = 10
BASELINE_DAYS = 28  # "new" means not seen in the four weeks before the review's week


@dataclass(frozen=True)
class SecurityActivity:
    """One period of security_logs, aggregated."""

    by_type: dict[str, int] = field(default_factory=dict)
    failed_logins_by_day: dict[str, int] = field(default_factory=dict)  # "2026-11-29" -> count
    top_sources: list[tuple[str, int]] = field(default_factory=list)  # (ip, events), most first
    new_types: list[str] = field(default_factory=list)  # event types absent from the baseline
    new_sources: list[str] = field(default_factory=list)  # top sources absent from the baseline


class SecurityLogReader(Protocol):
    def activity(self, since_ms: int, until_ms: int) -> SecurityActivity: ...


class BlockReader(Protocol):
    def blocks_since(self, since_ms: int) -> list[Block]:
        """Blocks decided at or after since_ms (active or not)."""
        ...


def _sql_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class MySqlSecurityLogReader:
    """Five aggregate queries on security_logs, each on an index (type/occurred_at, occurred_at)."""

    def __init__(self, settings: DatabaseSettings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout

    def activity(self, since_ms: int, until_ms: int) -> SecurityActivity:
        since, until = _sql_time(since_ms), _sql_time(until_ms)
        baseline = _sql_time(since_ms - BASELINE_DAYS * 86_400_000)
        connection: Any = mysql_connection(self.settings, self.timeout)
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT type, COUNT(*) FROM security_logs WHERE occurred_at >= %s AND occurred_at < %s "
                    "GROUP BY type",
                    (since, until),
                )
                by_type = {str(kind): int(count) for kind, count in cursor.fetchall()}
                cursor.execute(
                    "SELECT DATE(occurred_at), COUNT(*) FROM security_logs "
                    "WHERE type = %s AND occurred_at >= %s AND occurred_at < %s GROUP BY DATE(occurred_at) ORDER BY 1",
                    (FAILED_LOGIN, since, until),
                )
                by_day = {str(day): int(count) for day, count in cursor.fetchall()}
                cursor.execute(
                    "SELECT ip, COUNT(*) AS n FROM security_logs WHERE occurred_at >= %s AND occurred_at < %s "
                    "GROUP BY ip ORDER BY n DESC, ip LIMIT %s",
                    (since, until, TOP_SOURCES),
                )
                top = [(str(ip), int(count)) for ip, count in cursor.fetchall()]
                cursor.execute(
                    "SELECT DISTINCT type FROM security_logs WHERE occurred_at >= %s AND occurred_at < %s",
                    (baseline, since),
                )
                known_types = {str(kind) for (kind,) in cursor.fetchall()}
                known_sources: set[str] = set()
                if top:
                    marks = ", ".join(["%s"] * len(top))
                    cursor.execute(  # only "%s" placeholders are joined in; the values are parameters
                        "SELECT DISTINCT ip FROM security_logs WHERE occurred_at >= %s AND occurred_at < %s "  # noqa: S608
                        f"AND ip IN ({marks})",
                        (baseline, since, *(ip for ip, _ in top)),
                    )
                    known_sources = {str(ip) for (ip,) in cursor.fetchall()}
        finally:
            with contextlib.suppress(Exception):
                connection.close()
        return SecurityActivity(
            by_type=by_type,
            failed_logins_by_day=by_day,
            top_sources=top,
            new_types=sorted(set(by_type) - known_types),
            new_sources=[ip for ip, _ in top if ip not in known_sources],
        )


class DynamoBlockReader:
    """SecurityBlocksTable read with a Scan: once a week for the review, never on a request's path
    (the table holds one item per blocked address, expired ones removed by TTL)."""

    def __init__(self, client: DynamoDBClient, blocks_table: str) -> None:
        self._client = client
        self.table = blocks_table

    def blocks_since(self, since_ms: int) -> list[Block]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "blocked_at_ms >= :since",
            "ExpressionAttributeValues": {":since": {"N": str(since_ms)}},
        }
        blocks: list[Block] = []
        while True:
            response = self._client.scan(**request)
            blocks.extend(_block_from_item(item) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return sorted(blocks, key=lambda block: block.blocked_at_ms)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

"""The guide's security_logs table in MySQL."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any, Protocol

from platform_monitoring.core.masking import mask_text
from platform_monitoring.observability.performance import mysql_connection
from platform_monitoring.security.events import (
    SecurityEvent,
    masked_details,
)

if TYPE_CHECKING:
    from platform_monitoring.core.settings import DatabaseSettings


# --- security_logs --------------------------------------------------------------------
class SecurityLogTable(Protocol):
    def insert(self, event: SecurityEvent) -> bool:
        """Write the row; False when it was already there. Raises when MySQL cannot take it."""
        ...


INSERT_SQL = (
    "INSERT IGNORE INTO security_logs "
    "(event_id, type, ip, user_id, company_id, user_agent, details, source, occurred_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def row(event: SecurityEvent) -> tuple[Any, ...]:
    details = json.dumps(masked_details(event), separators=(",", ":"), default=str)
    user_agent = mask_text(event.user_agent) if event.user_agent else None
    occurred = event.occurred_at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return (
        event.id,
        event.type,
        event.ip,
        event.user_id,
        event.company_id,
        user_agent,
        details,
        event.source,
        occurred,
    )


class MySqlSecurityLog:
    """security_logs over one pymysql connection, reopened after any failure."""

    def __init__(self, settings: DatabaseSettings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self._connection: Any = None

    def insert(self, event: SecurityEvent) -> bool:
        try:
            if self._connection is None:
                self._connection = mysql_connection(self.settings, self.timeout)
            with self._connection.cursor() as cursor:
                inserted = cursor.execute(INSERT_SQL, row(event))
            return bool(inserted)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # already broken
                self._connection.close()
            self._connection = None

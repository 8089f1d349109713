"""The test databases on the local MariaDB: a fresh one per stack, and what landed in security_logs."""

from __future__ import annotations

from typing import Any

import pymysql
import pymysql.cursors


def drop_database(port: int, database: str) -> None:
    """Drop a test's own database; the local stack creates and migrates it again when it starts."""
    connection = pymysql.connect(host="127.0.0.1", port=port, user="root", password="", autocommit=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        connection.close()


def security_log_rows(port: int, database: str, ip: str) -> list[dict[str, Any]]:
    """The security_logs rows of one IP, oldest first."""
    connection = pymysql.connect(
        host="127.0.0.1",
        port=port,
        user="root",
        password="",
        database=database,
        cursorclass=pymysql.cursors.DictCursor,
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM security_logs WHERE ip = %s ORDER BY id", (ip,))
            return list(cursor.fetchall())
    finally:
        connection.close()


def database_environment(port: int, database: str = "test") -> dict[str, str]:
    """The DB_* settings of a function pointed at the local MariaDB (or a proxy in front of it)."""
    return {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(port),
        "DB_DATABASE": database,
        "DB_USERNAME": "root",
        "DB_PASSWORD": "",
    }

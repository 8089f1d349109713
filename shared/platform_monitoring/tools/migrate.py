"""Apply the bundle's MySQL migrations (`make migrate`, and the local stack at start).

Each `migrations/NNN_name.sql` runs once, in name order, and is recorded in `schema_migrations`;
the statements themselves are idempotent (CREATE TABLE IF NOT EXISTS), so a run interrupted
between the two is safe to repeat. Connection settings are the functions' DB_* variables.

    python -m platform_monitoring.migrate     # DB_HOST, DB_PORT, DB_DATABASE, DB_USERNAME, DB_PASSWORD
                                              # from the shell, else ./.env, else ./.env.example
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from platform_monitoring.core import clients
from platform_monitoring.core.settings import DatabaseSettings
from platform_monitoring.tools.cli import load_env_file

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def migration_files(directory: Path = MIGRATIONS) -> list[Path]:
    return sorted(directory.glob("*.sql"))


def statements(sql: str) -> list[str]:
    """The statements of a migration file (split on ';' at line ends; comments dropped)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";\n") if part.strip().rstrip(";").strip()]


def apply(connection: Any, directory: Path = MIGRATIONS) -> list[str]:
    """Apply what has not been applied; returns the names applied now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "name VARCHAR(191) NOT NULL PRIMARY KEY, applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3))"
        )
        cursor.execute("SELECT name FROM schema_migrations")
        done = {row[0] for row in cursor.fetchall()}
        applied = []
        for path in migration_files(directory):
            if path.name in done:
                continue
            for statement in statements(path.read_text(encoding="utf-8")):
                cursor.execute(statement.rstrip(";"))
            cursor.execute("INSERT IGNORE INTO schema_migrations (name) VALUES (%s)", (path.name,))
            applied.append(path.name)
    return applied


def migrate(settings: DatabaseSettings, timeout: float = 10.0) -> list[str]:
    import pymysql  # noqa: PLC0415

    connection = pymysql.connect(
        host=settings.host,
        port=settings.port,
        user=settings.username,
        password=settings.password.reveal() or "",
        database=settings.database,
        connect_timeout=int(timeout),
        autocommit=True,
        charset="utf8mb4",
        ssl=clients.mysql_ssl(settings),  # DB_SSL_CA: the same TLS as every other MySQL client
    )
    try:
        return apply(connection)
    finally:
        connection.close()


def main() -> int:

    load_env_file()
    settings = DatabaseSettings.from_env()
    try:
        applied = migrate(settings)
    except Exception as error:
        print(f"migrate: {settings.host}:{settings.port}/{settings.database}: {error}", file=sys.stderr)
        return 1
    where = f"{settings.host}:{settings.port}/{settings.database}"
    print(f"migrate: {where}: " + (f"applied {', '.join(applied)}" if applied else "up to date"))
    return 0

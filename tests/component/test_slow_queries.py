"""Slow query logging on the pymysql connection observability.performance.mysql_connection hands out, against MariaDB."""

from __future__ import annotations

import json

import pymysql.cursors
import pytest
from platform_monitoring.core.config import Secret
from platform_monitoring.core.settings import DatabaseSettings
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.observability.performance import mysql_connection

from tests.support.fakes import InMemoryMetricBackend
from tests.support.logs import captured_channel

pytestmark = pytest.mark.integration


def test_queries_over_the_threshold_are_logged_as_fingerprints_and_counted(mysql_port: int) -> None:
    backend = InMemoryMetricBackend()
    recorder.use(backend)
    recorder.buffer.drain()
    settings = DatabaseSettings("127.0.0.1", mysql_port, "test", "root", Secret("DB_PASSWORD", "env", ""), 100.0)
    connection = mysql_connection(settings, timeout=5)
    try:
        with captured_channel("performance") as output:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.execute("SELECT SLEEP(%s), %s AS api_key", (0.15, "sk_live_abcdefghijklmnop1234"))
            # every cursor class goes through the same connection
            with connection.cursor(pymysql.cursors.DictCursor) as cursor:
                cursor.execute("SELECT SLEEP(0.12) AS slept, 'ann@example.com' AS email")
                assert cursor.fetchone() == {"slept": 0, "email": "ann@example.com"}
    finally:
        connection.close()
    lines = [json.loads(line) for line in output.getvalue().splitlines()]
    assert [line["sql"] for line in lines] == ["SELECT SLEEP(?), ? AS api_key", "SELECT SLEEP(?) AS slept, ? AS email"]
    assert all(line["message"] == "Slow query" and line["database"] == "test" for line in lines)
    assert lines[0]["duration_ms"] >= 150
    assert "sk_live" not in output.getvalue() and "ann@example.com" not in output.getvalue()
    recorder.flush()
    assert backend.snapshot()["askproai_slow_queries"] == {"[]": 2.0}

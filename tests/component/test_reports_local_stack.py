"""The three reports on the local stack's real parts, from a seeded week (fixed clock): episodes in
moto's AlertsTable (through its index), security_logs in MariaDB, blocks in moto's
SecurityBlocksTable, the metric store in Redis; each sent by SES (moto server, read back from its
record of raw messages) and to the local Slack stub."""

from __future__ import annotations

import email
import email.policy
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pymysql
import pytest
import redis
from platform_monitoring.core.config import Secret
from platform_monitoring.core.settings import DatabaseSettings
from platform_monitoring.observability.store import MetricRecorder, RedisMetricBackend
from platform_monitoring.reports.builders import daily_critical, monthly_performance, weekly_security
from platform_monitoring.reports.delivery import ReportSender
from platform_monitoring.security.events import SecurityEvent
from platform_monitoring.security.review import DynamoBlockReader, MySqlSecurityLogReader
from platform_monitoring.security.rules import Block
from platform_monitoring.security.security_logs import MySqlSecurityLog
from platform_monitoring.security.stores import DynamoBlockStore
from platform_monitoring.tools.migrate import migrate

from localdev.slack import SlackCapture
from tests.support.alerting import Clock, moto_service
from tests.support.clock import T0
from tests.support.local_stack import AwsEmulator, aws_emulator

pytestmark = pytest.mark.integration

NOW = datetime.fromtimestamp(T0, UTC)
NOW_MS = int(T0 * 1000)
SENDER = "monitoring@example.com"  # verified by aws_emulator()
REDIS_DB = 8  # the non-end-to-end tests' database (tests/conftest.py)


@pytest.fixture(scope="module")
def aws() -> Iterator[AwsEmulator]:
    with aws_emulator() as running:
        yield running


@pytest.fixture(scope="module")
def database(mysql_port: int) -> Iterator[DatabaseSettings]:
    name = f"reports_{os.getpid()}"
    settings = DatabaseSettings.from_env(
        {"DB_HOST": "127.0.0.1", "DB_PORT": str(mysql_port), "DB_DATABASE": name, "DB_USERNAME": "root"}
    )
    root = pymysql.connect(host="127.0.0.1", port=mysql_port, user="root", password="", autocommit=True)
    with root.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    migrate(settings)
    yield settings
    with root.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    root.close()


@pytest.fixture
def slack() -> Iterator[SlackCapture]:
    with SlackCapture() as capture:
        yield capture


def sender(aws: AwsEmulator, slack: SlackCapture) -> ReportSender:
    webhook = Secret("ALERT_SLACK_WEBHOOK", "env", slack.url)
    return ReportSender(aws.client("ses"), SENDER, ("sec@example.com",), webhook)


def sent_emails(aws: AwsEmulator) -> list[email.message.EmailMessage]:
    raw = aws.sent_messages()["ses"].get("RawMessage") or []
    return [email.message_from_string(item["raw_data"], policy=email.policy.default) for item in raw]  # type: ignore[misc]


def seed_security_week(database: DatabaseSettings) -> None:
    log = MySqlSecurityLog(database, 5.0)
    events = [
        # this week: 4 failed logins from 203.0.113.9 (two days ago), 2 from 198.51.100.4 (yesterday), a login
        *(("failed_login", "203.0.113.9", NOW - timedelta(days=2, minutes=i)) for i in range(4)),
        *(("failed_login", "198.51.100.4", NOW - timedelta(days=1, minutes=i)) for i in range(2)),
        ("login", "198.51.100.4", NOW - timedelta(hours=3)),
        ("privilege_escalation", "203.0.113.9", NOW - timedelta(hours=5)),
        # three weeks ago: 198.51.100.4 and logins were already known
        ("login", "198.51.100.4", NOW - timedelta(days=21)),
        ("failed_login", "198.51.100.4", NOW - timedelta(days=21)),
    ]
    try:
        for index, (kind, ip, at) in enumerate(events):
            log.insert(SecurityEvent(f"seed-{index}", kind, ip, at))
    finally:
        log.close()


def test_the_weekly_security_review_from_mariadb_and_dynamodb_is_sent(
    aws: AwsEmulator, database: DatabaseSettings, slack: SlackCapture
) -> None:
    seed_security_week(database)
    blocks = DynamoBlockStore(aws.client("dynamodb"), "SecurityBlocksTable", "SecurityWindowsTable")
    block = Block("203.0.113.9", NOW_MS + 86_400_000, NOW_MS - 2 * 86_400_000, "failed_logins", "rule")
    assert blocks.put_block(block, None, block.blocked_at_ms, NOW_MS // 1000 + 86_400, force=False)
    report = weekly_security(
        MySqlSecurityLogReader(database, 5.0),
        DynamoBlockReader(aws.client("dynamodb"), "SecurityBlocksTable"),
        now_ms=NOW_MS,
        stage="test",
    )
    assert report.headline == "6 failed logins, 1 addresses blocked, 8 security events"
    [top] = [s for s in report.sections if s.heading == "Top sources"]
    assert top.table is not None and top.table.rows == (("203.0.113.9", "5", "yes"), ("198.51.100.4", "3", ""))
    [days] = [s for s in report.sections if s.heading == "Failed logins per day"]
    assert dict(days.chart)["2026-11-27"] == 4.0 and dict(days.chart)["2026-11-28"] == 2.0
    [patterns] = [s for s in report.sections if s.heading == "New patterns"]
    assert dict(patterns.facts)["event types not seen in the 4 weeks before"] == "privilege_escalation"
    before = len(sent_emails(aws))
    outcomes = sender(aws, slack).send(report)
    assert [(o.channel, o.outcome) for o in outcomes] == [("email", "sent"), ("slack", "sent")]
    message = sent_emails(aws)[before]
    assert message["Subject"] == f"[test] Weekly security review: {report.headline}"
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and "<svg" in html.get_content() and text is not None
    assert "203.0.113.9" in text.get_content()
    assert slack.messages[-1]["text"] == f"Weekly security review: {report.headline}"


def test_the_daily_digest_reads_the_episodes_index_and_is_sent(aws: AwsEmulator, slack: SlackCapture) -> None:
    clock = Clock(T0 - 6 * 3600)
    alerting = moto_service(aws, clock)
    assert alerting.alert("database_connection_failure", {"count": 3}).notified
    clock.advance(180)
    alerting.acknowledge("database_connection_failure")
    clock.advance(420)
    alerting.resolve("database_connection_failure")
    report = daily_critical(alerting.rules, alerting.store, now_ms=NOW_MS, stage="test")
    [episodes] = [s for s in report.sections if s.heading == "Episodes"]
    assert episodes.table is not None
    assert episodes.table.rows == (
        ("2026-11-29 04:00", "database_connection_failure", "database_connection_failure", "3 min", "10 min"),
    )
    outcomes = sender(aws, slack).send(report)
    assert [o.outcome for o in outcomes] == ["sent", "sent"]
    assert sent_emails(aws)[-1]["X-AskProAI-Report"] == "daily-critical"


def test_the_monthly_analysis_reads_the_redis_metric_store_and_is_sent(aws: AwsEmulator, slack: SlackCapture) -> None:
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    backend = RedisMetricBackend(client)
    backend.clear()
    recorder = MetricRecorder(lambda: backend)
    recorder.inc("http_requests_total", 99, route="/api/health", method="GET", status="200")
    recorder.inc("http_requests_total", 1, route="/api/health", method="GET", status="500")
    recorder.inc("http_requests_errors_total", 1, route="/api/health", method="GET", status="500")
    recorder.inc("slow_queries_total", 3)
    for value in (30.0, 30.0, 30.0, 2000.0):
        recorder.observe("stripe_webhook_duration_ms", value, type="invoice.payment_failed")
    recorder.flush()
    try:
        report = monthly_performance(backend.snapshot(), now_ms=NOW_MS, stage="test")
    finally:
        backend.clear()
    assert report.headline == "error rate 1.00% of 100 requests, 0 slow transactions, 3 slow queries"
    [webhooks] = [s for s in report.sections if s.heading == "Webhook processing time"]
    assert webhooks.table is not None and webhooks.table.rows == (("invoice.payment_failed", "4", "522", "2500"),)
    outcomes = sender(aws, slack).send(report)
    assert [o.outcome for o in outcomes] == ["sent", "sent"]

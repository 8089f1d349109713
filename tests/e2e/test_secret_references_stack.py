"""Every function reading its secrets by reference, as deployed: each secret parameter given as
`ssm:/askproai-monitoring/<name>` (the README's names), then as `secretsmanager:askproai-monitoring/<name>`,
the values stored in the stack's moto before any function's cold start. Each function answers as
with literal secrets (the right secret admitted, a wrong one refused, MySQL reached with the stored
password, Stripe with the stored key, Slack at the stored URL).

This is also the path that uses each role's exact-name grants of ssm:GetParameter and
secretsmanager:GetSecretValue (tests/e2e/test_least_privilege.py judges them).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from platform_monitoring.alerting.notification import SnsPublisher
from platform_monitoring.alerting.store import DynamoAlertStore
from platform_monitoring.core.settings import DatabaseSettings
from platform_monitoring.tools.migrate import migrate

from localdev.stack import LocalStack
from localdev.template import aws_client
from tests.support.alerting import service
from tests.support.functions import load_event
from tests.support.local_stack import local_stack
from tests.support.mysql import drop_database
from tests.support.stack_calls import api_call, post_webhook
from tests.support.stripe_events import serialize, sign, stripe_event
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

DATABASE = "askproai_references_test"
DB_USER = "askproai_references"  # with a password: SSM and Secrets Manager store no empty value
PREFIX = "askproai-monitoring"
VALUES = {
    "health-check-secret": "references-health-secret",
    "metrics-secret": "references-metrics-secret",
    "alerts-api-secret": "references-alerts-secret",
    "alerts-admin-secret": "references-alerts-admin-secret",
    "alertmanager-webhook-secret": "references-alertmanager-secret",
    "events-secret": "references-events-secret",
    "stripe-secret-key": "sk_test_references",
    "stripe-webhook-secret": "whsec_references",
    "db-password": "references-db-password",
    "redis-url": "redis://127.0.0.1:6379/14",
    "sentry-dsn": "http://public@127.0.0.1:9/1",  # nothing listens: Sentry's transport drops quietly
}
VARIABLES = {
    "HEALTH_CHECK_SECRET": "health-check-secret",
    "METRICS_SECRET": "metrics-secret",
    "ALERTS_API_SECRET": "alerts-api-secret",
    "ALERTS_ADMIN_SECRET": "alerts-admin-secret",
    "ALERTMANAGER_WEBHOOK_SECRET": "alertmanager-webhook-secret",
    "EVENTS_SECRET": "events-secret",
    "STRIPE_SECRET_KEY": "stripe-secret-key",
    "STRIPE_WEBHOOK_SECRET": "stripe-webhook-secret",
    "DB_PASSWORD": "db-password",
    "REDIS_URL": "redis-url",
    "SENTRY_LARAVEL_DSN": "sentry-dsn",
    "ALERT_SLACK_WEBHOOK": "slack-webhook",
}


def _database_with_password(port: int) -> None:
    """The test database, migrated by root, and a user that needs the stored password."""
    drop_database(port, DATABASE)
    connection = pymysql.connect(host="127.0.0.1", port=port, user="root", password="", autocommit=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
            cursor.execute(f"CREATE USER IF NOT EXISTS '{DB_USER}'@'%%' IDENTIFIED BY %s", (VALUES["db-password"],))
            cursor.execute(f"ALTER USER '{DB_USER}'@'%%' IDENTIFIED BY %s", (VALUES["db-password"],))
            cursor.execute(f"GRANT ALL ON `{DATABASE}`.* TO '{DB_USER}'@'%'")
    finally:
        connection.close()
    root = {"DB_HOST": "127.0.0.1", "DB_PORT": str(port), "DB_DATABASE": DATABASE, "DB_USERNAME": "root"}
    migrate(DatabaseSettings.from_env({**root, "DB_PASSWORD": ""}))


def _store(stack: LocalStack, kind: str, name: str, value: str) -> None:
    if kind == "ssm":
        ssm = aws_client("ssm", stack.moto_url, stack.region)
        ssm.put_parameter(Name=f"/{PREFIX}/{name}", Value=value, Type="SecureString", Overwrite=True)
    else:
        secrets = aws_client("secretsmanager", stack.moto_url, stack.region)
        secrets.create_secret(Name=f"{PREFIX}/{name}", SecretString=value)


def _reference(kind: str, name: str) -> str:
    return f"ssm:/{PREFIX}/{name}" if kind == "ssm" else f"secretsmanager:{PREFIX}/{name}"


@pytest.fixture(scope="module", params=["ssm", "secretsmanager"])
def stack(request: pytest.FixtureRequest, mysql_port: int) -> Iterator[LocalStack]:
    kind = str(request.param)
    _database_with_password(mysql_port)
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("ALERT_", "SECURITY_", "DB_"))},
        **{variable: _reference(kind, name) for variable, name in VARIABLES.items()},
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(mysql_port),
        "DB_DATABASE": DATABASE,
        "DB_USERNAME": DB_USER,
        "SENTRY_TRACES_SAMPLE_RATE": "0",
        "SENTRY_PROFILES_SAMPLE_RATE": "0",
        "HEALTH_CHECK_TIMEOUT_SECONDS": "2",
    }
    # ensure_db=False: the stack would log in with the reference itself; the fixture migrated the database.
    with local_stack(environ=environ, schedules=False, ensure_db=False) as running:
        for name, value in VALUES.items():
            _store(running, kind, name, value)
        assert running.slack is not None
        _store(running, kind, "slack-webhook", running.slack.url)  # the stack's Slack capture
        yield running


def _secret_header(name: str, value: str) -> dict[str, str]:
    return {"X-Health-Check-Secret": value} if name == "health" else {"Authorization": f"Bearer {value}"}


def test_the_routes_admit_the_stored_secrets_and_refuse_others(stack: LocalStack) -> None:
    routes = {
        "/api/health": ("health", VALUES["health-check-secret"]),
        "/api/metrics": ("metrics", VALUES["metrics-secret"]),
        "/api/alerts": ("alerts", VALUES["alerts-api-secret"]),
        "/api/security/blocks/203.0.113.77": ("blocks", VALUES["alerts-api-secret"]),
    }
    for path, (name, value) in routes.items():
        status, body = api_call(stack, "GET", path, headers=_secret_header(name, "not-the-secret"))
        assert status == 401, (path, body)
        status, body = api_call(stack, "GET", path, headers=_secret_header(name, value))
        assert status in (200, 404), (path, body)  # 404: no block on that address


def test_the_admin_and_alertmanager_routes_admit_their_stored_secrets(stack: LocalStack) -> None:
    def bearer(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {VALUES[name]}", "Content-Type": "application/json"}

    silence = json.dumps({"type": "payment_failure", "minutes": 5, "reason": "references"}).encode()
    status, body = api_call(stack, "POST", "/api/alerts/silences", body=silence, headers=bearer("alerts-api-secret"))
    assert status == 401, body  # the read secret never opens an admin route
    status, body = api_call(stack, "POST", "/api/alerts/silences", body=silence, headers=bearer("alerts-admin-secret"))
    assert status == 201, body
    address = "/api/security/blocks/203.0.113.78"
    for method in ("PUT", "DELETE"):
        status, body = api_call(stack, method, address, body=b"{}", headers=bearer("alerts-admin-secret"))
        assert status == 200, (method, body)
    notification = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "ReferencesTest"}, "fingerprint": "references"}],
    }
    status, body = api_call(
        stack,
        "POST",
        "/api/alerts/alertmanager",
        body=json.dumps(notification).encode(),
        headers=bearer("alertmanager-webhook-secret"),
    )
    assert status == 200, body


def test_the_reports_read_mysql_and_post_to_slack_with_the_stored_credentials(stack: LocalStack) -> None:
    for event in ("reports_daily_critical.json", "reports_weekly_security.json", "reports_monthly_performance.json"):
        result = stack.invoke("ReportsFunction", load_event(event), timeout=60)
        assert result.ok, (event, result.error)
        outcomes = {sent["channel"]: sent["outcome"] for sent in result.payload["sent"]}
        assert outcomes == {"email": "sent", "slack": "sent"}, (event, result.payload)


def test_the_waf_updater_runs_with_the_stored_redis_url(stack: LocalStack) -> None:
    result = stack.invoke("WafIpSetUpdaterFunction", load_event("waf_ip_set_updater.json"), timeout=60)
    assert result.ok, result.error
    assert result.payload["enabled"] is True


def test_the_health_check_reaches_mysql_and_stripe_with_the_stored_credentials(stack: LocalStack) -> None:
    status, body = api_call(
        stack, "GET", "/api/health", headers=_secret_header("health", VALUES["health-check-secret"])
    )
    checks = {check["name"]: check for check in body["checks"]}
    assert checks["database"]["status"] == "ok", checks["database"]
    assert checks["stripe_api"]["status"] == "ok", checks["stripe_api"]
    assert checks["redis"]["status"] == "ok", checks["redis"]  # at the stored REDIS_URL
    assert status in (200, 503), body  # the other checks are not this test's


def test_signed_requests_verify_against_the_stored_signing_secrets(stack: LocalStack) -> None:
    status, body = post_webhook(
        stack, serialize(stripe_event("payment_intent.succeeded")), VALUES["stripe-webhook-secret"]
    )
    assert status == 200, body
    status, body = post_webhook(stack, serialize(stripe_event("payment_intent.succeeded")), "whsec_wrong")
    assert status in (400, 401), body
    ip = "203.0.113.78"
    event = {
        "type": "failed_login",
        "ip": ip,
        "user_id": 3,
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    payload = json.dumps({"events": [event]})
    headers = {"Content-Type": "application/json", "X-Monitoring-Signature": sign(payload, VALUES["events-secret"])}
    status, body = api_call(stack, "POST", "/api/events", body=payload.encode(), headers=headers)
    assert status == 202, body
    # The processor writes security_logs with the stored database password.
    wait_until(lambda: _security_log_count(stack, ip) > 0, timeout=30, message="security_logs row of the event")


def _security_log_count(stack: LocalStack, ip: str) -> int:
    connection = pymysql.connect(
        host="127.0.0.1", port=int(stack.overrides["DB_PORT"]), user="root", password="", database=DATABASE
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM security_logs WHERE ip = %s", (ip,))
            row: Any = cursor.fetchone()
            return int(row[0])
    finally:
        connection.close()


def test_the_scheduled_functions_run_with_the_stored_stripe_key(stack: LocalStack) -> None:
    for function in ("ScheduledChecksFunction", "StripeReconciliationFunction"):
        result = stack.trigger_schedule(function)
        assert result.ok, (function, result.error)


def test_the_dispatcher_posts_to_the_stored_slack_url(stack: LocalStack) -> None:
    store = DynamoAlertStore(
        aws_client("dynamodb", stack.moto_url, stack.region), "AlertsTable", "AlertWindowsTable", "AlertSilencesTable"
    )
    publisher = SnsPublisher(aws_client("sns", stack.moto_url, stack.region), stack.resources["AlertsTopic"]["Arn"])
    alerting = service(store, publisher, clock=time.time)  # type: ignore[arg-type]
    decision = alerting.alert("stripe_dispute", {"dispute_id": "dp_references"})  # threshold 1: notifies
    assert decision.outcome == "notified", decision
    wait_until(
        lambda: any(m["channel"] == "slack" for m in stack.sent_messages()), timeout=30, message="the Slack post"
    )

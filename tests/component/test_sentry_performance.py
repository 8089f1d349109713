"""Sentry performance (the APM) for real: a fresh process runs ScheduledChecksFunction once against
MariaDB, Redis, localstripe and moto server with SENTRY_TRACES_SAMPLE_RATE=1, sending to a local
ingest endpoint. One transaction arrives, with a span for each kind of call the invocation made,
masked: no secret, no SQL value, no URL parameter."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from localdev.template.environment import function_environment
from localdev.template.loading import load_template
from tests.component.test_sentry import sentry_ingest
from tests.support.functions import ROOT
from tests.support.local_stack import TEMPLATE, AwsEmulator

pytestmark = pytest.mark.integration
__all__ = ["sentry_ingest"]  # the local ingest endpoint fixture, shared with test_sentry.py

STRIPE_KEY = "sk_test_apmNeverInAnEnvelope42"
SQL_SECRET = "password=hunter2-in-sql"
REDIS_SECRET = "redis-value-never-sent-77"
URL_SECRET = "url-parameter-never-sent-31"

SCRIPT = """
import json, os, sys
sys.path.insert(0, "functions/scheduled_checks")
import app, sentry_sdk
from platform_monitoring.core.settings import DatabaseSettings, RedisSettings
import redis
from platform_monitoring.observability.invocation import instrument
from platform_monitoring.observability.performance import mysql_connection
import urllib.request

class Context:
    function_name = "ScheduledChecksFunction"
    aws_request_id = "apm-test"
    def get_remaining_time_in_millis(self):
        return 20000

event = json.load(open("events/scheduled_checks.json"))
result = app.lambda_handler(event, Context())

@instrument
def leaky(event, context):
    connection = mysql_connection(DatabaseSettings.from_env(), 3.0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s AS note", (os.environ["APM_SQL_VALUE"],))
    connection.close()
    redis.Redis.from_url(RedisSettings.from_env().url.reveal()).set("apm-test", os.environ["APM_REDIS_VALUE"], ex=60)
    try:
        urllib.request.urlopen(os.environ["APM_URL"], timeout=3)
    except OSError:
        pass
    return {"ok": True}

leaky({}, Context())
sentry_sdk.flush(10)
print(json.dumps({"health": result["health"]}))
"""


def transactions(received: list[bytes]) -> list[dict[str, Any]]:
    """The transaction items of the envelopes the ingest endpoint received."""
    found = []
    for envelope in received:
        lines = envelope.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "transaction":
                found.append(json.loads(payload))
    return found


@pytest.fixture
def apm_environment(
    aws: AwsEmulator, mysql_port: int, redis_url: str, localstripe_url: str, sentry_ingest: tuple[str, list[bytes]]
) -> Iterator[dict[str, str]]:
    dsn, _ = sentry_ingest
    overrides = {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(mysql_port),
        "DB_DATABASE": "test",
        "DB_USERNAME": "root",
        "DB_PASSWORD": "",
        "REDIS_URL": redis_url,
        "STRIPE_API_BASE": localstripe_url,
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "SENTRY_DSN": dsn,
        "SENTRY_TRACES_SAMPLE_RATE": "1",
        "SENTRY_PROFILES_SAMPLE_RATE": "0",
    }
    env = function_environment(load_template(TEMPLATE), "ScheduledChecksFunction", aws.resources, overrides)
    yield {**env, "PATH": "/usr/bin:/bin"}


def test_one_invocation_is_one_transaction_with_a_span_per_call(
    apm_environment: dict[str, str], sentry_ingest: tuple[str, list[bytes]]
) -> None:
    _, received = sentry_ingest
    leaky_url = f"{apm_environment['STRIPE_API_BASE']}/v1/balance?customer_note={URL_SECRET}"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        # The script's values travel in variables (sentry_sdk reports sys.argv, never the environment).
        env={**apm_environment, "APM_SQL_VALUE": SQL_SECRET, "APM_REDIS_VALUE": REDIS_SECRET, "APM_URL": leaky_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"health": "healthy"}

    scheduled, leaky = transactions(received)
    assert scheduled["transaction"] == "ScheduledChecksFunction"
    assert scheduled["contexts"]["trace"]["op"] == "function.aws"
    spans = scheduled["spans"]
    ops = {span["op"] for span in spans}
    assert {"db.sql.query", "db.redis", "http.client"} <= ops
    described = [span.get("description") or "" for span in spans]
    assert "aws.sqs.GetQueueAttributes" in described  # Boto3Integration: the queues check
    assert {"aws.dynamodb.Scan", "aws.dynamodb.PutItem"} <= set(described)  # active alerts; error-rate sample
    assert any(text.startswith("GET http") and text.endswith("/v1/balance") for text in described)  # Stripe
    assert any(span["op"] == "db.sql.query" and span["data"].get("db.system") == "mysql" for span in spans)

    sql = [span["description"] for span in leaky["spans"] if span["op"] == "db.sql.query"]
    assert "SELECT ? AS note" in sql
    envelopes = b"\n".join(received).decode()
    for secret in (STRIPE_KEY, "hunter2", REDIS_SECRET, URL_SECRET):
        assert secret not in envelopes

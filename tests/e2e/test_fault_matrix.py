"""The fault matrix (docs/faults.md) on the whole local stack: each dependency fails while the bundle
runs, then recovers, and each test checks what the endpoint answers, what alert goes out, and that
no webhook event, security event or alert is lost or counted twice once the fault clears.

Every function reaches its dependencies through a switchable fault in front of the real server:
Redis and MariaDB behind TcpProxy (down or hanging), moto's SQS, DynamoDB and SES behind
HttpFaultProxy (the functions get AWS_ENDPOINT_URL_SQS / _DYNAMODB / _SES / _SNS, botocore's per-service
endpoints, so one queue, one table or one operation can fail while the rest works), localstripe behind HttpFaultProxy (STRIPE_API_BASE),
Slack behind TcpProxy. The stack itself (its SQS pollers, SNS deliveries) talks to moto directly.

Cases proven elsewhere are linked from docs/faults.md rather than repeated here: Redis down or
hanging and MySQL down or hanging for /api/health (test_health_stack.py), Redis down for
/api/metrics (test_metrics_stack.py), MySQL down for the security events and their dead-letter
queue and redrive (test_security_stack.py), a poison webhook's dead-letter queue
(test_webhooks_stack.py), SES rejecting and Slack hanging for the dispatcher (test_alerting_moto.py).

The webhooks and security events queues get a 2 s visibility timeout after start (the template's
60 s would make each retry take a minute); Lambda's asynchronous retries of the alert dispatcher
are 2 s apart locally (localdev.sources.SNS_RETRY_SECONDS).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from platform_monitoring.alerting.notification import SnsPublisher
from platform_monitoring.alerting.service import AlertingService, make_alert_id
from platform_monitoring.alerting.store import DynamoAlertStore, event_key, seen_key
from platform_monitoring.observability.store import RedisMetricBackend, series_key

from localdev.slack import PATH as SLACK_PATH
from localdev.slack import SlackCapture
from localdev.stack import PROJECT_ROOT, LocalStack
from localdev.template import aws_client, load_dotenv
from tests.support.alerting import service
from tests.support.faults import (
    HttpFaultProxy,
    TcpProxy,
    aws_request,
    dynamodb_error,
    ses_error,
    sns_error,
    sqs_error,
    stripe_error,
)
from tests.support.functions import load_event
from tests.support.local_stack import drain_queue, queue_depth
from tests.support.mysql import database_environment, drop_database, security_log_rows
from tests.support.stack_calls import api_call, post_webhook
from tests.support.stripe_events import serialize, sign, stripe_event
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

WEBHOOK_SECRET = "whsec_fault_matrix"
EVENTS_SECRET = "fault-matrix-events-secret"
HEALTH_SECRET = "fault-matrix-health-secret"
METRICS_SECRET = "fault-matrix-metrics-secret"
ALERTS_SECRET = "fault-matrix-alerts-secret"
ADMIN_SECRET = "fault-matrix-admin-secret"
SENDER = "monitoring@example.com"
REDIS_DB = 2
DATABASE = "askproai_fault_test"
CHECK_TIMEOUT = 1.0  # HEALTH_CHECK_TIMEOUT_SECONDS: the health checks and the security processor's MySQL
VISIBILITY_SECONDS = 2
Labels = tuple[str, ...]


@dataclass
class Faults:
    aws: HttpFaultProxy  # the functions' SQS, DynamoDB and SES
    stripe: HttpFaultProxy
    mysql: TcpProxy
    redis: TcpProxy
    slack: TcpProxy
    slack_capture: SlackCapture

    def clear(self) -> None:
        self.aws.heal()
        self.stripe.heal()
        for proxy in (self.mysql, self.redis, self.slack):
            if proxy.mode != "forward":
                proxy.set_mode("forward")
                time.sleep(0.3)  # TcpProxy's pipes poll every 0.2 s


@pytest.fixture(scope="module")
def faults(mysql_port: int, redis_port: int) -> Iterator[Faults]:
    with (
        HttpFaultProxy() as aws,
        HttpFaultProxy() as stripe,
        TcpProxy("127.0.0.1", mysql_port) as mysql,
        TcpProxy("127.0.0.1", redis_port) as redis_proxy,
        SlackCapture() as capture,
    ):
        slack_port = urllib.parse.urlsplit(capture.url).port or 0
        with TcpProxy("127.0.0.1", slack_port) as slack:
            yield Faults(aws, stripe, mysql, redis_proxy, slack, capture)


@pytest.fixture(scope="module")
def store(redis_port: int) -> Iterator[RedisMetricBackend]:
    """The metric store as the functions see it, read directly (not through the Redis fault)."""
    backend = RedisMetricBackend(redis.Redis.from_url(f"redis://127.0.0.1:{redis_port}/{REDIS_DB}"))
    backend.clear()
    yield backend
    backend.clear()


@pytest.fixture(scope="module")
def stack(
    faults: Faults, store: RedisMetricBackend, mysql_port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    drop_database(mysql_port, DATABASE)  # the stack creates and migrates it
    settings = {
        **load_dotenv(PROJECT_ROOT / ".env"),
        "REDIS_URL": f"redis://127.0.0.1:{faults.redis.port}/{REDIS_DB}",
        **database_environment(faults.mysql.port, DATABASE),
        "STRIPE_API_BASE": faults.stripe.url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "HEALTH_CHECK_SECRET": HEALTH_SECRET,
        "METRICS_SECRET": METRICS_SECRET,
        "EVENTS_SECRET": EVENTS_SECRET,
        "ALERTS_API_SECRET": ALERTS_SECRET,
        "ALERTS_ADMIN_SECRET": ADMIN_SECRET,
        "HEALTH_CHECK_TIMEOUT_SECONDS": str(CHECK_TIMEOUT),
        "ALERT_EMAIL_RECIPIENTS": "ops@example.com",
        "ALERT_EMAIL_FROM": SENDER,
        "ALERT_SMS_RECIPIENTS": "+15555550100",
        "ALERT_SLACK_WEBHOOK": f"http://127.0.0.1:{faults.slack.port}{SLACK_PATH}",
        "ALERT_SLACK_TIMEOUT_SECONDS": "1",
        "ALERT_RULE_OVERRIDES": "",
        "SECURITY_ALLOWLIST": "",
        "SENTRY_LARAVEL_DSN": "",
        # botocore's per-service endpoints win over the AWS_ENDPOINT_URL the stack sets
        "AWS_ENDPOINT_URL_SQS": faults.aws.url,
        "AWS_ENDPOINT_URL_DYNAMODB": faults.aws.url,
        "AWS_ENDPOINT_URL_SES": faults.aws.url,
        "AWS_ENDPOINT_URL_SNS": faults.aws.url,
    }
    env_file = tmp_path_factory.mktemp("fault-matrix") / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()), encoding="utf-8")
    # The shell's variables do not reach this stack; everything is in the file above, and
    # STRIPE_API_BASE is also given as a shell variable, the one way to beat the stack's own localstripe.
    shell = {"STRIPE_API_BASE": faults.stripe.url}
    running = LocalStack.on_free_ports(env_file=env_file, environ=shell, schedules=False)
    faults.aws.upstream = running.moto_url
    faults.stripe.upstream = running.stripe_url
    with running:
        sqs = aws_client("sqs", running.moto_url, running.region)
        for queue in ("WebhooksQueue", "SecurityEventsQueue"):
            sqs.set_queue_attributes(
                QueueUrl=running.resources[queue]["QueueUrl"],
                Attributes={"VisibilityTimeout": str(VISIBILITY_SECONDS)},
            )
        yield running


@pytest.fixture(autouse=True)
def fault_cleared(faults: Faults) -> Iterator[None]:
    yield
    faults.clear()


# --- talking to the stack ------------------------------------------------------------------------


def post_events(stack: LocalStack, events: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"events": events})
    headers = {"Content-Type": "application/json", "X-Monitoring-Signature": sign(body, EVENTS_SECRET)}
    return api_call(stack, "POST", "/api/events", body=body.encode(), headers=headers)


def health(stack: LocalStack) -> tuple[int, dict[str, Any]]:
    return api_call(stack, "GET", "/api/health", headers={"X-Health-Check-Secret": HEALTH_SECRET})


def check(body: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(item for item in body["checks"] if item["name"] == name)
    return found


def security_event(event_type: str, ip: str) -> dict[str, Any]:
    return {
        "type": event_type,
        "ip": ip,
        "user_id": 7,
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def rows_when(mysql_port: int, ip: str, count: int) -> list[dict[str, Any]]:
    """The IP's security_logs rows, once there are `count` of them."""
    return wait_until(
        lambda: rows if len(rows := security_log_rows(mysql_port, DATABASE, ip)) == count else [], timeout=30
    )


def metric(store: RedisMetricBackend, name: str, *labels: str) -> float:
    """A series of the shared metric store (counters by their base name, without `_total`)."""
    return store.snapshot().get(name, {}).get(series_key(labels), 0.0)


def webhooks(store: RedisMetricBackend, event_type: str, status: str) -> float:
    return metric(store, "askproai_stripe_webhooks", event_type, status)


def notifications(stack: LocalStack, alert_type: str) -> list[dict[str, Any]]:
    """What was published on AlertsTopic for one alert type (moto's record)."""
    found = []
    for message in stack.sent_messages():
        if message["channel"] != "sns":
            continue
        try:
            notification = json.loads(str(message["body"]))
        except ValueError:
            continue
        if isinstance(notification, dict) and notification.get("alert_type") == alert_type:
            found.append(notification)
    return found


def delivered(stack: LocalStack, faults: Faults, title: str) -> dict[str, int]:
    """How many messages with this alert title each channel got (email, sms from moto; slack from the capture)."""
    counts = {"email": 0, "sms": 0, "slack": sum(1 for text in faults.slack_capture.texts() if title in text)}
    for message in stack.sent_messages():
        if message["channel"] in ("email", "sms") and title in f"{message.get('subject')} {message.get('body')}":
            counts[message["channel"]] += 1
    return counts


def completed_events(stack: LocalStack) -> int:
    """Stripe events whose idempotency record is COMPLETED (processed), read from moto directly."""
    dynamodb = aws_client("dynamodb", stack.moto_url, stack.region)
    response = dynamodb.scan(
        TableName=stack.resources["IdempotencyTable"]["Ref"],
        Select="COUNT",
        FilterExpression="#status = :completed",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":completed": {"S": "COMPLETED"}},
    )
    return int(response["Count"])


def dead_letters(stack: LocalStack, queue: str) -> int:
    return queue_depth(aws_client("sqs", stack.moto_url, stack.region), stack.resources[queue]["QueueUrl"])


def alerting_for(stack: LocalStack) -> AlertingService:
    """A platform Lambda's AlertingService: the stack's tables and topic, straight to moto."""
    store = DynamoAlertStore(
        aws_client("dynamodb", stack.moto_url, stack.region), "AlertsTable", "AlertWindowsTable", "AlertSilencesTable"
    )
    publisher = SnsPublisher(aws_client("sns", stack.moto_url, stack.region), stack.resources["AlertsTopic"]["Arn"])
    return service(store, publisher, clock=time.time)  # type: ignore[arg-type]


# --- SQS --------------------------------------------------------------------------------------------


def test_sqs_refusing_the_ingest_answers_503_and_stripes_retry_is_processed_once(
    stack: LocalStack, faults: Faults, store: RedisMetricBackend
) -> None:
    kind = "payment_intent.succeeded"
    payload = serialize(stripe_event(kind, amount_received=1234, currency="dkk"))
    signature = sign(payload, WEBHOOK_SECRET)  # one delivery: Stripe resends it as it was
    queue = stack.resources["WebhooksQueue"]["QueueUrl"]
    processed_before = webhooks(store, kind, "processed")

    # Given SQS refusing SendMessage to the webhooks queue
    refused = faults.aws.fail(sqs_error(), when=aws_request("sqs", "SendMessage", mentioning=queue))
    # When Stripe delivers: a non-2xx, so Stripe retries (it does for up to three days)
    status, body = post_webhook(stack, payload, signature=signature)
    assert (status, body["error"]["code"]) == (503, "queue_unavailable"), body
    assert refused.hits == 1  # one attempt (clients.sqs_client): no retry storm inside the request
    # When SQS is back and Stripe retries the same delivery
    faults.aws.heal()
    assert post_webhook(stack, payload, signature=signature) == (200, {"received": True})

    # Then it is processed exactly once
    wait_until(lambda: metric(store, "askproai_revenue_processed_cents", "dkk") == 1234, timeout=20)
    wait_until(lambda: queue_depth(aws_client("sqs", stack.moto_url, stack.region), queue) == 0, timeout=10)
    assert webhooks(store, kind, "processed") - processed_before == 1
    assert webhooks(store, kind, "duplicate") == 0
    # and the refusal was an API 5xx, which high_error_rate and the API's 5xx alarm count
    answered = metric(store, "askproai_http_requests", "/api/webhooks/stripe", "POST", "503")
    assert answered == 1


# --- DynamoDB ---------------------------------------------------------------------------------------


def test_idempotency_table_throttled_retries_each_event_counts_it_once_and_pages(
    stack: LocalStack, faults: Faults, store: RedisMetricBackend
) -> None:
    kind = "payment_intent.succeeded"
    table = stack.resources["IdempotencyTable"]["Ref"]
    failed_before, processed_before = webhooks(store, kind, "failed"), webhooks(store, kind, "processed")
    # Given DynamoDB throttling the idempotency table
    throttled = faults.aws.fail(dynamodb_error(), when=aws_request("dynamodb", mentioning=table))
    # When two events arrive: the ingest does not need DynamoDB and answers 200
    for amount in (100, 200):
        payload = serialize(stripe_event(kind, amount_received=amount, currency="sek"))
        assert post_webhook(stack, payload, WEBHOOK_SECRET)[0] == 200

    # Then each receive fails (a batch item failure) and SQS delivers it again; nothing is counted
    wait_until(lambda: webhooks(store, kind, "failed") - failed_before >= 6, timeout=30, message="no retries seen")
    assert metric(store, "askproai_revenue_processed_cents", "sek") == 0
    # and stripe_webhook_failure (5 failed attempts in 5 minutes) pages by email and Slack
    wait_until(lambda: notifications(stack, "stripe_webhook_failure"), timeout=20, message="no stripe_webhook_failure")
    faults.aws.heal()
    assert throttled.hits >= 6

    # When the throttling stops, each event is processed exactly once, before the dead-letter queue
    wait_until(lambda: metric(store, "askproai_revenue_processed_cents", "sek") == 300, timeout=30)
    assert webhooks(store, kind, "processed") - processed_before == 2
    assert dead_letters(stack, "WebhooksDeadLetterQueue") == 0
    wait_until(lambda: delivered(stack, faults, "Stripe webhook failures")["email"] == 1, timeout=20)
    assert delivered(stack, faults, "Stripe webhook failures") == {"email": 1, "sms": 0, "slack": 1}
    assert len(notifications(stack, "stripe_webhook_failure")) == 1


def test_alert_windows_throttled_payment_failures_are_retried_and_page_once(
    stack: LocalStack, faults: Faults, store: RedisMetricBackend
) -> None:
    kind = "payment_intent.payment_failed"
    windows = stack.resources["AlertWindowsTable"]["Ref"]
    failures_before = sum(store.snapshot().get("askproai_payment_failures", {}).values())
    # Given the alert windows table throttled: an occurrence of payment_failure cannot be recorded
    throttled = faults.aws.fail(dynamodb_error("ThrottlingException"), when=aws_request("dynamodb", mentioning=windows))
    # When three payments fail (the rule: 3 in 5 minutes pages)
    for _ in range(3):
        assert post_webhook(stack, serialize(stripe_event(kind)), WEBHOOK_SECRET)[0] == 200

    # Then the events are not completed without their alert occurrence: they fail and wait in the queue
    wait_until(lambda: webhooks(store, kind, "failed") >= 3, timeout=30, message="the events were not retried")
    assert webhooks(store, kind, "processed") == 0
    assert throttled.hits >= 3
    faults.aws.heal()

    # When DynamoDB answers again, the three are processed once each and the alert pages once
    wait_until(lambda: webhooks(store, kind, "processed") == 3, timeout=30, message="payment failures lost")
    wait_until(
        lambda: delivered(stack, faults, "Payment failures") == {"email": 1, "sms": 1, "slack": 1},
        timeout=30,
        message=f"payment_failure not delivered: {delivered(stack, faults, 'Payment failures')}",
    )
    assert sum(store.snapshot().get("askproai_payment_failures", {}).values()) - failures_before == 3
    assert len(notifications(stack, "payment_failure")) == 1
    assert dead_letters(stack, "WebhooksDeadLetterQueue") == 0


def test_sns_refusing_the_alert_the_event_is_retried_and_its_occurrence_counted_once(
    stack: LocalStack, faults: Faults, store: RedisMetricBackend
) -> None:
    kind = "payment_intent.payment_failed"
    alert_id = make_alert_id("payment_failure", {})
    forget_alert(stack, alert_id)  # given no payment failure history (the tests above paged already)
    processed_before = webhooks(store, kind, "processed")
    for _ in range(2):
        assert post_webhook(stack, serialize(stripe_event(kind)), WEBHOOK_SECRET)[0] == 200
    wait_until(lambda: webhooks(store, kind, "processed") == processed_before + 2, timeout=30)
    assert alert_record(stack, alert_id) == {}  # below the threshold: no alert yet
    before = delivered(stack, faults, "Payment failures")
    failed_before = webhooks(store, kind, "failed")
    # Given SNS refusing the publication on AlertsTopic (recorded in the window, then not published)
    topic = stack.resources["AlertsTopic"]["Ref"].rsplit(":", 1)[-1]  # the name: the body URL-encodes the ARN
    refused = faults.aws.fail(sns_error(), when=aws_request("sns", "Publish", mentioning=topic))
    # When the third payment fails
    assert post_webhook(stack, serialize(stripe_event(kind)), WEBHOOK_SECRET)[0] == 200
    # Then the event fails (its alert was not published) and waits in the queue
    wait_until(lambda: webhooks(store, kind, "failed") > failed_before, timeout=30, message="not retried")
    assert refused.hits >= 1
    faults.aws.heal()
    # When SNS answers again, the retry pages once and the window holds three occurrences, not four
    wait_until(lambda: delivered(stack, faults, "Payment failures")["email"] == before["email"] + 1, timeout=30)
    assert alert_record(stack, alert_id)["window_count"] == 3
    after = delivered(stack, faults, "Payment failures")
    assert {channel: after[channel] - before[channel] for channel in after} == {"email": 1, "sms": 1, "slack": 1}
    assert dead_letters(stack, "WebhooksDeadLetterQueue") == 0


def forget_alert(stack: LocalStack, alert_id: str) -> None:
    """Remove an alert's record and window (occurrences and their IDs) from moto directly."""
    dynamodb = aws_client("dynamodb", stack.moto_url, stack.region)
    alerts, windows = stack.resources["AlertsTable"]["Ref"], stack.resources["AlertWindowsTable"]["Ref"]
    dynamodb.delete_item(TableName=alerts, Key={"id": {"S": alert_id}})
    for partition in (event_key(alert_id), seen_key(alert_id)):
        items = dynamodb.query(
            TableName=windows, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": partition}}
        )["Items"]
        for item in items:
            dynamodb.delete_item(TableName=windows, Key={"pk": item["pk"], "sk": item["sk"]})


def alert_record(stack: LocalStack, alert_id: str) -> dict[str, Any]:
    """GET /api/alerts/{id}: the alert, or {} while there is none."""
    status, body = api_call(stack, "GET", f"/api/alerts/{alert_id}", headers={"X-Alerts-Secret": ALERTS_SECRET})
    return dict(body.get("alert") or {}) if status == 200 else {}


def test_ip_guard_fails_open_when_the_blocks_table_errors(stack: LocalStack, faults: Faults) -> None:
    headers = {"X-Alerts-Secret": ALERTS_SECRET, "Content-Type": "application/json"}
    admin = {"X-Alerts-Admin-Secret": ADMIN_SECRET, "Content-Type": "application/json"}
    blocked = ("127.0.0.21", "127.0.0.22")
    for ip in blocked:
        status, _ = api_call(stack, "PUT", f"/api/security/blocks/{ip}", body=b'{"hours": 1}', headers=admin)
        assert status == 200
    table = stack.resources["SecurityBlocksTable"]["Ref"]
    # Given DynamoDB erroring on the blocks table
    errors = faults.aws.fail(dynamodb_error("InternalServerError", 500), when=aws_request("dynamodb", mentioning=table))
    # Then a blocked address is let through (fail open: a DynamoDB blip must not take the API down)
    assert (
        api_call(stack, "GET", "/api/metrics", headers={"X-Metrics-Secret": METRICS_SECRET}, source=blocked[0])[0]
        == 200
    )
    # and the blocks API answers a JSON 503, not a stack trace
    status, body = api_call(stack, "GET", f"/api/security/blocks/{blocked[1]}", headers=headers)
    assert (status, body["error"]["code"]) == (503, "dependency_unavailable"), body
    assert errors.hits >= 2
    # When DynamoDB answers again, blocks are enforced (another address: the authorizer cached the first)
    faults.aws.heal()
    assert api_call(stack, "GET", "/api/metrics", source=blocked[1])[0] == 403


def test_security_windows_erroring_the_events_wait_in_the_queue_and_land_once(
    stack: LocalStack, faults: Faults, store: RedisMetricBackend, mysql_port: int
) -> None:
    ip = "198.51.100.41"
    table = stack.resources["SecurityWindowsTable"]["Ref"]
    violations_before = metric(store, "askproai_rate_limit_violations")
    # Given DynamoDB erroring on the security windows
    errors = faults.aws.fail(dynamodb_error("InternalServerError", 500), when=aws_request("dynamodb", mentioning=table))
    # When the platform reports two events: accepted (the queue is fine)
    status, answer = post_events(stack, [security_event("rate_limit_violation", ip) for _ in range(2)])
    assert status == 202, answer
    # Then the processor fails them and SQS delivers them again; nothing lands, nothing is counted
    wait_until(lambda: errors.hits >= 8, timeout=30, message="the processor did not retry")  # 2 x 2 receives x 2 tries
    assert security_log_rows(mysql_port, DATABASE, ip) == []
    assert metric(store, "askproai_rate_limit_violations") == violations_before
    faults.aws.heal()

    # When DynamoDB answers again, each event lands once and is counted once
    landed = rows_when(mysql_port, ip, 2)
    assert sorted(row["event_id"] for row in landed) == sorted(answer["event_ids"])
    wait_until(lambda: metric(store, "askproai_rate_limit_violations") - violations_before == 2, timeout=10)
    assert dead_letters(stack, "SecurityEventsDeadLetterQueue") == 0


def test_alert_windows_throttled_breach_attempts_are_retried_and_page_once(
    stack: LocalStack, faults: Faults, store: RedisMetricBackend, mysql_port: int
) -> None:
    ip = "198.51.100.43"
    windows = stack.resources["AlertWindowsTable"]["Ref"]
    failed_before, blocked_before = metric(store, "askproai_failed_logins"), metric(store, "askproai_blocked_ips")
    # Given the alert windows table throttled: an occurrence of security_breach_attempt cannot be recorded
    throttled = faults.aws.fail(dynamodb_error("ThrottlingException"), when=aws_request("dynamodb", mentioning=windows))
    # When an attacker fails five logins (the rule: 5 breach attempts in 1 minute pages)
    status, answer = post_events(stack, [security_event("failed_login", ip) for _ in range(5)])
    assert status == 202, answer

    # Then the events are not stored without their alert occurrence: they fail and wait in the queue
    wait_until(lambda: throttled.hits >= 10, timeout=30, message="the events were not retried")  # 5 x 2 tries
    assert security_log_rows(mysql_port, DATABASE, ip) == []
    assert metric(store, "askproai_failed_logins") == failed_before
    assert notifications(stack, "security_breach_attempt") == []
    faults.aws.heal()

    # When DynamoDB answers again, each event lands once, counts once, and the alert pages once
    landed = rows_when(mysql_port, ip, 5)
    assert sorted(row["event_id"] for row in landed) == sorted(answer["event_ids"])
    wait_until(
        lambda: delivered(stack, faults, "Security breach attempt") == {"email": 1, "sms": 1, "slack": 1},
        timeout=30,
        message=f"security_breach_attempt not delivered: {delivered(stack, faults, 'Security breach attempt')}",
    )
    assert len(notifications(stack, "security_breach_attempt")) == 1
    wait_until(lambda: metric(store, "askproai_failed_logins") - failed_before == 5, timeout=10)
    assert metric(store, "askproai_blocked_ips") - blocked_before == 1  # blocked on the first delivery, once
    assert dead_letters(stack, "SecurityEventsDeadLetterQueue") == 0


# --- Stripe API -------------------------------------------------------------------------------------


def test_stripe_api_erroring_or_hanging_makes_health_503_within_its_timeout_and_is_recorded(
    stack: LocalStack, faults: Faults, store: RedisMetricBackend
) -> None:
    errors_before = metric(store, "askproai_external_api_errors", "stripe")
    # Given the Stripe API answering 500
    erroring = faults.stripe.fail(stripe_error(500))
    status, body = health(stack)
    assert (status, body["status"]) == (503, "unhealthy"), body
    stripe_check = check(body, "stripe_api")
    assert stripe_check["status"] == "failed" and "Stripe API connection failed" in stripe_check["message"]
    assert check(body, "database")["status"] == "ok"
    # The scheduled checks record it: the check's gauge and the failed external call
    result = stack.invoke("ScheduledChecksFunction", load_event("scheduled_checks.json"), timeout=60)
    assert result.ok, result.error
    assert (result.payload["health"], result.payload["checks"]["stripe_api"]) == ("unhealthy", "failed")
    assert metric(store, "askproai_health_check_status", "stripe_api") == 0.0
    assert metric(store, "askproai_external_api_errors", "stripe") - errors_before == 2
    assert erroring.hits == 2

    # Given the Stripe API hanging: the check gives up at its timeout, the others still answer
    faults.stripe.heal()
    hanging = faults.stripe.hang()
    status, body = health(stack)
    assert status == 503
    assert check(body, "stripe_api")["status"] == "failed"
    assert check(body, "stripe_api")["duration"] == pytest.approx(CHECK_TIMEOUT * 1000, rel=0.5)
    assert check(body, "redis")["status"] == "ok"
    assert hanging.hits == 1

    # When Stripe answers again, so does the check
    faults.stripe.heal()
    status, body = health(stack)
    assert (status, check(body, "stripe_api")["status"]) == (200, "ok"), body


# --- MySQL ------------------------------------------------------------------------------------------


def test_mysql_hanging_pages_database_connection_failure_and_security_events_land_after(
    stack: LocalStack, faults: Faults, mysql_port: int
) -> None:
    ip = "198.51.100.42"
    # Given MySQL accepting connections and never answering
    faults.mysql.set_mode("hang")
    status, answer = post_events(stack, [security_event("login", ip)])
    assert status == 202, answer
    # The scheduled run sees the database check fail, probes twice more and pages (3 in 1 minute)
    result = stack.invoke("ScheduledChecksFunction", load_event("scheduled_checks.json"), timeout=60)
    assert result.ok, result.error
    assert result.payload["checks"]["database"] == "failed"
    wait_until(
        lambda: delivered(stack, faults, "Database connection failures") == {"email": 1, "sms": 1, "slack": 1},
        timeout=30,
        message=f"no database alert: {delivered(stack, faults, 'Database connection failures')}",
    )
    assert security_rows_when_back(faults, mysql_port, ip) == answer["event_ids"]


def security_rows_when_back(faults: Faults, mysql_port: int, ip: str) -> list[str]:
    """Let MySQL answer again and wait for the event's row: the processor's timed-out attempts were retried."""
    faults.mysql.set_mode("forward")
    rows = wait_until(
        lambda: security_log_rows(mysql_port, DATABASE, ip), timeout=30, message="the security event was lost"
    )
    return [row["event_id"] for row in rows]


# --- alert channels ---------------------------------------------------------------------------------


def test_ses_rejecting_and_slack_timing_out_sms_still_pages_and_the_redrive_sends_only_what_failed(
    stack: LocalStack, faults: Faults, store: RedisMetricBackend
) -> None:
    title = "Security breach attempt"
    # (the breach alert of the test above is resolved, so this one is a new incident that notifies)
    headers = {"X-Alerts-Secret": ALERTS_SECRET}
    resolved_before = delivered(stack, faults, title)
    assert api_call(stack, "POST", "/api/alerts/security_breach_attempt/resolve", headers=headers)[0] == 200
    # its resolved notice goes out by email and Slack: let it land before the faults begin
    wait_until(
        lambda: all(
            delivered(stack, faults, title)[channel] > resolved_before[channel] for channel in ("email", "slack")
        ),
        timeout=20,
        message="the resolved notice was not delivered",
    )
    before = delivered(stack, faults, title)
    # Given SES rejecting every email and Slack accepting connections but never answering
    rejected = faults.aws.fail(ses_error(), when=aws_request("ses", "SendRawEmail"))
    faults.slack.set_mode("hang")
    # When an alert fires (the guide's manual test: five breach attempts reported at once)
    decision = alerting_for(stack).alert("security_breach_attempt", {"count": 5, "ip": "203.0.113.9"})
    assert decision.outcome == "notified"

    def sent_since() -> dict[str, int]:
        return {channel: count - before[channel] for channel, count in delivered(stack, faults, title).items()}

    # Then the SMS goes out once; email and Slack fail on each of the three attempts, and the last
    # attempt reports each failing channel through the others (alert_channel_failure)
    wait_until(lambda: len(notifications(stack, "alert_channel_failure")) == 2, timeout=30, message="no report")
    reports = {n["labels"]["channel"]: tuple(n["channels"]) for n in notifications(stack, "alert_channel_failure")}
    assert reports == {"email": ("slack", "sms"), "slack": ("email", "sms")}
    wait_until(lambda: delivered(stack, faults, "Alert channel failing")["sms"] == 2, timeout=20)
    assert sent_since() == {"email": 0, "sms": 1, "slack": 0}
    for channel in ("email", "slack"):
        assert metric(store, "askproai_alert_delivery_failures", channel) >= 3

    # The event waits in AlertDispatcherDeadLetterQueue after the last attempt (as Lambda keeps it)
    sqs = aws_client("sqs", stack.moto_url, stack.region)
    dead_letter_queue = stack.resources["AlertDispatcherDeadLetterQueue"]["QueueUrl"]
    dead: dict[str, dict[str, Any]] = {}

    def dead_lettered() -> bool:
        for message in drain_queue(sqs, dead_letter_queue):
            notification = json.loads(json.loads(message["Body"])["Records"][0]["Sns"]["Message"])
            dead[notification["notification_id"]] = message
        return decision.notification_id in dead

    wait_until(dead_lettered, timeout=10, message="the alert was not dead-lettered")
    message = dead[decision.notification_id]
    # When both channels work again and the dead-lettered event is replayed (the runbook's replay
    # loop: invoke the dispatcher with the message body), only what failed is sent
    assert rejected.hits >= 3
    faults.aws.heal()
    faults.slack.set_mode("forward")
    time.sleep(0.3)
    result = stack.invoke("AlertDispatcherFunction", json.loads(message["Body"]), timeout=30)
    assert result.ok, result.error
    wait_until(lambda: sent_since()["email"] == 1, timeout=10)
    assert sent_since() == {"email": 1, "sms": 1, "slack": 1}


# --- Redis (last: it leaves every warm instance's metric recorder paused for 10 s) ---------------


def test_redis_down_health_and_metrics_503_webhooks_processed_and_alerts_delivered(
    stack: LocalStack, faults: Faults
) -> None:
    completed_before = completed_events(stack)
    # Given Redis stopped
    faults.redis.set_mode("down")
    # Then /api/health and /api/metrics say so
    status, body = health(stack)
    assert (status, check(body, "redis")["status"]) == (503, "failed"), body
    status, body = api_call(stack, "GET", "/api/metrics", headers={"X-Metrics-Secret": METRICS_SECRET})
    assert (status, body["error"]["code"]) == (503, "metric_store_unavailable")
    # and a dispute (Stripe webhook -> queue -> processor -> stripe_dispute alert) still goes through
    assert post_webhook(stack, serialize(stripe_event("charge.dispute.created")), WEBHOOK_SECRET)[0] == 200
    wait_until(lambda: completed_events(stack) - completed_before == 1, timeout=30, message="the event was lost")
    wait_until(
        lambda: delivered(stack, faults, "Charge dispute opened") == {"email": 1, "sms": 0, "slack": 1},
        timeout=30,
        message=f"stripe_dispute not delivered: {delivered(stack, faults, 'Charge dispute opened')}",
    )
    assert dead_letters(stack, "WebhooksDeadLetterQueue") == 0

    # When Redis is back, both endpoints answer again
    faults.redis.set_mode("forward")
    time.sleep(0.3)
    assert health(stack)[0] == 200
    assert api_call(stack, "GET", "/api/metrics", headers={"X-Metrics-Secret": METRICS_SECRET})[0] == 200


def test_the_matrix_document_links_every_test_of_this_file() -> None:
    document = (PROJECT_ROOT / "docs" / "faults.md").read_text(encoding="utf-8")
    tests = [
        name
        for name in globals()
        if name.startswith("test_") and name != "test_the_matrix_document_links_every_test_of_this_file"
    ]
    missing = [name for name in tests if f"test_fault_matrix.py::{name}" not in document]
    assert not missing, f"docs/faults.md does not link {missing}"

"""The guide's flow end to end on the stack `make local` runs, then `monitoring-test --all` against it.

A customer pays, a payment fails three times (Stripe redelivers one of the failures), an attacker
fails five logins. Everything goes in over HTTP as real clients send it: Stripe's signed webhooks
(the sample events of events/, re-signed now with localdev.stripe_sign as `make webhook` does) and
the platform's signed security events. Once every queue has drained, the health, metrics and alerts
endpoints, the sent messages, the security_logs table and the blocks API must tell the same story;
the expectations come from the rule data (alert_rules.json, the blocking rules), not from constants.

Which stack: `python -m localdev.stack` can take its ports on the command line, but as a subprocess
it writes `.local/stack.json` (and `.local/logs/`) in the project, where a developer's running
`make local` keeps its own (`make invoke` reads it), and its Slack capture and sent-message record
live inside it, reachable only through its console output. So the test starts the same `LocalStack`
class `main()` starts, in this process, on free ports (`local_stack`): every function, every
poller, SNS delivery and the rate(1 minute) schedule on, as `make local`, with `.env.example` as
its settings (what `make local` reads on a fresh checkout; a developer's `.env` may point Slack at
a real channel). Only the state is private: Redis DB 5 (through a TcpProxy, so the last test can
take Redis away), the MySQL database `askproai_e2e_test`, and the stack's own moto server. The
scheduled checks are also run once on purpose after the flow (`trigger_schedule`) so their verdict
is part of the agreement whatever the minute's phase.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.observability.store import RedisMetricBackend
from platform_monitoring.security.events import FAILED_LOGIN
from platform_monitoring.security.settings import SecuritySettings

from localdev.stack import PROJECT_ROOT, LocalStack
from localdev.stripe_sign import SIGNATURE_HEADER, resign
from localdev.template import aws_client, load_dotenv
from tests.support.faults import TcpProxy
from tests.support.functions import load_event
from tests.support.local_stack import aws_environment, local_stack, queue_depth
from tests.support.mysql import drop_database, security_log_rows
from tests.support.samples import Samples, value
from tests.support.stack_calls import post_webhook, request, scrape
from tests.support.stripe_events import sign
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

REDIS_DB = 5
DATABASE = "askproai_e2e_test"
ENV_FILE = PROJECT_ROOT / ".env.example"
CLI = PROJECT_ROOT / ".venv" / "bin" / "monitoring-test"

# The guide's scenario.
PAYMENT_FAILURES = 3
FAILED_LOGINS = 5
CUSTOMER = "cus_e2e_guide_flow"
ATTACKER = "127.0.0.66"  # a loopback address of its own: the local API reports it as the source IP
PLATFORM = "127.0.0.1"
STRIPE_CONTENT_TYPE = "application/json; charset=utf-8"  # what Stripe sends

# The rules the stack runs with: its settings are ENV_FILE's (the test's shell sets only Redis and MySQL).
RULES = RuleSet.load(load_dotenv(ENV_FILE).get("ALERT_RULE_OVERRIDES"))
BLOCKING = SecuritySettings.from_env(load_dotenv(ENV_FILE)).rules


# -- the stack ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_proxy(redis_port: int) -> Iterator[TcpProxy]:
    with TcpProxy("127.0.0.1", redis_port) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def stack(mysql_port: int, redis_port: int, redis_proxy: TcpProxy) -> Iterator[LocalStack]:
    # A clean slate in this test's own Redis DB and database (the stack creates and migrates it).
    RedisMetricBackend(redis.Redis(port=redis_port, db=REDIS_DB)).clear()
    drop_database(mysql_port, DATABASE)  # the stack creates and migrates it
    shell = {"REDIS_URL": f"redis://127.0.0.1:{redis_proxy.port}/{REDIS_DB}", "DB_DATABASE": DATABASE}
    with local_stack(env_file=ENV_FILE, environ=shell, schedules=True) as running:
        yield running


def setting(stack: LocalStack, name: str) -> str:
    """A setting the stack runs with (.env.example, then this test's shell)."""
    return stack.overrides[name]


def call(
    stack: LocalStack, method: str, path: str, *, body: str | None = None, source: str = PLATFORM, **options: Any
) -> tuple[int, str]:
    """One HTTP request to the stack's API from `source` (a client socket bound to that address)."""
    encoded = body.encode() if body is not None else None
    status, answer = request(stack, method, path, body=encoded, source=source, **options)
    return status, answer.decode()


def call_json(stack: LocalStack, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    status, text = call(stack, method, path, **kwargs)
    return status, json.loads(text)


# -- what goes in ---------------------------------------------------------------------------------
def stripe_sample(name: str) -> dict[str, Any]:
    """The Stripe event inside events/stripe_webhook_<name>.json."""
    event: dict[str, Any] = json.loads(load_event(f"stripe_webhook_{name}.json")["body"])
    return event


def stripe_payload(name: str, event_id: str, **object_changes: Any) -> str:
    """That sample as a new event (its own ID, created now, the object changed), serialised as Stripe
    sends it. Created now: the absence rules read an event's `created` as the last time its type was seen."""
    event = stripe_sample(name)
    event["id"] = event_id
    event["created"] = int(time.time())
    event["data"]["object"].update(object_changes)
    return json.dumps(event, indent=2)


def stripe_signature(stack: LocalStack, payload: str) -> str:
    """Signed as Stripe signs a delivery of the exact bytes, now (localdev.stripe_sign, as `make webhook`)."""
    signed = resign({"body": payload, "headers": {}}, setting(stack, "STRIPE_WEBHOOK_SECRET"))
    signature: str = signed["headers"][SIGNATURE_HEADER]
    return signature


def post_as_stripe(stack: LocalStack, payload: str) -> int:
    """Delivered as Stripe delivers: the exact bytes, signed now, Stripe's content type."""
    signature = stripe_signature(stack, payload)
    return post_webhook(stack, payload, signature=signature, content_type=STRIPE_CONTENT_TYPE)[0]


def post_security_event(stack: LocalStack, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"events": [event]})
    headers = {
        "Content-Type": "application/json",
        "X-Monitoring-Signature": sign(body, setting(stack, "EVENTS_SECRET")),
    }
    return call_json(stack, "POST", "/api/events", body=body, headers=headers)


def failed_login(attempt: int) -> dict[str, Any]:
    return {
        "type": FAILED_LOGIN,
        "ip": ATTACKER,
        "user_id": 42,
        "company_id": 7,
        "user_agent": "Mozilla/5.0 (credential stuffing)",
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "details": {"email": "victim@example.com", "password": f"guess-{attempt}", "attempt": attempt},
    }


# -- what comes out -------------------------------------------------------------------------------
def series(samples: Samples, name: str, *label_names: str) -> dict[tuple[str, ...], float]:
    """The non-zero series of one sample name, keyed by the values of `label_names`."""
    return {
        tuple(dict(labels)[label] for label in label_names): number
        for labels, number in samples.get(name, {}).items()
        if number
    }


def classify(message: dict[str, Any]) -> tuple[str, str]:
    """(alert type, kind) of a sent message: the SNS publication carries them; the email, the SMS
    and the Slack post show the rule's headline ("CRITICAL: Payment failures", "RESOLVED: ...")."""
    if message["channel"] == "sns":
        notification = json.loads(message["body"])
        return notification["alert_type"], notification["kind"]
    text = f"{message.get('subject') or ''}\n{message.get('body') or ''}"
    for rule in RULES.values():
        if f"{rule.severity.upper()}: {rule.title}" in text:
            return rule.type, "firing"
        if f"RESOLVED: {rule.title}" in text:
            return rule.type, "resolved"
    return ("test", "test") if "TEST: " in text else ("unknown", "unknown")


def channel_targets(stack: LocalStack) -> dict[str, int]:
    """Messages one notification makes per channel: one email to all recipients, one SMS per number."""
    return {
        "email": 1 if setting(stack, "ALERT_EMAIL_RECIPIENTS") and setting(stack, "ALERT_EMAIL_FROM") else 0,
        "sms": len([number for number in setting(stack, "ALERT_SMS_RECIPIENTS").split(",") if number.strip()]),
        "slack": 1 if setting(stack, "ALERT_SLACK_WEBHOOK") else 0,
    }


def firing_messages(stack: LocalStack, alert_type: str) -> Counter[tuple[str, str, str]]:
    """One publication on the alerts topic and one message per target of each of the rule's channels."""
    targets = channel_targets(stack)
    counts = Counter({(alert_type, "firing", "sns"): 1})
    for channel in RULES[alert_type].channels:
        counts[(alert_type, "firing", channel)] = targets[channel]
    return +counts


def queues_drained(stack: LocalStack) -> bool:
    """Every queue empty (visible and in flight), upstream first: a consumer deletes its message only
    after its own sends (alerts topic, SES, SMS, Slack) are done, so empty here means all delivered.
    Twice over, because the dispatcher may publish again (a failing channel is reported on the topic)."""
    sqs = aws_client("sqs", stack.moto_url, stack.region)
    upstream = [stack.resources[name]["QueueUrl"] for name in ("WebhooksQueue", "SecurityEventsQueue")]
    topics = [delivery.queue_url for delivery in stack.deliveries]
    return all(queue_depth(sqs, url) == 0 for url in [*upstream, *topics, *upstream, *topics])


def dead_letters(stack: LocalStack) -> dict[str, int]:
    sqs = aws_client("sqs", stack.moto_url, stack.region)
    return {
        name: queue_depth(sqs, resource["QueueUrl"])
        for name, resource in stack.resources.items()
        if "DeadLetter" in name and "QueueUrl" in resource
    }


# -- the flow, once per module --------------------------------------------------------------------
@dataclass
class Observed:
    """Everything the flow left behind, read once the queues drained (before monitoring-test adds its own)."""

    revenue: tuple[str, int]  # (currency, minor units) of the payment
    failure_reason: str
    accepted_event_ids: list[str]
    attacker_status: int
    attacker_answer: str
    health_status: int
    health: dict[str, Any]
    scheduled: dict[str, Any]
    samples: Samples
    alerts: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    block: dict[str, Any]
    dead_letters: dict[str, int]
    seconds: float


def describe(observed: Observed) -> str:
    """The figures, for the closing note of a run (-s)."""
    samples = observed.samples

    def flat(name: str, *labels: str) -> dict[str, float]:
        return {"/".join(key) or "-": number for key, number in series(samples, name, *labels).items()}

    figures = {
        "revenue": flat("askproai_revenue_processed_cents_total", "currency"),
        "payment_failures": flat("askproai_payment_failures_total", "reason"),
        "webhooks": flat("askproai_stripe_webhooks_total", "type", "status"),
        "failed_logins": flat("askproai_failed_logins_total"),
        "security_events": flat("askproai_security_events_total", "type"),
        "blocked_ips": flat("askproai_blocked_ips_total"),
        "alerts": [
            (alert["type"], alert["status"], alert["count"], alert["window_count"]) for alert in observed.alerts
        ],
        "messages": Counter("/".join((*classify(message), message["channel"])) for message in observed.messages),
        "alerts_sent": flat("askproai_alerts_sent_total", "type", "channel"),
        "security_logs_rows": len(observed.rows),
        "block": (observed.block["blocked"], observed.block["reason"]),
        "attacker_answer": observed.attacker_status,
        "health": (observed.health_status, observed.health["status"]),
        "scheduled_checks": (observed.scheduled["health"], observed.scheduled["resolved"]),
    }
    return json.dumps(figures)


@pytest.fixture(scope="module")
def flow(stack: LocalStack, mysql_port: int) -> Iterator[Observed]:
    started = time.monotonic()
    paid = stripe_sample("payment_intent_succeeded")["data"]["object"]
    failed = stripe_sample("payment_failed")["data"]["object"]

    # A customer pays.
    assert post_as_stripe(stack, stripe_payload("payment_intent_succeeded", "evt_e2e_paid", customer=CUSTOMER)) == 200
    # A payment fails three times; Stripe delivers the first failure twice.
    failures = [
        stripe_payload("payment_failed", f"evt_e2e_failed_{attempt}", customer=CUSTOMER)
        for attempt in range(PAYMENT_FAILURES)
    ]
    for payload in [*failures, failures[0]]:
        assert post_as_stripe(stack, payload) == 200
    # An attacker fails five logins; the platform reports each one as it happens.
    accepted: list[str] = []
    for attempt in range(FAILED_LOGINS):
        status, answer = post_security_event(stack, failed_login(attempt))
        assert (status, answer["accepted"], answer["errors"]) == (202, 1, []), answer
        accepted.extend(answer["event_ids"])

    wait_until(lambda: queues_drained(stack), timeout=40, interval=0.25, message="the queues did not drain")
    # Then the attacker comes to the API itself (its first request, so no cached authorizer answer).
    attacker_status, attacker_answer = call(stack, "GET", "/api/health", source=ATTACKER)
    health_status, health = call_json(
        stack, "GET", "/api/health", headers={"X-Health-Check-Secret": setting(stack, "HEALTH_CHECK_SECRET")}
    )
    scheduled = stack.trigger_schedule("ScheduledChecksFunction")
    assert scheduled.ok, scheduled.error
    alerts_status, alerts = call_json(
        stack, "GET", "/api/alerts", headers={"X-Alerts-Secret": setting(stack, "ALERTS_API_SECRET")}
    )
    assert alerts_status == 200, alerts
    block_status, block = call_json(
        stack,
        "GET",
        f"/api/security/blocks/{ATTACKER}",
        headers={"X-Alerts-Secret": setting(stack, "ALERTS_API_SECRET")},
    )
    assert block_status == 200, block
    observed = Observed(
        revenue=(paid["currency"], paid["amount_received"]),
        failure_reason=failed["last_payment_error"]["decline_code"],
        accepted_event_ids=accepted,
        attacker_status=attacker_status,
        attacker_answer=attacker_answer,
        health_status=health_status,
        health=health,
        scheduled=scheduled.payload,
        samples=scrape(stack, setting(stack, "METRICS_SECRET")),
        alerts=alerts["alerts"],
        messages=stack.sent_messages(),
        rows=security_log_rows(mysql_port, DATABASE, ATTACKER),
        block=block["block"],
        dead_letters=dead_letters(stack),
        seconds=time.monotonic() - started,
    )
    print(f"\nflow: in and drained in {observed.seconds:.1f} s; {describe(observed)}")
    yield observed

    # Clean up: the operator lifts the block (the stack, its moto and its blocks go away next).
    status, ended = call_json(
        stack,
        "DELETE",
        f"/api/security/blocks/{ATTACKER}",
        body=json.dumps({"by": "e2e-test"}),
        headers={"X-Alerts-Admin-Secret": setting(stack, "ALERTS_ADMIN_SECRET"), "Content-Type": "application/json"},
    )
    assert (status, ended["block"]["blocked"]) == (200, False), ended


# -- the agreement --------------------------------------------------------------------------------
def test_metrics_count_each_thing_that_happened_once(flow: Observed) -> None:
    samples = flow.samples
    currency, amount = flow.revenue
    assert series(samples, "askproai_revenue_processed_cents_total", "currency") == {(currency,): amount}
    # the redelivered failure is a duplicate, not a fourth failure
    assert series(samples, "askproai_payment_failures_total", "reason") == {(flow.failure_reason,): PAYMENT_FAILURES}
    assert series(samples, "askproai_stripe_webhooks_total", "type", "status") == {
        ("payment_intent.succeeded", "processed"): 1,
        ("payment_intent.payment_failed", "processed"): PAYMENT_FAILURES,
        ("payment_intent.payment_failed", "duplicate"): 1,
    }
    assert value(samples, "askproai_failed_logins_total") == FAILED_LOGINS
    assert series(samples, "askproai_security_events_total", "type") == {(FAILED_LOGIN,): FAILED_LOGINS}
    assert BLOCKING.failed_logins.limit <= FAILED_LOGINS  # the scenario crosses the blocking rule: one block
    assert value(samples, "askproai_blocked_ips_total") == 1
    # every request was answered without an error, and counted by route
    requests = series(samples, "askproai_http_requests_total", "route", "method", "status")
    assert requests[("/api/webhooks/stripe", "POST", "200")] == PAYMENT_FAILURES + 2
    assert requests[("/api/events", "POST", "202")] == FAILED_LOGINS
    assert series(samples, "askproai_http_requests_errors_total", "route") == {}
    assert series(samples, "askproai_alert_delivery_failures_total", "channel") == {}
    assert value(samples, "askproai_up") == 1


def fired() -> dict[str, int]:
    """Alert type -> occurrences the flow reports, for the rules those occurrences reach."""
    occurrences = {"payment_failure": PAYMENT_FAILURES, "security_breach_attempt": FAILED_LOGINS}
    return {kind: count for kind, count in occurrences.items() if count >= RULES[kind].count_threshold}


def test_alerts_fire_once_each_as_the_rules_say(flow: Observed) -> None:
    expected = fired()
    assert sorted(alert["type"] for alert in flow.alerts) == sorted(expected)
    for alert in flow.alerts:
        rule = RULES[alert["type"]]
        occurrences = expected[alert["type"]]
        assert (alert["status"], alert["severity"]) == ("firing", rule.severity), alert
        # count: the occurrence that fired it and every repeat since; window_count: the window at the last one
        repeats = occurrences - rule.count_threshold
        assert (alert["count"], alert["window_count"]) == (1 + repeats, occurrences), alert
        assert (alert["notifications"], alert["suppressed"]) == (1, repeats), alert


def test_one_message_per_channel_target_per_alert_and_the_metrics_agree(stack: LocalStack, flow: Observed) -> None:
    sent = Counter((*classify(message), message["channel"]) for message in flow.messages)
    expected: Counter[tuple[str, str, str]] = Counter()
    for alert_type in fired():
        expected += firing_messages(stack, alert_type)
    assert sent == expected
    # askproai_alerts_sent_total counts the same deliveries (the topic publication is not a delivery)
    delivered = {(t, c): n for (t, kind, c), n in sent.items() if kind == "firing" and c != "sns"}
    assert series(flow.samples, "askproai_alerts_sent_total", "type", "channel") == delivered


def test_security_logs_hold_the_five_failed_logins_and_the_attacker_is_blocked(flow: Observed) -> None:
    assert [row["event_id"] for row in flow.rows] == flow.accepted_event_ids
    for attempt, row in enumerate(flow.rows):
        assert (row["type"], row["ip"], row["user_id"], row["company_id"], row["source"]) == (
            FAILED_LOGIN,
            ATTACKER,
            "42",
            "7",
            "api",
        )
        assert row["user_agent"] == "Mozilla/5.0 (credential stuffing)"
        details = json.loads(row["details"])
        assert (details["attempt"], details["password"]) == (attempt, "[MASKED]")
    block = flow.block
    assert (block["ip"], block["blocked"], block["decided_by"]) == (ATTACKER, True, "rule:failed_logins")
    assert (block["duration_seconds"], block["offences"]) == (BLOCKING.block_seconds, 1)
    assert f"{FAILED_LOGINS} in" in block["reason"]
    assert flow.attacker_status == 403
    assert json.loads(flow.attacker_answer)["error"]["code"] == "access_denied"


def test_health_and_the_scheduled_checks_are_green_and_nothing_was_lost(flow: Observed) -> None:
    assert (flow.health_status, flow.health["status"]) == (200, "healthy"), flow.health
    checks = {check["name"]: check["status"] for check in flow.health["checks"]}
    assert set(checks.values()) == {"ok"}, checks
    # the gauges the health run wrote agree with its answer; the queues it saw were empty
    assert series(flow.samples, "askproai_health_check_status", "check") == {(name,): 1.0 for name in checks}
    queues = next(check for check in flow.health["checks"] if check["name"] == "queues")
    assert set(queues["meta"].values()) == {0}, queues
    assert flow.dead_letters == dict.fromkeys(flow.dead_letters, 0)
    # the scheduled checks see the same: healthy, nothing to raise, nothing cleared yet
    # (each alert's window still holds the flow's occurrences)
    run = flow.scheduled
    assert (run["health"], set(run["checks"].values()), run["alerts"], run["errors"]) == (
        "healthy",
        {"ok"},
        [],
        [],
    ), run
    assert run["resolved"] == [], run


# -- monitoring-test --all against the running stack ----------------------------------------------
def monitoring_test(stack: LocalStack, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The console script, with what an operator's shell holds for this stack: its settings (its
    localstripe, its Slack capture, Redis DB 5...) and its moto server; cwd without a .env so only these count."""
    environment = {
        "PATH": os.environ["PATH"],
        **stack.overrides,
        **aws_environment(stack.moto_url, stack.region),
    }
    return subprocess.run(
        [CLI, *args, "--url", stack.api_url], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=90
    )


def verdicts(output: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+): (passed|FAILED|not available)$", output, re.MULTILINE))


def test_monitoring_test_all_passes_then_names_redis_when_it_is_down(
    stack: LocalStack, flow: Observed, redis_proxy: TcpProxy, tmp_path: Path
) -> None:
    before = {message["id"] for message in stack.sent_messages()}
    passed = monitoring_test(stack, tmp_path, "--all")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert verdicts(passed.stdout) == dict.fromkeys(("health", "alert", "performance", "security"), "passed")
    # its test alert reached every channel the stack delivers to, once
    new = [message for message in stack.sent_messages() if message["id"] not in before]
    # beside it only the pages of --security's own block and unblock (each is a security_control_change)
    assert ("test", "test") in {classify(message) for message in new}
    assert {classify(message) for message in new} <= {("test", "test"), ("security_control_change", "firing")}
    tests = Counter(message["channel"] for message in new if classify(message) == ("test", "test"))
    assert tests == +Counter(channel_targets(stack))

    redis_proxy.set_mode("down")
    try:
        broken = monitoring_test(stack, tmp_path, "--all")
    finally:
        redis_proxy.set_mode("forward")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    found = verdicts(broken.stdout)
    assert (found["health"], found["alert"]) == ("FAILED", "passed"), broken.stdout
    assert re.search(r"^\s+FAIL redis\b", broken.stdout, re.MULTILINE), broken.stdout
    assert found["performance"] == found["security"] == "FAILED"  # both read /api/metrics, which needs Redis
    assert "/api/metrics answered 503" in broken.stdout

    # Redis back: the same stack passes again
    healed = monitoring_test(stack, tmp_path, "--health")
    assert healed.returncode == 0, healed.stdout + healed.stderr

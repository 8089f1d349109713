"""`monitoring-test`: the guide's `php artisan monitoring:test` for this bundle.

Tests a running stack, local (`make local`, the default URL) or deployed (`--url` with the
stack's ApiUrl output), and exits non-zero when anything tested fails:

    monitoring-test --health                 # the health endpoint, its auth and every check
    monitoring-test --health --in-process    # run the checks from this shell's settings
    monitoring-test --all --url https://abc.execute-api.eu-west-1.amazonaws.com/prod
    monitoring-test --security               # events in, a block, a look-up and an unblock, end to end
    monitoring-test --security --block 203.0.113.7 [--hours 24] [--reason "..."]
    monitoring-test --security --lookup 203.0.113.7
    monitoring-test --security --unblock 203.0.113.7
    monitoring-test --notifications payment_failure   # the alert's delivery history, every attempt
    monitoring-test --report weekly-security          # render a report now (daily-critical, monthly-performance)
    monitoring-test --report weekly-security --output week.html --send   # the HTML to a file, and send it
    monitoring-test --stripe-reconcile --since 2h   # replay Stripe's events of the last two hours

--stripe-reconcile runs StripeReconciliationFunction's reconciler here, from this shell's settings
(STRIPE_SECRET_KEY, IDEMPOTENCY_TABLE, STRIPE_RECONCILIATION_TABLE and the alerting tables: the
stack's resource names), printing its progress per event type.

Against the local stack (no --url, or a loopback one), settings the environment does not set are
read from ./.env, else ./.env.example, so the local stack's secrets work without exporting anything.
Against a deployed stack (any other --url) no file is read unless --env-file names one, and never
its AWS endpoint or AWS keys: AWS calls use your own credentials (profile, SSO, role). Endpoint
secrets may be `ssm:/name` or `secretsmanager:name` references; they are resolved, never sent as is.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platform_monitoring.alerting.settings import AlertDispatcherSettings, AlertingSettings
from platform_monitoring.core import clients
from platform_monitoring.core.config import env_reader
from platform_monitoring.core.env_file import find_env_file, read_env_file
from platform_monitoring.core.masking import mask_text
from platform_monitoring.health.checks import default_checks
from platform_monitoring.health.service import HealthCheckService
from platform_monitoring.health.settings import HealthSettings
from platform_monitoring.observability.catalog import CATALOG
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.observability.performance import PerformanceMonitor, mysql_connection
from platform_monitoring.observability.store import RedisMetricBackend
from platform_monitoring.reports.builders import REPORTS
from platform_monitoring.reports.model import render_html, render_text
from platform_monitoring.reports.settings import ReportsSettings
from platform_monitoring.webhooks.reconciliation import ReconciliationRun, parse_since
from platform_monitoring.webhooks.settings import ReconciliationSettings
from platform_monitoring.wiring.alerting import alert_topics_subscribers, send_test_alert
from platform_monitoring.wiring.reconciliation import build_reconciler
from platform_monitoring.wiring.reports import build_report_sender, build_report_sources, render_and_send

DEFAULT_URL = "http://127.0.0.1:3000"
SYMBOLS = {"ok": "PASS", "warning": "WARN", "failed": "FAIL", "skipped": "SKIP"}


@dataclass
class ComponentResult:
    name: str
    passed: bool
    lines: list[str] = field(default_factory=list)


EXIT_CODES = """exit codes:
  0  every component tested passed
  1  a component failed (its FAIL lines say which check)
  2  wrong arguments, or a combination refused (see the message)"""

# Lines of a local env file that would point a run against a deployed stack at the local emulator.
LOCAL_ONLY_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}  # noqa: S104 - compared, not bound


def load_env_file(directory: Path = Path()) -> Path | None:
    """Fill the variables the environment does not set from ./.env, else ./.env.example."""
    found = find_env_file(directory)
    if found:
        apply_env_file(found)
    return found


def apply_env_file(path: Path, *, skip: Callable[[str], bool] = lambda name: False) -> list[str]:
    """setdefault each variable of `path` into os.environ, except those `skip` refuses; returns those."""
    skipped = []
    for key, value in read_env_file(path).items():
        if skip(key):
            skipped.append(key)
        else:
            os.environ.setdefault(key, value)
    return skipped


def is_local_only(name: str) -> bool:
    return name.startswith("AWS_ENDPOINT_URL") or name in LOCAL_ONLY_VARIABLES


def is_local_url(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "").lower() in LOOPBACK_HOSTS


def endpoint_secret(variable: str) -> str:
    """The value of an endpoint secret: literal, or resolved from SSM / Secrets Manager.

    Raises SecretUnavailable naming the variable (never the value) when a reference cannot be read."""
    secret = env_reader().secret(variable)
    try:
        return secret.reveal() or ""
    except Exception as error:
        raise SecretUnavailable(
            f"{variable} ({secret.source} reference) could not be read: {type(error).__name__}"
        ) from None


class SecretUnavailable(OSError):
    """An endpoint secret's reference could not be resolved; reported as the component's failure."""


def unreachable(url: str, error: OSError) -> str:
    return str(error) if isinstance(error, SecretUnavailable) else f"cannot reach {url}: {error}"


def http_get_text(url: str, headers: dict[str, str], timeout: float = 30) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310 - URL chosen by the operator
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def http_get(url: str, headers: dict[str, str], timeout: float = 30) -> tuple[int, dict[str, Any]]:
    status, text = http_get_text(url, headers, timeout)
    try:
        return status, json.loads(text or "{}")
    except ValueError:
        return status, {"raw": text[:200]}


def describe_checks(checks: list[dict[str, Any]]) -> list[str]:
    return [
        f"  {SYMBOLS.get(c['status'], c['status']):4} {c['name']:<11} {c['duration']:>8.1f} ms  {c['message']}"
        for c in checks
    ]


def probe_health_endpoint(base_url: str) -> ComponentResult:
    result = ComponentResult("health", passed=True)
    url = base_url.rstrip("/") + "/api/health"
    try:
        secret = endpoint_secret("HEALTH_CHECK_SECRET")
        refused, _ = http_get(url, {})
        status, body = http_get(url, {"X-Health-Check-Secret": secret})
    except OSError as error:
        result.passed = False
        result.lines.append(f"  FAIL {unreachable(url, error)}")
        return result
    if refused not in (401, 503):
        result.passed = False
        result.lines.append(f"  FAIL a request without the secret got {refused}, expected 401")
    else:
        result.lines.append(f"  PASS a request without the secret is refused ({refused})")
    if status not in (200, 503) or "checks" not in body:
        result.passed = False
        result.lines.append(f"  FAIL {url} answered {status}: {json.dumps(body)[:300]}")
        return result
    result.lines.append(f"  {'PASS' if status == 200 else 'FAIL'} {url} answered {status}: {body['status']}")
    result.lines.extend(describe_checks(body["checks"]))
    result.passed = result.passed and all(check["status"] != "failed" for check in body["checks"])
    return result


def probe_health_in_process() -> ComponentResult:

    settings = HealthSettings.from_env()
    report = HealthCheckService(default_checks(settings), timeout=settings.check_timeout).run()
    body = report.to_dict()
    lines = [f"  checks run in this process: {body['status']}", *describe_checks(body["checks"])]
    passed = all(check["status"] != "failed" for check in body["checks"])
    return ComponentResult("health", passed=passed, lines=lines)


def scraped_samples(base_url: str) -> tuple[int, dict[str, float], set[str]]:
    """(status, {sample name + sorted labels: value}, family names) of one scrape."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    secret = endpoint_secret("METRICS_SECRET")
    status, text = http_get_text(base_url.rstrip("/") + "/api/metrics", {"Authorization": f"Bearer {secret}"})
    if status != 200:
        return status, {}, set()
    samples: dict[str, float] = {}
    families: set[str] = set()
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        for sample in family.samples:
            samples[sample.name + json.dumps(sorted(sample.labels.items()))] = sample.value
    return status, samples, families


def health_requests(samples: dict[str, float]) -> float:
    prefix = 'askproai_http_requests_total[["method", "GET"], ["route", "/api/health"]'
    return sum(value for key, value in samples.items() if key.startswith(prefix))


def probe_metrics_pipeline(base_url: str) -> ComponentResult:
    """A metric written through the store shows up in a scrape: a health request is counted."""

    result = ComponentResult("performance", passed=True)
    try:
        status, before, families = scraped_samples(base_url)
        if status != 200:
            result.passed = False
            result.lines.append(f"  FAIL /api/metrics answered {status}")
            return result
        http_get(
            base_url.rstrip("/") + "/api/health", {"X-Health-Check-Secret": endpoint_secret("HEALTH_CHECK_SECRET")}
        )
        _, after, _ = scraped_samples(base_url)
    except OSError as error:
        result.passed = False
        result.lines.append(f"  FAIL {unreachable(base_url, error)}")
        return result
    missing = sorted(m.name for m in CATALOG if m.name not in families)
    counted = health_requests(after) - health_requests(before)
    checks = [
        (after.get("askproai_up[]") == 1.0, "askproai_up is 1"),
        (not missing, "every catalog metric is exposed" + (f" (missing: {', '.join(missing)})" if missing else "")),
        (counted >= 1, f"a health request was counted in askproai_http_requests_total (+{counted:g})"),
    ]
    for ok, text in checks:
        result.lines.append(f"  {'PASS' if ok else 'FAIL'} {text}")
        result.passed = result.passed and ok
    return result


def topic_lines(settings: AlertDispatcherSettings) -> list[str]:
    """A WARN for each alert topic nobody confirmed a subscription to: what is published there reaches
    no one (the dispatcher's own subscription to AlertsTopic counts; an unconfirmed e-mail does not)."""
    variables = {"AlertsTopic": "ALERTS_TOPIC_ARN", "OperationsAlarmTopic": "OPERATIONS_ALARM_TOPIC_ARN"}
    lines = []
    for name, answer in alert_topics_subscribers(settings).items():
        if answer is None:
            lines.append(f"  NOTE {name}: {variables[name]} is not set, its subscribers were not checked")
        elif isinstance(answer, str):
            lines.append(f"  WARN {name}: its subscriptions could not be listed ({answer})")
        elif not answer.reaches_someone:
            pending = f" ({answer.pending} pending confirmation)" if answer.pending else ""
            lines.append(f"  WARN {name} has no confirmed subscriber{pending}: what it carries reaches nobody")
        else:
            lines.append(f"  PASS {name}: {answer.confirmed} confirmed subscriber(s)")
    return lines


def probe_alert_channels() -> ComponentResult:
    """A test alert through every configured channel (email, SMS, Slack), each reported on its own line,
    then whether the alert topics reach anyone (a WARN, not a failure)."""

    settings = AlertDispatcherSettings.from_env()
    results = send_test_alert(settings)
    symbols = {"sent": "PASS", "failed": "FAIL", "skipped": "SKIP"}
    lines = [
        f"  {symbols.get(r.status, r.status.upper()):4} {r.channel:<6} {r.target}: {r.status}"
        + (f" ({r.detail})" if r.detail else "")
        for r in results
    ]
    sent = [r for r in results if r.status == "sent"]
    if not sent and not any(r.status == "failed" for r in results):
        lines.append(
            "  FAIL no alert channel is configured (ALERT_EMAIL_RECIPIENTS, ALERT_SLACK_WEBHOOK, ALERT_SMS_RECIPIENTS)"
        )
    lines += topic_lines(settings)
    return ComponentResult("alert", passed=bool(sent) and all(r.status != "failed" for r in results), lines=lines)


PERFORMANCE_TEST_TRANSACTION = "monitoring_test"
PERFORMANCE_TEST_THRESHOLD_MS = 50.0


def sample(samples: dict[str, float], name: str, **labels: str) -> float:
    return samples.get(name + json.dumps(sorted(labels.items())), 0.0)


def exercise_performance_monitor() -> tuple[list[tuple[bool, str]], list[tuple[str, dict[str, str], str]]]:
    """PerformanceMonitor in this process, writing to the metric store of this shell's REDIS_URL: a
    slow transaction, a Stripe API call (retrieve the balance) and a slow query (SELECT SLEEP).
    Returns (checks, expected increases in a scrape as (series, labels, description))."""
    import io  # noqa: PLC0415
    import logging  # noqa: PLC0415
    import time  # noqa: PLC0415

    settings = HealthSettings.from_env()
    timeout = settings.check_timeout
    recorder.use(RedisMetricBackend(clients.redis_client(settings.redis, timeout)))
    monitor = PerformanceMonitor(thresholds={PERFORMANCE_TEST_TRANSACTION: PERFORMANCE_TEST_THRESHOLD_MS})
    log_handler = logging.getLogger("channel-performance").handlers[0]
    captured = io.StringIO()
    previous = log_handler.setStream(captured) if isinstance(log_handler, logging.StreamHandler) else None
    checks: list[tuple[bool, str]] = []
    try:
        with monitor.transaction(PERFORMANCE_TEST_TRANSACTION, {"status_code": 200}):
            time.sleep(PERFORMANCE_TEST_THRESHOLD_MS * 1.5 / 1000)
        try:
            monitor.monitor_api_call("stripe", clients.stripe_client(settings.stripe, timeout).balance.retrieve)
            checks.append((True, "a Stripe API call (retrieve the balance) through monitor_api_call"))
        except Exception as error:
            checks.append((False, f"the Stripe API call failed: {type(error).__name__}"))
        seconds = settings.database.slow_query_ms * 1.5 / 1000
        try:
            connection = mysql_connection(settings.database, timeout + seconds)
            with connection.cursor() as cursor:
                cursor.execute("SELECT SLEEP(%s)", (seconds,))
            connection.close()
        except Exception as error:
            checks.append((False, f"the slow query could not run: {type(error).__name__}: {error}"))
    finally:
        if isinstance(log_handler, logging.StreamHandler):
            log_handler.setStream(previous)
    written = recorder.flush()
    checks.append((written > 0, f"{written} metric updates written to the metric store (REDIS_URL)"))
    logged = [json.loads(line) for line in captured.getvalue().splitlines() if line.startswith("{")]
    messages = {line.get("message"): line for line in logged}
    slow_query = messages.get("Slow query")
    checks.append((f"Slow transaction: {PERFORMANCE_TEST_TRANSACTION}" in messages, "the slow transaction was logged"))
    checks.append(
        (
            slow_query is not None,
            "the slow query was logged on the performance channel"
            + (f": {slow_query['sql']} ({slow_query['duration_ms']:.0f} ms)" if slow_query else ""),
        )
    )
    expected = [
        ("askproai_transaction_duration_ms_count", {"transaction": PERFORMANCE_TEST_TRANSACTION}, "transaction"),
        ("askproai_slow_transactions_total", {"transaction": PERFORMANCE_TEST_TRANSACTION}, "slow transaction"),
        ("askproai_external_api_calls_total", {"service": "stripe"}, "API call"),
        ("askproai_slow_queries_total", {}, "slow query"),
    ]
    return checks, expected


def probe_performance(base_url: str) -> ComponentResult:
    """The metrics pipeline, then a transaction, an API call and a slow query, seen in a scrape."""
    result = probe_metrics_pipeline(base_url)
    if not result.passed:
        return result
    try:
        _, before, _ = scraped_samples(base_url)
        checks, expected = exercise_performance_monitor()
        _, after, _ = scraped_samples(base_url)
    except Exception as error:
        result.passed = False
        result.lines.append(f"  FAIL PerformanceMonitor could not be exercised: {type(error).__name__}: {error}")
        return result
    for name, labels, what in expected:
        grown = sample(after, name, **labels) - sample(before, name, **labels)
        shown = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
        checks.append((grown >= 1, f"the {what} was recorded: {shown} +{grown:g} in /api/metrics"))
    for ok, text in checks:
        result.lines.append(f"  {'PASS' if ok else 'FAIL'} {text}")
        result.passed = result.passed and ok
    return result


def http_send(url: str, method: str, headers: dict[str, str], body: bytes | None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - URL chosen by the operator
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode("utf-8", "replace")
    try:
        return status, json.loads(text or "{}")
    except ValueError:
        return status, {"raw": text[:200]}


def blocks_call(base_url: str, method: str, ip: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """GET /api/security/blocks/{ip} with ALERTS_API_SECRET; PUT and DELETE with ALERTS_ADMIN_SECRET."""
    url = f"{base_url.rstrip('/')}/api/security/blocks/{urllib.parse.quote(ip, safe='')}"
    if method == "GET":
        headers = {"X-Alerts-Secret": endpoint_secret("ALERTS_API_SECRET")}
    else:
        headers = {"X-Alerts-Admin-Secret": endpoint_secret("ALERTS_ADMIN_SECRET")}
    headers["Content-Type"] = "application/json"
    return http_send(url, method, headers, json.dumps(body).encode() if body is not None else None)


def post_security_events(base_url: str, events: list[dict[str, Any]], secret: str) -> tuple[int, dict[str, Any]]:
    """POST /api/events signed with `secret` (X-Monitoring-Signature, Stripe's scheme)."""
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415
    import time  # noqa: PLC0415

    body = json.dumps({"events": events})
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Monitoring-Signature": f"t={timestamp},v1={digest}"}
    return http_send(base_url.rstrip("/") + "/api/events", "POST", headers, body.encode())


def describe_block(block: dict[str, Any]) -> str:
    state = "BLOCKED" if block.get("blocked") else "not blocked"
    return (
        f"{block.get('ip')}: {state} until {block.get('until')} ({block.get('reason')}; decided by "
        f"{block.get('decided_by')}; offence {block.get('offences')})"
    )


def manage_block(args: argparse.Namespace) -> ComponentResult:
    """--block / --unblock / --lookup IP through the blocks API."""
    result = ComponentResult("security", passed=False)
    if args.block:
        body: dict[str, Any] = {"by": os.environ.get("USER", "monitoring-test"), "reason": args.reason}
        if args.hours is not None:
            body["hours"] = args.hours
        status, answer = blocks_call(args.url, "PUT", args.block, body)
    elif args.unblock:
        status, answer = blocks_call(
            args.url, "DELETE", args.unblock, {"by": os.environ.get("USER", "monitoring-test")}
        )
    else:
        status, answer = blocks_call(args.url, "GET", args.lookup)
    result.passed = status == 200
    if "block" in answer:
        result.lines.append(f"  {'PASS' if result.passed else 'FAIL'} {describe_block(answer['block'])}")
    else:
        result.lines.append(f"  FAIL {status}: {json.dumps(answer.get('error', answer))[:300]}")
    return result


def describe_attempt(attempt: dict[str, Any]) -> str:
    step = f" escalation {attempt['escalation']}" if attempt.get("escalation") else ""
    reason = f": {attempt['reason']}" if attempt.get("reason") else ""
    return (
        f"{attempt.get('at')} {attempt.get('kind')}{step} {attempt.get('target')} attempt {attempt.get('attempt')} "
        f"{str(attempt.get('outcome', '')).upper()}{reason}"
    )


def show_notifications(args: argparse.Namespace) -> ComponentResult:
    """--notifications ALERT_ID: the alert's delivery history through GET /api/alerts/{id}/notifications."""
    alert_id = args.notifications
    url = f"{args.url.rstrip('/')}/api/alerts/{urllib.parse.quote(alert_id, safe='')}/notifications"
    status, answer = http_send(url, "GET", {"X-Alerts-Secret": os.environ.get("ALERTS_API_SECRET", "")}, None)
    result = ComponentResult(f"notifications of {alert_id}", passed=status == 200)
    if status != 200:
        result.lines.append(f"  FAIL {status}: {json.dumps(answer.get('error', answer))[:300]}")
        return result
    attempts = answer.get("notifications") or []
    result.lines.extend(f"  {describe_attempt(attempt)}" for attempt in attempts)
    result.lines.append(f"  {len(attempts)} attempt(s); failed: {sum(a.get('outcome') == 'failed' for a in attempts)}")
    return result


SECURITY_TEST_IP = "192.0.2.77"  # TEST-NET-1: never a real client


def probe_security(args: argparse.Namespace) -> ComponentResult:
    """Events in (signed, malformed, forged), counted in /api/metrics; then block, look up, unblock."""
    if args.block or args.unblock or args.lookup:
        return manage_block(args)
    import time  # noqa: PLC0415

    result = ComponentResult("security", passed=True)
    occurred = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event = {"type": "api_key_usage", "ip": SECURITY_TEST_IP, "occurred_at": occurred, "details": {"test": True}}
    checks: list[tuple[bool, str]] = []
    try:
        secret = endpoint_secret("EVENTS_SECRET")
        scraped, before, _ = scraped_samples(args.url)
        if scraped != 200:  # the processing is seen in /api/metrics: without it, fail now, not after the wait
            result.passed = False
            result.lines.append(f"  FAIL /api/metrics answered {scraped}: the event's processing cannot be seen")
            return result
        status, answer = post_security_events(args.url, [event, {**event, "ip": "not-an-ip"}], secret)
        checks.append(
            (
                status == 202 and answer.get("accepted") == 1,
                f"a signed batch is accepted ({status}, {answer.get('accepted')} of 2 events)",
            )
        )
        errors = answer.get("errors") or [{}]
        checks.append((errors[0].get("field") == "ip", f"the malformed event is named: {json.dumps(errors[0])}"))
        forged, _ = post_security_events(args.url, [event], secret + "-forged")
        checks.append((forged == 400, f"a wrongly signed batch is refused ({forged})"))
        series = "askproai_security_events_total" + json.dumps([["type", "api_key_usage"]])
        grown = 0.0
        for _ in range(40):
            _, after, _ = scraped_samples(args.url)
            grown = after.get(series, 0.0) - before.get(series, 0.0)
            if grown >= 1:
                break
            time.sleep(0.5)
        checks.append(
            (grown >= 1, f'the event was processed: askproai_security_events_total{{type="api_key_usage"}} +{grown:g}')
        )
        status, blocked = blocks_call(
            args.url, "PUT", SECURITY_TEST_IP, {"hours": 1, "reason": "monitoring-test", "by": "monitoring-test"}
        )
        checks.append(
            (
                status == 200 and blocked.get("block", {}).get("blocked") is True,
                f"PUT blocks {SECURITY_TEST_IP} ({status})",
            )
        )
        status, looked = blocks_call(args.url, "GET", SECURITY_TEST_IP)
        checks.append(
            (status == 200 and looked.get("block", {}).get("blocked") is True, f"GET shows it blocked ({status})")
        )
        status, ended = blocks_call(args.url, "DELETE", SECURITY_TEST_IP, {"by": "monitoring-test"})
        checks.append(
            (status == 200 and ended.get("block", {}).get("blocked") is False, f"DELETE unblocks it ({status})")
        )
    except OSError as error:
        result.passed = False
        result.lines.append(f"  FAIL {unreachable(args.url, error)}")
        return result
    for ok, text in checks:
        result.lines.append(f"  {'PASS' if ok else 'FAIL'} {text}")
        result.passed = result.passed and ok
    return result


def alert_component(args: argparse.Namespace) -> ComponentResult:
    result = probe_alert_channels()
    if not args.local:
        # Said first: the alert does not go through the deployed stack but from here, as the operator.
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "the profile's region"
        profile = os.environ.get("AWS_PROFILE", "default")
        result.lines.insert(
            0, f"  NOTE sent from this shell through SES/SNS of your AWS credentials (profile {profile}, {region})"
        )
    return result


def performance_component(args: argparse.Namespace) -> ComponentResult:
    if args.local or os.environ.get("REDIS_URL"):
        return probe_performance(args.url)
    # The in-process half writes to the stack's metric store directly, which a deployed stack keeps
    # inside its VPC: only the API half runs unless the operator points REDIS_URL (and DB_*) there.
    result = probe_metrics_pipeline(args.url)
    result.lines.append(
        "  SKIP PerformanceMonitor in this process: set REDIS_URL, DB_* and STRIPE_SECRET_KEY of the stack "
        "(from a host inside its VPC) to run it against the deployed stack"
    )
    return result


COMPONENTS: dict[str, Callable[[argparse.Namespace], ComponentResult]] = {
    "health": lambda args: probe_health_in_process() if args.in_process else probe_health_endpoint(args.url),
    "alert": alert_component,
    "performance": performance_component,
    "security": probe_security,
}


def reconcile_stripe(since_text: str) -> ComponentResult:
    """Replay Stripe's events of the last `since_text` through the exactly-once processor."""

    result = ComponentResult("stripe-reconcile", True)
    try:
        seconds = parse_since(since_text)
        settings = ReconciliationSettings.from_env()
        reconciler = build_reconciler(settings, AlertingSettings.from_env(monitoring=settings.processor.monitoring))
    except Exception as error:  # settings missing or wrong: say which, then stop
        result.passed = False
        result.lines.append(f"  FAIL {error}")
        return result

    def progress(run: ReconciliationRun, step: str) -> None:
        done = f"{run.listed} listed, {run.recovered} recovered, {run.duplicates} already processed"
        print(f"  ... {'finished' if step == 'done' else step}: {done}", flush=True)

    run = reconciler.run(since=int(reconciler.clock()) - seconds, progress=progress)
    recorder.flush()
    if run.outcome == "busy":
        result.passed = False
        result.lines.append("  FAIL another reconciliation holds the lease; try again when it has finished")
        return result
    result.lines.append(
        f"  {'PASS' if not run.errors else 'FAIL'} {run.listed} events listed in {run.api_calls} Stripe requests: "
        f"{run.recovered} recovered (their webhook never arrived), {run.duplicates} already processed, "
        f"{run.failed} failed"
    )
    for event_type, count in sorted(run.missed_types.items()):
        result.lines.append(f"       recovered {event_type}: {count}")
    if run.unrecoverable_gap:
        result.lines.append(
            f"  WARN {run.unrecoverable_gap['seconds']} s of the range are older than Stripe's 30 days of events"
        )
    result.lines.extend(f"  FAIL {error}" for error in run.errors)
    result.passed = not run.errors
    return result


def render_report(args: argparse.Namespace) -> ComponentResult:
    """`--report KIND`: render one report now (stdout, or --output FILE: .html for the HTML part); --send sends it."""
    result = ComponentResult(f"report {args.report}", True)
    try:
        settings = ReportsSettings.from_env()
        sources = build_report_sources(settings)
        sender = build_report_sender(settings) if args.send else None
        report, sent = render_and_send(sources, sender, args.report, int(time.time() * 1000))
    except Exception as error:  # settings missing, a source unreachable, an unknown report: say which
        result.passed = False
        result.lines.append(f"  FAIL {type(error).__name__}: {mask_text(str(error))[:300]}")
        return result
    result.lines.append(f"  PASS rendered: {report.subject}")
    if args.output:
        html = args.output.suffix.lower() in (".html", ".htm")
        args.output.write_text(render_html(report) if html else render_text(report), encoding="utf-8")
        result.lines.append(f"  NOTE written to {args.output} ({'HTML' if html else 'text'})")
    elif not args.json:
        result.lines.extend(f"    {line}".rstrip() for line in render_text(report).splitlines())
    for outcome in sent:
        word = {"sent": "PASS", "skipped": "SKIP"}.get(outcome.outcome, "FAIL")
        result.lines.append(f"  {word} {outcome.channel} {outcome.outcome}: {outcome.detail}")
    result.passed = not any(outcome.outcome == "failed" for outcome in sent)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="monitoring-test",
        description=__doc__.split("\n\n")[0],
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name in COMPONENTS:
        parser.add_argument(f"--{name}", action="store_true", help=f"test {name} monitoring")
    parser.add_argument("--all", action="store_true", help="test every component")
    parser.add_argument(
        "--url",
        default=os.environ.get("MONITORING_API_URL", DEFAULT_URL),
        help="API base URL (default: the local stack); a non-loopback URL is a deployed stack: no local .env is read",
    )
    parser.add_argument(
        "--env-file", type=Path, help="read settings from this file (against a deployed stack: never its AWS_* keys)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document (components, checks) and no text")
    parser.add_argument("--in-process", action="store_true", help="run health checks here, not via the API")
    blocks = parser.add_mutually_exclusive_group()
    blocks.add_argument("--block", metavar="IP", help="with --security: block this address now")
    blocks.add_argument("--unblock", metavar="IP", help="with --security: end this address's block")
    blocks.add_argument("--lookup", metavar="IP", help="with --security: show this address's block")
    parser.add_argument("--hours", type=float, help="with --block: how long (default: the blocking rules')")
    parser.add_argument("--reason", default="manual block (monitoring-test)", help="with --block: why")
    parser.add_argument(
        "--stripe-reconcile", action="store_true", help="process Stripe events whose webhook never arrived"
    )
    parser.add_argument("--since", default="2h", help="with --stripe-reconcile: how far back (90m, 2h, 3d)")
    parser.add_argument("--notifications", metavar="ALERT_ID", help="show this alert's delivery history")
    parser.add_argument("--report", choices=REPORTS, help="render this report now (stdout, or --output FILE)")
    parser.add_argument("--output", type=Path, help="with --report: write it here (.html: the HTML part)")
    parser.add_argument("--send", action="store_true", help="with --report: also send it (SES email and Slack)")
    args = parser.parse_args(argv)
    if (args.output or args.send) and not args.report:
        parser.error("--output and --send go with --report")
    if (
        not args.all
        and not args.stripe_reconcile
        and not args.report
        and not args.notifications
        and not any(getattr(args, name) for name in COMPONENTS)
    ):
        parser.error("choose at least one of " + ", ".join(f"--{n}" for n in [*COMPONENTS, "all"]))
    args.local = is_local_url(args.url)
    if args.in_process and not args.local and not args.env_file and not os.environ.get("REDIS_URL"):
        parser.error(
            "--in-process against a deployed stack needs its settings: --env-file FILE or exported DB_*/REDIS_URL"
        )
    return args


def prepare_environment(args: argparse.Namespace) -> list[str]:
    """Read the env file this run may use into os.environ; returns what to tell the operator."""
    notes = []
    if args.local:
        found = args.env_file or find_env_file()
        if found:
            apply_env_file(found)
            notes.append(f"settings not in the environment were read from {found}")
        return notes
    if args.env_file:
        skipped = apply_env_file(args.env_file, skip=is_local_only)
        notes.append(f"settings not in the environment were read from {args.env_file}")
        if skipped:
            notes.append(f"  ignored there (a deployed stack uses your AWS credentials): {', '.join(sorted(skipped))}")
    # An emulator endpoint exported in this shell must not catch calls meant for the deployed stack.
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL") and is_local_url(os.environ[n])]:
        del os.environ[name]
        notes.append(f"ignored {name}: it points at a local emulator, and --url is a deployed stack")
    notes.append(f"testing the deployed stack at {args.url}")
    return notes


def run_component(name: str, args: argparse.Namespace) -> ComponentResult:
    try:
        return COMPONENTS[name](args)
    except OSError as error:  # unreachable endpoint, unreadable secret reference
        return ComponentResult(name, passed=False, lines=[f"  FAIL {error}"])


def checks_of(result: ComponentResult) -> list[dict[str, str]]:
    """The component's lines as {status, text}: status is the line's PASS/FAIL/WARN/SKIP/NOTE, else INFO."""
    checks = []
    for line in result.lines:
        word, _, rest = line.strip().partition(" ")
        known = word in {"PASS", "FAIL", "WARN", "SKIP", "NOTE"}
        checks.append({"status": word if known else "INFO", "text": rest.strip() if known else line.strip()})
    return checks


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    notes = prepare_environment(args)
    if notes and not args.json:
        print("\n".join(notes), flush=True)
    chosen = [name for name in COMPONENTS if args.all or getattr(args, name)]
    results = []
    runs: list[Callable[[], ComponentResult]] = [functools.partial(run_component, name, args) for name in chosen]
    if args.notifications:
        runs.append(functools.partial(show_notifications, args))
    if args.stripe_reconcile:
        runs.append(functools.partial(reconcile_stripe, args.since))
    if args.report:
        runs.append(functools.partial(render_report, args))
    for run in runs:
        result = run()
        results.append(result)
        if not args.json:  # each component as it finishes: a slow one does not hide the others
            print(f"{result.name}: {'passed' if result.passed else 'FAILED'}")
            print("\n".join(result.lines), flush=True)
    passed = all(result.passed for result in results)
    if args.json:
        document = {
            "url": args.url,
            "deployed": not args.local,
            "passed": passed,
            "notes": notes,
            "components": [{"name": r.name, "passed": r.passed, "checks": checks_of(r)} for r in results],
        }
        print(json.dumps(document, indent=2))
    return 0 if passed else 1

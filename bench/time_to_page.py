"""`make bench`, time to page: from the third failed payment webhook's 200 to the page, side by side.

The bundle: on the local stack (every function in its Lambda sandbox, moto server, the Slack stub),
three signed `payment_intent.payment_failed` webhooks; from the third one's HTTP 200 to
- the alert's publication on AlertsTopic (the SentTimestamp of a queue of this bench subscribed to
  the topic: moto delivers to it inside the Publish call),
- each channel's send: email (SES) and SMS (SNS) as the dispatcher's delivery history records them
  (written when the provider answered), Slack as the Slack stub records the post's arrival.
Before each trial the alert's record and window are deleted, so each trial is a first page. The
first trial warms the sandboxes and is not counted.

Prometheus and Alertmanager: the same three webhooks, through the bundle's own rule
(AskProAIPaymentFailures in prometheus/rules/alerts.yml) with a real Prometheus (Debian's; the
scrape and evaluation intervals of the shipped prometheus/prometheus.yml, scraping the stack's
GET /api/metrics) and a real Alertmanager (Debian's; the shipped prometheus/alertmanager.yml and its
timings; without its sub-route that sends the rules mirroring the bundle's own alert types nowhere,
since the bundle pages them itself) posting to a webhook receiver of this bench, which records the
arrival. Each trial starts
a fresh Prometheus and Alertmanager (a rule's 5-minute window and Alertmanager's memory of a firing
alert would otherwise carry over), waits for the first scrape, then sends the webhooks at a random
point of the scrape cycle, as failures arrive in production. Each trial takes a scrape, an
evaluation and group_wait, so there are few of them (TIME_TO_PAGE_PROMETHEUS_TRIALS, default 3).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/time_to_page.py` as well as `python -m bench`
    sys.path.insert(0, str(ROOT))

from bench import summary  # noqa: E402
from localdev.stack import LocalStack  # noqa: E402
from localdev.template import aws_client  # noqa: E402
from tests.assets.prometheus_server import DEPLOYED_CONFIG, ScrapeTarget, running_prometheus  # noqa: E402
from tests.support.alertmanager import (  # noqa: E402
    alertmanager_installed,
    render_alertmanager_config,
    running_alertmanager,
    shipped_timings,
)
from tests.support.local_stack import local_stack  # noqa: E402
from tests.support.stack_calls import post_webhook  # noqa: E402
from tests.support.stripe_events import serialize, stripe_event  # noqa: E402

BUNDLE_TRIALS = int(os.environ.get("TIME_TO_PAGE_TRIALS", "20"))
PROMETHEUS_TRIALS = int(os.environ.get("TIME_TO_PAGE_PROMETHEUS_TRIALS", "3"))
REDIS_URL = "redis://127.0.0.1:6379/8"
WEBHOOK_SECRET = "whsec_time_to_page"  # noqa: S105 (the local stack's, made up for this run)
METRICS_SECRET = "time-to-page-metrics-secret"  # noqa: S105 (likewise)
RULE = "AskProAIPaymentFailures"
ALERT_ID = "payment_failure"
CHANNELS = ("email", "sms", "slack")
GOAL_P99_S = 2.0
GOAL_RATIO = 10.0
PAGE_TIMEOUT_S = 30.0


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (p99 of 20 values is the largest: stated, not interpolated away)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(share * len(ordered))))
    return ordered[rank - 1]


def describe(values: list[float]) -> str:
    if not values:
        return "no sample"
    return (
        f"p50 {percentile(values, 0.50):6.3f} s  p95 {percentile(values, 0.95):6.3f} s  "
        f"p99 {percentile(values, 0.99):6.3f} s  (n={len(values)}, max {max(values):.3f} s)"
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


# --- the bundle --------------------------------------------------------------------------
class TopicWatch:
    """A queue of this bench subscribed to AlertsTopic: when each notification was published."""

    def __init__(self, stack: LocalStack) -> None:
        self.sqs = aws_client("sqs", stack.moto_url, stack.region)
        sns = aws_client("sns", stack.moto_url, stack.region)
        self.url = self.sqs.create_queue(QueueName="time-to-page-watch")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=stack.resources["AlertsTopic"]["Arn"], Protocol="sqs", Endpoint=arn)

    def published(self, timeout: float) -> tuple[str, float] | None:
        """The next firing payment_failure notification: (notification id, published at)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageSystemAttributeNames=["All"]
            ).get("Messages", [])
            for message in messages:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
                notification = json.loads(json.loads(message["Body"])["Message"])
                if notification.get("alert_type") == ALERT_ID and notification.get("kind") == "firing":
                    return notification["notification_id"], int(message["Attributes"]["SentTimestamp"]) / 1000
        return None


class BundleTrials:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.dynamodb = aws_client("dynamodb", stack.moto_url, stack.region)
        self.watch = TopicWatch(stack)

    def reset(self) -> None:
        """No payment_failure alert and an empty window: the next three failures are a first page."""
        for table in ("AlertsTable", "AlertWindowsTable"):
            name = self.stack.resources[table]["TableName"]
            description = self.dynamodb.describe_table(TableName=name)["Table"]
            keys = [key["AttributeName"] for key in description["KeySchema"]]
            for item in self.dynamodb.scan(TableName=name).get("Items", []):
                self.dynamodb.delete_item(TableName=name, Key={key: item[key] for key in keys})

    def three_failures(self) -> float:
        """Three signed failed-payment webhooks; when the third one's 200 arrived."""
        answered = 0.0
        for _ in range(3):
            status, body = post_webhook(
                self.stack, serialize(stripe_event("payment_intent.payment_failed")), WEBHOOK_SECRET
            )
            answered = time.time()
            if status != 200:
                raise RuntimeError(f"the webhook was refused: {status} {body}")
        return answered

    def sent_at(self, notification_id: str, slack_before: int) -> dict[str, float]:
        """Each channel's send of the notification: history for email and SMS, the stub for Slack."""
        times: dict[str, float] = {}
        deadline = time.monotonic() + PAGE_TIMEOUT_S
        history = self.stack.resources["AlertDeliveryHistoryTable"]["TableName"]
        slack = self.stack.slack
        while time.monotonic() < deadline and len(times) < len(CHANNELS):
            items = self.dynamodb.query(
                TableName=history,
                KeyConditionExpression="alert_id = :a",
                ExpressionAttributeValues={":a": {"S": ALERT_ID}},
            ).get("Items", [])
            for item in items:
                if item.get("notification_id", {}).get("S") == notification_id and item["outcome"]["S"] == "sent":
                    channel = item["channel"]["S"]
                    if channel in ("email", "sms"):
                        times.setdefault(channel, int(item["at"]["N"]) / 1000)
            if slack is not None and len(slack.arrivals) > slack_before:
                times.setdefault("slack", slack.arrivals[slack_before])
            time.sleep(0.05)
        return times

    def trial(self) -> dict[str, float] | None:
        self.reset()
        slack_before = len(self.stack.slack.arrivals) if self.stack.slack else 0
        answered = self.three_failures()
        published = self.watch.published(PAGE_TIMEOUT_S)
        if published is None:
            return None
        notification_id, published_at = published
        sent = self.sent_at(notification_id, slack_before)
        return {"publication": published_at - answered, **{name: at - answered for name, at in sent.items()}}


# --- Prometheus and Alertmanager ----------------------------------------------------------
@dataclass
class Receiver:
    """Alertmanager's webhook target: every notification with its arrival time."""

    url: str = ""
    arrivals: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def firing(self, since: int) -> float | None:
        """When the first notification (from index `since`) with RULE firing arrived."""
        for arrived, payload in self.arrivals[since:]:
            for alert in payload.get("alerts", []):
                if alert.get("status") == "firing" and alert.get("labels", {}).get("alertname") == RULE:
                    return arrived
        return None


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.arrivals.append((time.time(), json.loads(body or b"{}")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def shipped_intervals() -> dict[str, str]:
    config = yaml.safe_load(DEPLOYED_CONFIG.read_text(encoding="utf-8"))["global"]
    return {name: str(config[name]) for name in ("scrape_interval", "scrape_timeout", "evaluation_interval")}


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit):
            return float(duration[: -len(unit)]) * units[unit]
    return float(duration)


def prometheus_trial(bundle: BundleTrials, workdir: Path, receiver: Receiver) -> float | None:
    """One fresh Prometheus + Alertmanager; the three failures at a random point of the scrape cycle."""
    intervals = shipped_intervals()
    am_dir = workdir / "alertmanager"
    am_dir.mkdir(parents=True)
    # The shipped config and timings, its webhook pointed at the receiver (which checks no secret),
    # without the sub-route that sends the bundle's own alert types (this rule's among them) nowhere:
    # this measures the path a Prometheus-only setup pages through.
    config = render_alertmanager_config(am_dir, receiver.url, "not-checked-by-the-receiver", sub_routes=False)
    address = bundle.stack.api_url.removeprefix("http://")
    with running_alertmanager(config, am_dir) as manager:
        target = ScrapeTarget("askproai-time-to-page", address, bearer_token=METRICS_SECRET)
        with running_prometheus(
            [target],
            workdir / "prometheus",
            scrape_interval=intervals["scrape_interval"],
            scrape_timeout=intervals["scrape_timeout"],
            evaluation_interval=intervals["evaluation_interval"],
            rule_interval=None,  # the rule groups' own interval (15 s, as shipped)
            alertmanager=f"127.0.0.1:{manager.port}",
        ) as prometheus:
            prometheus.wait_for_targets(timeout=seconds(intervals["scrape_interval"]) * 3)  # the baseline
            time.sleep(random.uniform(0, seconds(intervals["scrape_interval"])))  # noqa: S311 (a phase, not a secret)
            bundle.reset()
            before = len(receiver.arrivals)
            answered = bundle.three_failures()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                arrived = receiver.firing(before)
                if arrived is not None:
                    return arrived - answered
                time.sleep(0.05)
            print(f"  {RULE} did not reach the receiver within 120 s; Alertmanager's log:\n{manager.log()[-2000:]}")
            return None


# --- the run -------------------------------------------------------------------------------
def bench_time_to_page() -> None:
    print()
    print(f"Time to page: the third failed payment webhook's 200 to the page ({load()})")
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith("ALERT")},
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "METRICS_SECRET": METRICS_SECRET,
        "ALERT_EMAIL_RECIPIENTS": "ops@example.com",
        "ALERT_EMAIL_FROM": "monitoring@example.com",
        "ALERT_SMS_RECIPIENTS": "+15555550100",
        "REDIS_URL": REDIS_URL,
        "DB_DATABASE": "test",
    }
    only = ("StripeWebhookFunction", "WebhookProcessorFunction", "AlertDispatcherFunction", "MetricsFunction")
    redis.Redis.from_url(REDIS_URL).flushdb()  # the metric store's database: this run's counts only
    with local_stack(environ=environ, schedules=False, only=only, log=lambda line: None) as stack:
        bundle = BundleTrials(stack)
        bundle.trial()  # warm-up: sandboxes start; not counted
        samples: list[dict[str, float]] = []
        for _ in range(BUNDLE_TRIALS):
            result = bundle.trial()
            if result is not None:
                samples.append(result)
        missing = BUNDLE_TRIALS - len(samples)
        print(f"  the bundle, local stack, {len(samples)} trials (first warm-up trial not counted)")
        for name in ("publication", *CHANNELS):
            values = [sample[name] for sample in samples if name in sample]
            label = {"publication": "SNS publication", "email": "email (SES)", "sms": "SMS (SNS)"}.get(name, "Slack")
            print(f"    {label:16} {describe(values)}")
        paged = [max(sample[c] for c in CHANNELS) for sample in samples if all(c in sample for c in CHANNELS)]
        print(f"    {'every channel':16} {describe(paged)}  (the last channel's send)")
        if missing:
            print(f"    {missing} trial(s) paged nothing within {PAGE_TIMEOUT_S:.0f} s")

        prometheus_times: list[float] = []
        if shutil.which("prometheus") is None or not alertmanager_installed():
            print("  Prometheus and Alertmanager: not installed (make prometheus); not measured")
        else:
            timings = shipped_timings()
            intervals = shipped_intervals()
            print(
                f"  Prometheus + Alertmanager, {PROMETHEUS_TRIALS} trials (each a fresh server pair; scrape "
                f"{intervals['scrape_interval']}, evaluation {intervals['evaluation_interval']}, group_wait "
                f"{timings['group_wait']}, group_interval {timings['group_interval']})"
            )
            with webhook_receiver() as receiver:
                for index in range(PROMETHEUS_TRIALS):
                    with tempfile.TemporaryDirectory(prefix="time-to-page-") as workdir:
                        took = prometheus_trial(bundle, Path(workdir) / str(index), receiver)
                    if took is not None:
                        prometheus_times.append(took)
                        print(f"    trial {index + 1}: {took:.2f} s to the webhook receiver")
            print(f"    {'webhook receiver':16} {describe(prometheus_times)}")
    print(f"  ({load()} at the end)")

    if paged:
        p99 = percentile(paged, 0.99)
        summary.record(
            "time to page p99",
            f"{p99:.2f} s (p50 {percentile(paged, 0.5):.2f} s, n={len(paged)})",
            f"<= {GOAL_P99_S:g} s",
            p99 <= GOAL_P99_S and not missing,
        )
    if paged and prometheus_times:
        ratio = statistics.median(prometheus_times) / statistics.median(paged)
        print(
            f"  ratio: Prometheus + Alertmanager median {statistics.median(prometheus_times):.2f} s / the bundle's "
            f"median {statistics.median(paged):.2f} s (every channel sent) = {ratio:.1f}x"
        )
        summary.record(
            "time to page vs Prometheus and Alertmanager",
            f"{ratio:.1f}x sooner (medians; Prometheus n={len(prometheus_times)})",
            f">= {GOAL_RATIO:g}x sooner",
            ratio >= GOAL_RATIO,
        )


if __name__ == "__main__":
    bench_time_to_page()
    summary.print_summary()

"""`make bench`, load: bounded bursts of signed Stripe webhooks and platform events against the local
stack from several processes, then proof that nothing was lost or counted twice.

Each worker process sends, one request after another, its share of:
- Stripe webhook deliveries to POST /api/webhooks/stripe (a mix of types; payment_intent.succeeded
  with known amounts), plus redeliveries of events already in the plan (its own and the next
  worker's, so some race the original), as Stripe redelivers;
- signed batches of platform events to POST /api/events (every event from its own IP, so no rule
  blocks it), plus one attacker IP per worker with exactly enough failed logins to be blocked, and
  redeliveries of the next worker's events (same event id).

When every request is answered, the bench waits until the webhooks and security events queues are
empty (visible plus in flight, from moto) and compares what the bundle saw with what was sent: the
Prometheus counters of /api/metrics, the idempotency records and blocks in DynamoDB, the
security_logs rows in MySQL and the dead-letter queues. Any disagreement fails the run (exit 1).

Figures: ingest requests/s and p50/p95/p99 latency per endpoint, and end-to-end events/s from the
first request to the queue drained. The local stack runs functions as processes on this machine
(shared with anything else running), so the figures say how the local stack copes, not AWS.

Sizes (environment): LOAD_PROCESSES (4), LOAD_WEBHOOKS (60 unique per process),
LOAD_WEBHOOK_DUPLICATES (6 per process), LOAD_EVENT_BATCHES (10 per process), LOAD_BATCH_SIZE (4),
LOAD_EVENT_DUPLICATES (4 per process), LOAD_DRAIN_SECONDS (90), LOAD_VISIBILITY_SECONDS (10: the
queues' visibility timeout, so a retried message does not wait the template's 60 s).
Redis database 6 (LOAD_REDIS_DB) and the MySQL database askproai_load_bench (LOAD_DATABASE).

    python -m bench.load_bench        # or: make bench-load
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import math
import multiprocessing
import os
import re
import secrets
import sys
import time
import urllib.parse
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
WEBHOOK_PATH = "/api/webhooks/stripe"
EVENTS_PATH = "/api/events"
FUNCTIONS = (
    "StripeWebhookFunction",
    "WebhookProcessorFunction",
    "EventsFunction",
    "SecurityEventsProcessorFunction",
    "MetricsFunction",
    "IpGuardFunction",  # the API's authorizer, in front of both routes as deployed
)
# Twenty webhook deliveries in this proportion; customer.created has no handler (counted as ignored).
WEBHOOK_MIX = (
    ("payment_intent.succeeded", 7),
    ("invoice.payment_failed", 3),
    ("payment_intent.payment_failed", 2),
    ("charge.refunded", 3),
    ("customer.subscription.created", 2),
    ("charge.dispute.created", 1),
    ("customer.created", 2),
)
CURRENCIES = ("usd", "eur")
# What each type adds to its business counter: (metric, labels) -> 1 per unique event.
WEBHOOK_COUNTERS = {
    "invoice.payment_failed": ("askproai_payment_failures_total", {"reason": "invoice"}),
    # tests/support/stripe_events gives a failed payment intent Stripe's insufficient_funds decline
    "payment_intent.payment_failed": ("askproai_payment_failures_total", {"reason": "insufficient_funds"}),
    "charge.refunded": ("askproai_refunds_total", {}),
    "customer.subscription.created": ("askproai_subscriptions_created_total", {}),
    "charge.dispute.created": ("askproai_disputes_total", {}),
}
EVENT_MIX = (
    ("failed_login", 4),
    ("login", 2),
    ("api_key_usage", 1),
    ("rate_limit_violation", 1),
    ("suspicious_activity", 1),
    ("registration", 1),
)
EVENT_COUNTERS = {
    "failed_login": "askproai_failed_logins_total",
    "rate_limit_violation": "askproai_rate_limit_violations_total",
    "login": "askproai_portal_logins_total",
    "registration": "askproai_portal_registrations_total",
}
FAILED_LOGINS_TO_BLOCK = 5  # the guide's rule: 5 failed logins from an IP in 15 minutes
MAX_EVENTS_PER_REQUEST = 100  # POST /api/events takes at most this many
# RFC 2544's benchmarking range: never a real client, never loopback (the bench's own address).
BENCH_NETWORK = 0xC6120000  # 198.18.0.0/15
ATTACKER_BASE = BENCH_NETWORK + 0x1FF00  # 198.19.255.0 and up: one attacker per worker
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class LoadSizes:
    processes: int = 4
    webhooks: int = 60
    webhook_duplicates: int = 6
    event_batches: int = 10
    batch_size: int = 4
    event_duplicates: int = 4
    drain_seconds: float = 90.0
    visibility_seconds: int = 10

    def __post_init__(self) -> None:
        if min(self.processes, self.webhooks, self.event_batches, self.batch_size) < 1:
            raise ValueError("LOAD_PROCESSES, LOAD_WEBHOOKS, LOAD_EVENT_BATCHES and LOAD_BATCH_SIZE must be at least 1")
        if self.processes * self.event_batches * self.batch_size >= ATTACKER_BASE - BENCH_NETWORK:
            raise ValueError("too many platform events for the bench's address range (198.18.0.0/15)")
        if self.batch_size + FAILED_LOGINS_TO_BLOCK > MAX_EVENTS_PER_REQUEST:
            raise ValueError(
                f"LOAD_BATCH_SIZE must leave room for the attacker's events (at most {MAX_EVENTS_PER_REQUEST})"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> LoadSizes:
        def number(name: str, default: float) -> Any:
            return type(default)(environ.get(name) or default)

        defaults = cls()
        return cls(
            processes=number("LOAD_PROCESSES", defaults.processes),
            webhooks=number("LOAD_WEBHOOKS", defaults.webhooks),
            webhook_duplicates=number("LOAD_WEBHOOK_DUPLICATES", defaults.webhook_duplicates),
            event_batches=number("LOAD_EVENT_BATCHES", defaults.event_batches),
            batch_size=number("LOAD_BATCH_SIZE", defaults.batch_size),
            event_duplicates=number("LOAD_EVENT_DUPLICATES", defaults.event_duplicates),
            drain_seconds=number("LOAD_DRAIN_SECONDS", defaults.drain_seconds),
            visibility_seconds=number("LOAD_VISIBILITY_SECONDS", defaults.visibility_seconds),
        )


# -- the plan: every request each worker sends, and what the bundle must then show ----------------
@dataclass(frozen=True)
class Request:
    path: str
    body: str
    events: int  # events in the body (1 for a webhook)


@dataclass
class Plan:
    requests: list[list[Request]]  # per worker, in sending order
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)  # unique Stripe events by id
    webhook_deliveries: Counter[str] = field(default_factory=Counter)  # by event id
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # unique platform events by id
    attackers: list[str] = field(default_factory=list)


def _spread(mix: Sequence[tuple[str, int]], index: int) -> str:
    """The index-th item of a weighted mix, interleaved (a stride coprime with the cycle's length)."""
    cycle = [name for name, weight in mix for _ in range(weight)]
    stride = next(s for s in range(7, 7 + len(cycle)) if math.gcd(s, len(cycle)) == 1)
    return cycle[(index * stride) % len(cycle)]


def _interleave(main: list[Request], extra: list[Request]) -> list[Request]:
    """`extra` spread evenly through `main`."""
    merged: list[Request] = []
    every = (len(main) + 1) / (len(extra) + 1)
    pending = deque(extra)
    for index, item in enumerate(main):
        merged.append(item)
        while pending and index + 1 >= every * (len(extra) - len(pending) + 1):
            merged.append(pending.popleft())
    return merged + list(pending)


def _webhook_events(worker: int, count: int) -> list[dict[str, Any]]:
    from tests.support.stripe_events import stripe_event

    events = []
    for index in range(count):
        kind = _spread(WEBHOOK_MIX, index)
        event_id = f"evt_load_{worker}_{index}_{uuid.uuid4().hex[:12]}"
        if kind == "payment_intent.succeeded":
            amount, currency = 1000 + worker * 10_000 + index, CURRENCIES[index % len(CURRENCIES)]
            events.append(stripe_event(kind, event_id=event_id, amount_received=amount, currency=currency))
        else:
            events.append(stripe_event(kind, event_id=event_id))
    return events


def _platform_event(kind: str, ip_number: int) -> dict[str, Any]:
    return {
        "id": f"sec-load-{uuid.uuid4().hex}",
        "type": kind,
        "ip": str(ipaddress.IPv4Address(ip_number)),
        "user_id": str(ip_number % 1000),
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "user_agent": "load-bench/1.0",
        "details": {"bench": True},
    }


def _worker_event_batches(worker: int, sizes: LoadSizes, attacker: str) -> list[list[dict[str, Any]]]:
    batches: list[list[dict[str, Any]]] = []
    for batch in range(sizes.event_batches):
        first = (worker * sizes.event_batches + batch) * sizes.batch_size
        batches.append(
            [
                _platform_event(_spread(EVENT_MIX, first + index), BENCH_NETWORK + first + index)
                for index in range(sizes.batch_size)
            ]
        )
    attacker_number = int(ipaddress.IPv4Address(attacker))
    for attempt in range(FAILED_LOGINS_TO_BLOCK):  # one failed login in each of several batches
        batches[attempt % len(batches)].append(_platform_event("failed_login", attacker_number))
    return batches


def build_plan(sizes: LoadSizes) -> Plan:
    from tests.support.stripe_events import serialize

    plan = Plan(requests=[])
    webhooks = [_webhook_events(worker, sizes.webhooks) for worker in range(sizes.processes)]
    attackers = [str(ipaddress.IPv4Address(ATTACKER_BASE + worker)) for worker in range(sizes.processes)]
    batches = [_worker_event_batches(w, sizes, attackers[w]) for w in range(sizes.processes)]
    plan.attackers = attackers
    for worker in range(sizes.processes):
        neighbour = (worker + 1) % sizes.processes
        own = [Request(WEBHOOK_PATH, serialize(event), 1) for event in webhooks[worker]]
        half = len(own) // 2
        # redeliveries: even ones of its own first half (sent before), odd ones of the next worker's
        redelivered = [
            webhooks[worker][(j * 11) % max(half, 1)]
            if j % 2 == 0
            else webhooks[neighbour][(j * 13 + 5) % sizes.webhooks]
            for j in range(sizes.webhook_duplicates)
        ]
        again = [Request(WEBHOOK_PATH, serialize(event), 1) for event in redelivered]
        webhook_requests = own[:half] + _interleave(own[half:], again)
        resent = [event for batch in batches[neighbour] for event in batch[: sizes.batch_size]]
        resent = resent[:: max(1, len(resent) // max(sizes.event_duplicates, 1))][: sizes.event_duplicates]
        event_requests = [_events_request(batch) for batch in batches[worker]]
        event_requests += [_events_request(resent[i : i + 10]) for i in range(0, len(resent), 10)]
        plan.requests.append(_interleave(webhook_requests, event_requests))
        for event in webhooks[worker] + redelivered:
            plan.webhooks[event["id"]] = event
            plan.webhook_deliveries[event["id"]] += 1
        for batch in batches[worker]:
            plan.events.update((event["id"], event) for event in batch)
    return plan


def _events_request(events: list[dict[str, Any]]) -> Request:
    return Request(EVENTS_PATH, json.dumps({"events": events}), len(events))


# -- the workers -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sent:
    path: str
    status: int
    seconds: float
    started: float  # wall clock, comparable across processes
    ended: float
    events: int
    accepted: int  # events the answer says it took (1 for a 200 webhook)
    error: str = ""


@dataclass(frozen=True)
class Target:
    api_url: str
    webhook_secret: str
    events_secret: str


def send_burst(target: Target, requests: list[Request], go: Any, results: Any, answered: Any = None) -> None:
    """A worker process: say it is ready, wait for the go, send every request in order, report each answer
    (and count it in `answered`, a shared counter the parent prints progress from)."""
    from tests.support.stripe_events import sign

    address = urllib.parse.urlsplit(target.api_url)
    results.put(None)
    go.wait()
    sent = []
    for request in requests:
        if request.path == WEBHOOK_PATH:
            signature = {"Stripe-Signature": sign(request.body, target.webhook_secret)}
            headers = {"Content-Type": "application/json; charset=utf-8", **signature}
        else:
            signature = {"X-Monitoring-Signature": sign(request.body, target.events_secret)}
            headers = {"Content-Type": "application/json", **signature}
        sent.append(_send(address.hostname or "127.0.0.1", address.port or 80, request, headers))
        if answered is not None:
            with answered.get_lock():
                answered.value += 1
    results.put(sent)


def _send(host: str, port: int, request: Request, headers: dict[str, str]) -> Sent:
    started_wall, started = time.time(), time.perf_counter()
    connection = http.client.HTTPConnection(host, port, timeout=60)
    status, accepted, error = 0, 0, ""
    try:
        connection.request("POST", request.path, body=request.body.encode(), headers=headers)
        response = connection.getresponse()
        status, data = response.status, response.read()
        if status == 202:
            accepted = int(json.loads(data).get("accepted", 0))
        elif status == 200:
            accepted = 1
        else:
            error = data[:200].decode(errors="replace")
    except (OSError, http.client.HTTPException, ValueError) as failure:
        error = f"{type(failure).__name__}: {failure}"
    finally:
        connection.close()
    seconds = time.perf_counter() - started
    return Sent(request.path, status, seconds, started_wall, started_wall + seconds, request.events, accepted, error)


def run_workers(target: Target, plan: Plan, progress: Progress | None = None) -> list[Sent]:
    """One process per worker, started together once all are ready; every answer, in no particular order."""
    # spawn, not fork: this process runs the stack's threads (a forked child could inherit a held lock)
    context = multiprocessing.get_context("spawn")
    go, results, answered = context.Event(), context.Queue(), context.Value("i", 0)
    processes = [
        context.Process(target=send_burst, args=(target, requests, go, results, answered), name=f"load-worker-{index}")
        for index, requests in enumerate(plan.requests)
    ]
    total = sum(len(requests) for requests in plan.requests)
    for process in processes:
        process.start()
    try:
        _collect(results, processes)  # each worker's "ready"
        go.set()
        tick = None if progress is None else lambda: progress.every(f"{answered.value}/{total} requests answered")
        return [sent for answers in _collect(results, processes, tick) for sent in answers]
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()


def _collect(results: Any, processes: list[Any], tick: Callable[[], None] | None = None) -> list[Any]:
    """One message from each worker; raises if a worker died without sending it. `tick` runs while waiting."""
    collected: list[Any] = []
    while len(collected) < len(processes):
        if tick is not None:
            tick()
        try:
            collected.append(results.get(timeout=1))
        except Empty:
            dead = [p.name for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"load worker(s) {', '.join(dead)} died (see their traceback above)") from None
    return collected


# -- the stack and what it saw ---------------------------------------------------------------------
# What the local stack's SQS poller logs after each batch (localdev/sources.py).
POLLER_LINE = re.compile(
    r"SQS (?P<queue>\w+) -> \w+: (?P<messages>\d+) message\(s\), \d+ done, (?P<retried>\d+) left for retry"
    r" \(.*?(?P<ms>\d+) ms"
)


class StackLog:
    """The stack's log lines: the last few kept (printed when a check fails), the pollers' batches tallied."""

    def __init__(self, keep: int = 400) -> None:
        self.tail: deque[str] = deque(maxlen=keep)
        self.batches: dict[str, list[tuple[int, int, float]]] = {}  # queue -> (messages, retried, ms)

    def __call__(self, line: str) -> None:
        self.tail.append(line)
        match = POLLER_LINE.match(line)
        if match:
            batch = (int(match["messages"]), int(match["retried"]), float(match["ms"]))
            self.batches.setdefault(match["queue"], []).append(batch)

    def processing(self, queue: str) -> str:
        batches = self.batches.get(queue, [])
        messages = sum(m for m, _, _ in batches)
        if not messages:
            return f"{queue}: no batches"
        busy = sum(ms for _, _, ms in batches)
        retried = sum(r for _, r, _ in batches)
        return (
            f"{queue}: {len(batches)} batches, {messages} messages, {busy / messages:.0f} ms per message, "
            f"{retried} left for retry"
        )


@contextmanager
def load_stack(
    sizes: LoadSizes, redis_db: int, database: str, secrets_: dict[str, str], log: StackLog
) -> Iterator[Any]:
    import redis
    from platform_monitoring.observability.store import RedisMetricBackend

    from localdev.stack import LocalStack
    from localdev.template import aws_client

    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    RedisMetricBackend(redis.Redis.from_url(redis_url)).clear()
    environ = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("ALERT_", "SECURITY_", "LOG_"))},
        "STRIPE_WEBHOOK_SECRET": secrets_["webhook"],
        "EVENTS_SECRET": secrets_["events"],
        "METRICS_SECRET": secrets_["metrics"],
        "REDIS_URL": redis_url,
        "DB_DATABASE": database,
        "SECURITY_ALLOWLIST": "127.0.0.0/8",  # the bench's own address is never blocked
        **{f"LOG_LEVEL_{channel}": "warning" for channel in ("MONITORING", "SECURITY", "PERFORMANCE", "STRIPE")},
        "LOG_LEVEL_PORTAL": "warning",
        "LOG_LEVEL_WEBHOOKS": "warning",
    }
    stack = LocalStack.on_free_ports(environ=environ, schedules=False, only=FUNCTIONS, log=log)
    with stack:
        sqs = aws_client("sqs", stack.moto_url, stack.region)
        for queue in ("WebhooksQueue", "SecurityEventsQueue"):
            sqs.set_queue_attributes(
                QueueUrl=stack.resources[queue]["QueueUrl"],
                Attributes={"VisibilityTimeout": str(sizes.visibility_seconds)},
            )
        yield stack


def warm_up(stack: Any, instances: int) -> Counter[int]:
    """Start the ingest functions' instances the workers will use (and the authorizer's cached answer)
    before the burst, so the latency figures are of warm instances (the cold-start bench measures the
    rest): unsigned requests in parallel, refused with 400 before anything is queued or counted."""
    address = urllib.parse.urlsplit(stack.api_url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    unsigned = [Request(path, "{}", 0) for path in (WEBHOOK_PATH, EVENTS_PATH) for _ in range(instances)]
    with ThreadPoolExecutor(max_workers=len(unsigned)) as pool:
        answers = pool.map(lambda r: _send(host, port, r, {"Content-Type": "application/json"}).status, unsigned)
        return Counter(answers)


def wait_drained(stack: Any, deadline_seconds: float, progress: Progress | None = None) -> dict[str, float | None]:
    """Wall time at which each queue was first seen empty (visible + in flight); None past the deadline."""
    from localdev.template import aws_client
    from tests.support.local_stack import queue_depth

    sqs = aws_client("sqs", stack.moto_url, stack.region)
    pending = {name: stack.resources[name]["QueueUrl"] for name in ("WebhooksQueue", "SecurityEventsQueue")}
    drained: dict[str, float | None] = dict.fromkeys(pending)
    deadline = time.monotonic() + deadline_seconds
    while pending and time.monotonic() < deadline:
        depths = {}
        for name, url in list(pending.items()):
            depths[name] = queue_depth(sqs, url)
            if depths[name] == 0:
                drained[name] = time.time()
                del pending[name]
        if progress is not None and pending:
            progress.every("queues: " + ", ".join(f"{name} {depth}" for name, depth in depths.items()) + " left")
        time.sleep(0.1)
    return drained


def scrape(stack: Any, metrics_secret: str) -> dict[str, dict[Labels, float]]:
    from tests.support.samples import parse_samples

    address = urllib.parse.urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port or 80, timeout=30)
    try:
        connection.request("GET", "/api/metrics", headers={"Authorization": f"Bearer {metrics_secret}"})
        response = connection.getresponse()
        text = response.read().decode()
        if response.status != 200:
            raise RuntimeError(f"/api/metrics answered {response.status}: {text[:200]}")
    finally:
        connection.close()
    return parse_samples(text)


def _table_items(stack: Any, table: str) -> list[dict[str, Any]]:
    from localdev.template import aws_client

    dynamodb = aws_client("dynamodb", stack.moto_url, stack.region)
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=stack.resources[table]["Ref"]):
        items += page["Items"]
    return items


def _dlq_depth(stack: Any, queue: str) -> int:
    from localdev.template import aws_client
    from tests.support.local_stack import queue_depth

    return queue_depth(aws_client("sqs", stack.moto_url, stack.region), stack.resources[queue]["QueueUrl"])


def security_log_rows(stack: Any, event_ids: Sequence[str]) -> int:
    """Rows of security_logs holding one of these event ids."""
    import pymysql

    env = stack.environment("SecurityEventsProcessorFunction")
    connection = pymysql.connect(
        host=env["DB_HOST"],
        port=int(env["DB_PORT"]),
        user=env["DB_USERNAME"],
        password=env.get("DB_PASSWORD", ""),
        database=env["DB_DATABASE"],
    )
    rows = 0
    try:
        with connection.cursor() as cursor:
            for start in range(0, len(event_ids), 500):
                chunk = event_ids[start : start + 500]
                placeholders = ",".join(["%s"] * len(chunk))
                query = f"SELECT COUNT(*) FROM security_logs WHERE event_id IN ({placeholders})"  # noqa: S608 - only %s
                cursor.execute(query, chunk)
                (count,) = cursor.fetchone() or (0,)
                rows += int(count)
    finally:
        connection.close()
    return rows


# -- the comparison --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    name: str
    expected: float
    seen: float

    @property
    def ok(self) -> bool:
        return round(self.expected, 6) == round(self.seen, 6)


def _value(samples: dict[str, dict[Labels, float]], name: str, **labels: str) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def webhook_checks(plan: Plan, samples: dict[str, dict[Labels, float]], answered: Counter[str]) -> list[Check]:
    unique = Counter(event["type"] for event in plan.webhooks.values())
    deliveries = Counter()  # type: Counter[str]
    for event_id, times in plan.webhook_deliveries.items():
        deliveries[plan.webhooks[event_id]["type"]] += times
    series = "askproai_stripe_webhooks_total"
    checks = []
    for kind in sorted(unique):
        status = "ignored" if kind == "customer.created" else "processed"
        checks.append(
            Check(f"webhooks {kind} {status}", unique[kind], _value(samples, series, type=kind, status=status))
        )
        duplicate = _value(samples, series, type=kind, status="duplicate")
        checks.append(Check(f"webhooks {kind} duplicate", deliveries[kind] - unique[kind], duplicate))
    revenue = Counter()  # type: Counter[str]
    for event in plan.webhooks.values():
        if event["type"] == "payment_intent.succeeded":
            revenue[event["data"]["object"]["currency"]] += event["data"]["object"]["amount_received"]
    for currency in sorted(revenue):
        seen = _value(samples, "askproai_revenue_processed_cents_total", currency=currency)
        checks.append(Check(f"revenue {currency} (cents)", revenue[currency], seen))
    for kind, (metric, labels) in WEBHOOK_COUNTERS.items():
        shown = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
        checks.append(Check(f"{metric}{shown}", unique[kind], _value(samples, metric, **labels)))
    route = {"route": WEBHOOK_PATH, "method": "POST", "status": "200"}
    http_seen = _value(samples, "askproai_http_requests_total", **route)
    checks.append(Check("http_requests_total webhooks 200", answered[WEBHOOK_PATH], http_seen))
    return checks


def event_checks(plan: Plan, samples: dict[str, dict[Labels, float]], answered: Counter[str]) -> list[Check]:
    unique = Counter(event["type"] for event in plan.events.values())
    checks = [
        Check(
            f"security_events_total {kind}", unique[kind], _value(samples, "askproai_security_events_total", type=kind)
        )
        for kind in sorted(unique)
    ]
    for kind, metric in EVENT_COUNTERS.items():
        checks.append(Check(metric, unique[kind], _value(samples, metric)))
    blocked = _value(samples, "askproai_blocked_ips_total")
    checks.append(Check("blocked_ips_total (one attacker per worker)", len(plan.attackers), blocked))
    route = {"route": EVENTS_PATH, "method": "POST", "status": "202"}
    http_seen = _value(samples, "askproai_http_requests_total", **route)
    checks.append(Check("http_requests_total events 202", answered[EVENTS_PATH], http_seen))
    return checks


def store_checks(stack: Any, plan: Plan) -> list[Check]:
    records = _table_items(stack, "IdempotencyTable")
    completed = sum(1 for item in records if item.get("status", {}).get("S") == "COMPLETED")
    blocks = {item["ip"]["S"] for item in _table_items(stack, "SecurityBlocksTable") if "ip" in item}
    return [
        Check("DynamoDB idempotency records", len(plan.webhooks), len(records)),
        Check("DynamoDB idempotency records COMPLETED", len(plan.webhooks), completed),
        Check("DynamoDB blocks of the attackers", len(plan.attackers), len(blocks & set(plan.attackers))),
        Check("DynamoDB blocks of anyone else", 0, len(blocks - set(plan.attackers))),
        Check("MySQL security_logs rows", len(plan.events), security_log_rows(stack, list(plan.events))),
        Check("WebhooksDeadLetterQueue depth", 0, _dlq_depth(stack, "WebhooksDeadLetterQueue")),
        Check("SecurityEventsDeadLetterQueue depth", 0, _dlq_depth(stack, "SecurityEventsDeadLetterQueue")),
    ]


def request_checks(plan: Plan, sent: list[Sent]) -> list[Check]:
    planned = Counter(request.path for requests in plan.requests for request in requests)
    answered = Counter(s.path for s in sent if s.status in (200, 202))
    events_sent = sum(s.events for s in sent if s.path == EVENTS_PATH)
    events_accepted = sum(s.accepted for s in sent if s.path == EVENTS_PATH)
    return [
        Check("webhook deliveries answered 200", planned[WEBHOOK_PATH], answered[WEBHOOK_PATH]),
        Check("event batches answered 202", planned[EVENTS_PATH], answered[EVENTS_PATH]),
        Check("platform events accepted (incl. redelivered)", events_sent, events_accepted),
    ]


# -- figures ---------------------------------------------------------------------------------------
def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] if ordered else float("nan")


@dataclass
class LoadReport:
    sizes: LoadSizes
    checks: list[Check]
    sent: list[Sent]
    first_send: float
    drained: dict[str, float | None]
    unique_webhooks: int
    unique_events: int
    failed_attempts: float
    max_instances: int
    stack_log: StackLog

    @property
    def disagreements(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def lines(self) -> Iterator[str]:
        s = self.sizes
        yield (
            f"Load: {s.processes} processes x ({s.webhooks} webhooks + {s.webhook_duplicates} redelivered, "
            f"{s.event_batches} event batches of {s.batch_size} + {FAILED_LOGINS_TO_BLOCK} attacker failed logins "
            f"+ {s.event_duplicates} redelivered)"
        )
        yield (
            f"  local stack on this machine ({os.cpu_count()} cores, shared and noisy; load average "
            f"{os.getloadavg()[0]:.1f}), up to {self.max_instances} instances per function, one SQS poller per queue"
        )
        warm = min(self.max_instances, s.processes)
        yield f"  ingest latency as the client sees it, {warm} instances per ingest function warmed first"
        yield f"  {'ingest':<22} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses"
        for path in (WEBHOOK_PATH, EVENTS_PATH, None):
            yield self._ingest_line(path)
        errors = Counter(f"{sent.path} {sent.status}: {sent.error}"[:160] for sent in self.sent if sent.error)
        for text, count in errors.most_common(3):
            yield f"  refused or failed x{count}: {text}"
        for label, queue, count in (
            ("webhooks", "WebhooksQueue", self.unique_webhooks),
            ("platform events", "SecurityEventsQueue", self.unique_events),
        ):
            end = self.drained.get(queue)
            if end is None:
                yield f"  end to end, {label:<16} NOT DRAINED within {s.drain_seconds:.0f} s"
            else:
                elapsed = end - self.first_send
                yield (
                    f"  end to end, {label:<16} {count:>5} unique events in {elapsed:6.1f} s"
                    f"  {count / elapsed:7.1f} events/s  (first request to queue drained)"
                )
        for queue in ("WebhooksQueue", "SecurityEventsQueue"):
            yield f"  processing, {self.stack_log.processing(queue)}"
        yield f"  webhook processing attempts that failed (retried by SQS): {self.failed_attempts:g}"
        yield f"  agreement ({len(self.checks) - len(self.disagreements)} of {len(self.checks)} checks):"
        for check in self.checks:
            mark = "ok" if check.ok else "MISMATCH"
            yield f"    {check.name:<60} expected {check.expected:>9.0f}  seen {check.seen:>9.0f}  {mark}"

    def _ingest_line(self, path: str | None) -> str:
        chosen = [sent for sent in self.sent if path is None or sent.path == path]
        if not chosen:
            return f"  {path or 'all'}: no requests"
        span = max(s.ended for s in chosen) - min(s.started for s in chosen)
        latencies = [s.seconds * 1000 for s in chosen]
        statuses = ", ".join(f"{status}x{n}" for status, n in sorted(Counter(s.status for s in chosen).items()))
        return (
            f"  {path or 'all':<22} {len(chosen):>8} {len(chosen) / span:>7.1f} {percentile(latencies, 0.5):>8.1f}"
            f" {percentile(latencies, 0.95):>8.1f} {percentile(latencies, 0.99):>8.1f}  {statuses}"
        )


class Progress:
    """What the load run is doing, as it goes, on stderr (the figures go to stdout): a line per step,
    and while a step waits, a line at most every `interval` seconds."""

    def __init__(self, interval: float = 2.0, stream: TextIO | None = None) -> None:
        self.interval, self.stream = interval, stream
        self._last = 0.0
        self._started = time.monotonic()

    def step(self, message: str) -> None:
        self._write(message)
        self._last = time.monotonic()

    def every(self, message: str) -> None:
        if time.monotonic() - self._last >= self.interval:
            self.step(f"  {message}")

    def _write(self, message: str) -> None:
        stream = self.stream or sys.stderr
        print(f"load [{time.monotonic() - self._started:5.1f}s] {message}", file=stream, flush=True)


def run_load(
    sizes: LoadSizes,
    *,
    redis_db: int = 6,
    database: str = "askproai_load_bench",
    progress: Progress | None = None,
) -> LoadReport:
    """Start the stack, send the plan from sizes.processes workers, wait for the queues, compare."""
    sys.path.insert(0, str(ROOT))
    plan = build_plan(sizes)
    say = progress.step if progress is not None else (lambda message: None)
    # fresh secrets each run; the Stripe one shaped like Stripe's
    keys = {name: secrets.token_hex(16) for name in ("events", "metrics")}
    keys["webhook"] = f"whsec_{secrets.token_hex(16)}"
    log = StackLog()
    say("starting the local stack (moto server, localstripe, the ingest and processor functions)")
    with load_stack(sizes, redis_db, database, keys, log) as stack:
        warm = min(stack.max_instances, sizes.processes)  # one request at a time per worker
        say(f"warming {warm} instance(s) of each ingest function")
        warmed = warm_up(stack, warm)
        if set(warmed) != {400}:
            raise RuntimeError(f"the warm-up's unsigned requests were answered {dict(warmed)}, not 400")
        requests = sum(len(batch) for batch in plan.requests)
        say(f"sending {requests} signed requests from {len(plan.requests)} processes")
        sent = run_workers(Target(stack.api_url, keys["webhook"], keys["events"]), plan, progress)
        say(f"waiting for the queues to drain (at most {sizes.drain_seconds:g} s)")
        drained = wait_drained(stack, sizes.drain_seconds, progress)
        say("comparing what was sent with metrics, DynamoDB and security_logs")
        samples = scrape(stack, keys["metrics"])
        answered = Counter(s.path for s in sent if s.status in (200, 202))
        checks = [
            *request_checks(plan, sent),
            *webhook_checks(plan, samples, answered),
            *event_checks(plan, samples, answered),
            *store_checks(stack, plan),
        ]
        failed = sum(
            value
            for labels, value in samples.get("askproai_stripe_webhooks_total", {}).items()
            if ("status", "failed") in labels
        )
        max_instances = stack.max_instances
    return LoadReport(
        sizes=sizes,
        checks=checks,
        sent=sent,
        first_send=min((s.started for s in sent), default=time.time()),
        drained=drained,
        unique_webhooks=len(plan.webhooks),
        unique_events=len(plan.events),
        failed_attempts=failed,
        max_instances=max_instances,
        stack_log=log,
    )


def bench_load(sizes: LoadSizes | None = None) -> LoadReport:
    """Run, print the figures and the checks; raise when anything was lost or counted twice."""
    report = run_load(
        sizes or LoadSizes.from_env(),
        redis_db=int(os.environ.get("LOAD_REDIS_DB", "6")),
        database=os.environ.get("LOAD_DATABASE", "askproai_load_bench"),
        progress=Progress(),
    )
    for line in report.lines():
        print(line)
    if report.disagreements:
        print("  the local stack's last log lines:")
        for line in list(report.stack_log.tail)[-40:]:
            print(f"    {line}")
        names = ", ".join(check.name for check in report.disagreements)
        raise SystemExit(f"load run: lost or double counted: {names}")
    return report


def main() -> int:
    bench_load()  # the local stack reads .env itself
    return 0


if __name__ == "__main__":
    sys.exit(main())

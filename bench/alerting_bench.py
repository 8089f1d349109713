"""`make bench`, alerting: DynamoDB round trips per alert() decision and per scheduled run.

Requests are counted as botocore sends them (a `before-send` hook on the DynamoDB client), against
a moto server with the template's tables, so the figure is what a Lambda pays in AWS; the times are
moto's on this machine, for scale only. Health checks are stubs here (the health bench measures
them); the scheduled run's DynamoDB work is what is counted.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from typing import Any

from platform_monitoring.alerting.notification import SnsPublisher
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.alerting.store import DynamoAlertStore
from platform_monitoring.health.service import CheckOutcome, CheckStatus, HealthCheckService
from platform_monitoring.observability.logging import channels
from platform_monitoring.observability.store import MetricRecorder
from platform_monitoring.scheduled.checks import ScheduledChecks

from localdev.services import MotoServer
from localdev.template import aws_client, create_resources
from tests.support.fakes import InMemoryMetricBackend

ROUNDS = 20


class RequestCounter:
    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()

    def __call__(self, event_name: str, **_: Any) -> None:
        self.operations[event_name.rsplit(".", 1)[-1]] += 1

    def take(self) -> Counter[str]:
        taken, self.operations = self.operations, Counter()
        return taken


class _Check:
    def __init__(self, name: str, meta: dict[str, int] | None = None) -> None:
        self.name, self.critical, self.meta = name, False, meta

    def run(self, timeout: float) -> CheckOutcome:
        return CheckOutcome(CheckStatus.OK, "ok", self.meta)


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _service(endpoint: str, counter: RequestCounter, clock: _Clock) -> AlertingService:
    dynamodb = aws_client("dynamodb", endpoint, "us-east-1")
    dynamodb.meta.events.register("before-send.dynamodb", counter)
    sns = aws_client("sns", endpoint, "us-east-1")
    topic = "arn:aws:sns:us-east-1:123456789012:AlertsTopic"
    store = DynamoAlertStore(dynamodb, "AlertsTable", "AlertWindowsTable", "AlertSilencesTable")
    return AlertingService(RuleSet.load(), store, SnsPublisher(sns, topic), clock=clock)


def _describe(operations: Counter[str], rounds: int = 1) -> str:
    total = sum(operations.values()) / rounds
    parts = ", ".join(f"{name} {count / rounds:g}" for name, count in sorted(operations.items()))
    return f"{total:4.1f}  ({parts})"


def bench_alerting() -> None:
    print("Alerting: DynamoDB round trips (counted as botocore sends them; moto server, template's tables)")
    channels.set_levels({"monitoring": "error"})  # the alerts raised here would flood the output
    with MotoServer() as moto:
        create_resources(moto.url)
        counter, clock = RequestCounter(), _Clock()
        alerting = _service(moto.url, counter, clock)
        cases: dict[str, tuple[Counter[str], list[float]]] = {}

        def measure(label: str, call: Any) -> None:
            counter.take()
            started = time.perf_counter()
            call()
            elapsed = (time.perf_counter() - started) * 1000
            operations, times = cases.setdefault(label, (Counter(), []))
            operations.update(counter.take())
            times.append(elapsed)

        def payment_failure() -> None:
            alerting.alert("payment_failure", {"reason": "card_declined"})

        for _ in range(ROUNDS):
            clock.now += 3600  # a fresh window and throttle period each round
            measure("alert(), below the threshold", payment_failure)
            payment_failure()
            measure("alert(), fires (notifies)", payment_failure)
            measure("alert(), throttled repeat", payment_failure)
            alerting.acknowledge("payment_failure")
            measure("alert(), repeat of an acknowledged alert", payment_failure)
            alerting.resolve("payment_failure")

        recorder = MetricRecorder(InMemoryMetricBackend)
        checks = [_Check("database"), _Check("queues", {"default": 0, "webhooks": 0, "stripe": 0})]
        scheduled = ScheduledChecks(
            HealthCheckService(checks, timeout=1.0),
            alerting,
            recorder,
            metric_totals=lambda: {"requests": 1000.0, "errors": 10.0},
        )
        for _ in range(ROUNDS):
            clock.now += 60
            measure("scheduled run, nothing active", scheduled.run)
        for _ in range(ROUNDS):
            clock.now += 3600
            alerting.alert("database_connection_failure", {"count": 3})
            clock.now += 61
            measure("scheduled run, resolving one alert", scheduled.run)
        for _ in range(ROUNDS):
            clock.now += 3600
            alerting.alert("payment_failure", {"count": 3})
            clock.now += 60
            measure("scheduled run, one alert still firing", scheduled.run)
            clock.now += 600
            scheduled.run()

        for label, (operations, times) in cases.items():
            print(f"  {label:<42} {_describe(operations, len(times))}   median {statistics.median(times):6.1f} ms")

        print(f"  50 concurrent alert() calls, each its own client: {_concurrency(moto.url)}")


def _concurrency(endpoint: str) -> str:
    clock = _Clock()
    clock.now += 10 * 86400
    counter = RequestCounter()
    services = [_service(endpoint, counter, clock) for _ in range(50)]
    barrier = threading.Barrier(50)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def call(service: AlertingService) -> None:
        barrier.wait()
        outcome = service.alert("security_breach_attempt").outcome
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=call, args=(service,)) for service in services]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = (time.perf_counter() - started) * 1000
    requests = sum(counter.operations.values())
    summary = ", ".join(f"{outcome} {count}" for outcome, count in sorted(outcomes.items()))
    return f"{summary}; {requests} DynamoDB requests ({requests / 50:.1f} per call), {elapsed:.0f} ms"

"""`make bench`, security: DynamoDB round trips per recorded event (by type, below and at a blocking
threshold, redelivered) and per authorizer decision (allowed, blocked), counted as botocore sends
them against a moto server with the template's tables, plus 40 concurrent failed logins from one IP
(one block, counted once). Alerting is left out here (bench/alerting_bench.py counts its cost).
"""

from __future__ import annotations

import contextlib
import io
import statistics
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from platform_monitoring.observability.logging import channels
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.security.events import parse_event
from platform_monitoring.security.monitor import SecurityMonitor
from platform_monitoring.security.stores import DynamoBlockStore

from bench.alerting_bench import RequestCounter, _describe
from localdev.services import MotoServer
from localdev.template import aws_client, create_resources
from tests.support.fakes import InMemoryMetricBackend

ROUNDS = 20


def _event(kind: str, ip: str, event_id: str | None = None) -> object:
    data = {"type": kind, "ip": ip, "occurred_at": datetime.now(UTC).isoformat()}
    if event_id:
        data["id"] = event_id
    return parse_event(data)


def bench_security() -> None:
    print("Security: DynamoDB round trips (counted as botocore sends them; moto server, template's tables)")
    channels.set_levels({"security": "error", "portal": "error", "monitoring": "error"})
    recorder.use(InMemoryMetricBackend())
    with MotoServer() as moto:
        create_resources(moto.url)
        dynamodb = aws_client("dynamodb", moto.url, "us-east-1")
        counter = RequestCounter()
        dynamodb.meta.events.register("before-send.dynamodb", counter)
        monitor = SecurityMonitor(DynamoBlockStore(dynamodb, "SecurityBlocksTable", "SecurityWindowsTable"))
        rows: list[tuple[str, Counter[str], int, list[float]]] = []

        def measure(label: str, make: object, rounds: int = ROUNDS) -> None:
            counter.take()
            times = []
            for index in range(rounds):
                event = make(index)  # type: ignore[operator]
                started = time.perf_counter()
                # a login's CloudWatch count is an EMF line on stdout: kept out of the figures
                with contextlib.redirect_stdout(io.StringIO()):
                    monitor.record(event)  # type: ignore[arg-type]
                times.append((time.perf_counter() - started) * 1000)
            rows.append((label, counter.take(), rounds, times))

        measure("login", lambda i: _event("login", f"198.51.100.{i}"))
        measure("api_key_usage (1 window)", lambda i: _event("api_key_usage", f"198.51.101.{i}"))
        measure("failed_login below threshold", lambda i: _event("failed_login", f"198.51.102.{i}"))
        for _ in range(4):
            for ip_index in range(ROUNDS):
                monitor.record(_event("failed_login", f"198.51.103.{ip_index}"))  # type: ignore[arg-type]
        counter.take()
        measure("failed_login reaching 5 (blocks)", lambda i: _event("failed_login", f"198.51.103.{i}"))
        fixed = _event("failed_login", "198.51.104.1", "bench-redelivered")
        monitor.record(fixed)  # type: ignore[arg-type]
        measure("a redelivered failed_login", lambda i: fixed)
        for label, operations, rounds, times in rows:
            print(f"  {label:36} {_describe(operations, rounds)}   {statistics.median(times):5.1f} ms (moto)")

        counter.take()
        for index in range(ROUNDS):
            monitor.is_blocked(f"198.51.100.{index}")
        print(f"  {'authorizer decision, allowed':36} {_describe(counter.take(), ROUNDS)}")
        for index in range(ROUNDS):
            monitor.is_blocked(f"198.51.103.{index}")
        print(f"  {'authorizer decision, blocked':36} {_describe(counter.take(), ROUNDS)}")

        recorder.flush()  # what the rounds above recorded stays out of the concurrent figure
        backend = InMemoryMetricBackend()
        recorder.use(backend)
        events = [_event("failed_login", "203.0.113.50") for _ in range(40)]
        threads = [threading.Thread(target=monitor.record, args=(event,)) for event in events]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        recorder.flush()
        snapshot = backend.snapshot()
        failed = sum(snapshot["askproai_failed_logins"].values())
        blocked = sum(snapshot["askproai_blocked_ips"].values())
        print(
            f"  40 concurrent failed logins from one IP: counted {failed:g}, blocked_ips_total +{blocked:g}, "
            f"{elapsed * 1000:.0f} ms"
        )

"""The Watchdog heartbeat against a local recording HTTP server (real HTTP on loopback): every run of the
scheduled checks pings, `/fail` when the run errored, and a dead-man service that fails or hangs never
fails the run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from platform_monitoring.alerting.service import AlertingService
from platform_monitoring.health.service import HealthCheckService
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.scheduled.checks import ScheduledChecks
from platform_monitoring.scheduled.watchdog import Watchdog

from tests.support.alerting import service
from tests.support.fakes import InMemoryMetricBackend
from tests.support.recording_server import recording_server

pytestmark = pytest.mark.integration

CHECK = "/ping/0b3f6f4e-7c1d-4c5e-9a57-2f1f3d1e8c11"


class BrokenAlertStore:
    """An alert store that cannot be listed: the run records an error."""

    def alerts(self) -> list[Any]:
        raise ConnectionError("DynamoDB unreachable")


@pytest.fixture
def metric_store() -> Iterator[InMemoryMetricBackend]:
    backend = InMemoryMetricBackend()
    recorder.use(backend)
    recorder.buffer.drain()
    yield backend
    recorder.buffer.drain()


def scheduled(alerting: AlertingService, watchdog: Watchdog) -> ScheduledChecks:
    return ScheduledChecks(HealthCheckService([], timeout=1.0), alerting, recorder, watchdog=watchdog)


def pings(metric_store: InMemoryMetricBackend) -> dict[str, float]:
    recorder.flush()
    return metric_store.snapshot()["askproai_watchdog_pings"]


def test_every_run_pings_the_dead_man_url(metric_store: InMemoryMetricBackend) -> None:
    with recording_server(lambda method, path, headers: (200, {"ok": True})) as server:
        checks = scheduled(service(), Watchdog(server.url + CHECK, recorder))
        assert [checks.run().watchdog for _ in range(3)] == ["ok", "ok", "ok"]
    assert [(method, path) for method, path, _ in server.requests] == [("GET", CHECK)] * 3
    assert server.requests[0][2]["user-agent"] == "askproai-monitoring-watchdog"
    assert pings(metric_store) == {'["ok"]': 3.0}


def test_a_run_whose_checks_errored_pings_fail(metric_store: InMemoryMetricBackend) -> None:
    alerting = service()
    alerting.store = BrokenAlertStore()  # type: ignore[assignment]
    with recording_server(lambda method, path, headers: (200, {})) as server:
        run = scheduled(alerting, Watchdog(server.url + CHECK + "/", recorder)).run()
    assert run.errors and run.watchdog == "fail"
    assert [path for _, path, _ in server.requests] == [CHECK + "/fail"]
    assert pings(metric_store) == {'["fail"]': 1.0}


def test_a_failing_dead_man_service_is_logged_and_counted_never_raised(metric_store: InMemoryMetricBackend) -> None:
    with recording_server(lambda method, path, headers: (503, {"error": "maintenance"})) as server:
        run = scheduled(service(), Watchdog(server.url + CHECK, recorder)).run()
    assert run.watchdog == "error" and run.errors == []
    assert pings(metric_store) == {'["error"]': 1.0}


def test_a_hanging_dead_man_service_costs_the_timeout_only(metric_store: InMemoryMetricBackend) -> None:
    release = threading.Event()

    def hang(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        release.wait(10)
        return 200, {}

    with recording_server(hang) as server:
        outcome = Watchdog(server.url + CHECK, recorder, timeout=0.5).ping(failed=False)
        release.set()
    assert outcome == "error"
    assert pings(metric_store) == {'["error"]': 1.0}


def test_nothing_listening_is_an_error_outcome(metric_store: InMemoryMetricBackend) -> None:
    with recording_server() as server:
        url = server.url
    assert Watchdog(url + CHECK, recorder, timeout=1).ping(failed=False) == "error"

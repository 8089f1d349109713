"""PerformanceMonitor: transactions, slow transactions, API calls and slow query logging."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.observability.performance import PerformanceMonitor, query_fingerprint, record_query

from tests.support.fakes import InMemoryMetricBackend
from tests.support.logs import captured_channel


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, milliseconds: float) -> None:
        self.now += milliseconds / 1000


def stored(backend: InMemoryMetricBackend) -> dict[str, dict[str, float]]:
    recorder.flush()
    return backend.snapshot()


def log_lines(output: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.getvalue().splitlines()]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_the_guides_transaction_api_records_duration_and_flags_slow_ones(
    metric_store: InMemoryMetricBackend, clock: FakeClock
) -> None:
    monitor = PerformanceMonitor(slow_transaction_ms=500, clock=clock)
    with captured_channel("performance") as output:
        monitor.start_transaction("stripe_webhook")
        clock.advance(120)
        fast = monitor.end_transaction("stripe_webhook", {"status_code": 200, "webhook_type": "charge.refunded"})
        monitor.start_transaction("stripe_webhook")
        clock.advance(750)
        slow = monitor.end_transaction("stripe_webhook", {"status_code": 200, "webhook_type": "invoice.paid"})

    assert fast is not None and slow is not None
    assert (fast.duration_ms, fast.slow) == (pytest.approx(120), False)
    assert (slow.duration_ms, slow.slow) == (pytest.approx(750), True)
    values = stored(metric_store)
    assert values["askproai_transaction_duration_ms"]['["stripe_webhook"]|count'] == 2
    assert values["askproai_transaction_duration_ms"]['["stripe_webhook"]|sum'] == pytest.approx(870)
    assert values["askproai_slow_transactions"] == {'["stripe_webhook"]': 1.0}
    warnings = [line for line in log_lines(output) if line["level"] == "WARNING"]
    assert len(warnings) == 1
    assert warnings[0]["message"] == "Slow transaction: stripe_webhook"
    assert warnings[0]["channel"] == "performance"
    assert warnings[0]["context"] == {"status_code": 200, "webhook_type": "invoice.paid"}
    assert warnings[0]["duration_ms"] == pytest.approx(750)


def test_thresholds_per_transaction_override_the_default(metric_store: InMemoryMetricBackend, clock: FakeClock) -> None:
    monitor = PerformanceMonitor(slow_transaction_ms=1000, thresholds={"report": 5000}, clock=clock)
    for name in ("report", "checkout"):
        monitor.start_transaction(name)
        clock.advance(2000)
        monitor.end_transaction(name)
    assert stored(metric_store)["askproai_slow_transactions"] == {'["checkout"]': 1.0}


def test_same_name_nests_and_ending_an_unknown_transaction_warns(
    metric_store: InMemoryMetricBackend, clock: FakeClock
) -> None:
    monitor = PerformanceMonitor(clock=clock)
    monitor.start_transaction("sync")
    clock.advance(10)
    monitor.start_transaction("sync")
    clock.advance(5)
    inner = monitor.end_transaction("sync")
    clock.advance(5)
    outer = monitor.end_transaction("sync")
    assert inner is not None and outer is not None
    assert (inner.duration_ms, outer.duration_ms) == (pytest.approx(5), pytest.approx(20))
    with captured_channel("performance") as output:
        assert monitor.end_transaction("sync") is None
    assert log_lines(output)[0]["message"] == "end_transaction without start_transaction"


def test_context_manager_ends_the_transaction_when_the_block_raises(
    metric_store: InMemoryMetricBackend, clock: FakeClock
) -> None:
    monitor = PerformanceMonitor(slow_transaction_ms=0, clock=clock)
    with (
        captured_channel("performance") as output,
        pytest.raises(KeyError),
        monitor.transaction("import", {"source": "csv"}) as context,
    ):
        context["rows"] = 3
        clock.advance(40)
        raise KeyError("boom")
    line = log_lines(output)[0]
    assert line["context"] == {"source": "csv", "rows": 3, "status_code": 500, "error": "KeyError"}
    assert stored(metric_store)["askproai_transaction_duration_ms"]['["import"]|count'] == 1


def test_transactions_are_kept_per_thread(metric_store: InMemoryMetricBackend) -> None:
    monitor = PerformanceMonitor()
    started = threading.Barrier(2)
    results: dict[str, Any] = {}

    def work(name: str) -> None:
        monitor.start_transaction("check")
        started.wait()
        results[name] = monitor.end_transaction("check", {"who": name})

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {record.context["who"] for record in results.values()} == {"a", "b"}


def test_monitor_api_call_counts_calls_errors_and_duration(
    metric_store: InMemoryMetricBackend, clock: FakeClock
) -> None:
    monitor = PerformanceMonitor(clock=clock)

    def balance() -> dict[str, int]:
        clock.advance(30)
        return {"available": 10}

    def declined() -> None:
        clock.advance(70)
        raise ConnectionError("stripe said no to sk_live_abcdefghijklmnop1234")

    assert monitor.monitor_api_call("stripe", balance) == {"available": 10}
    with captured_channel("performance") as output, pytest.raises(ConnectionError):
        monitor.monitor_api_call("stripe", declined)
    values = stored(metric_store)
    assert values["askproai_external_api_calls"] == {'["stripe"]': 2.0}
    assert values["askproai_external_api_errors"] == {'["stripe"]': 1.0}
    assert values["askproai_external_api_duration_ms"]['["stripe"]|sum'] == pytest.approx(100)
    text = output.getvalue()
    assert "External API call failed: stripe" in text
    assert "sk_live_abcdefghijklmnop1234" not in text


@pytest.mark.parametrize(
    ("sql", "fingerprint"),
    [
        (
            "SELECT * FROM users WHERE email = 'ann@example.com' AND password = 'hunter2' AND id IN (1, 2, 3)",
            "SELECT * FROM users WHERE email = ? AND password = [MASKED] AND id IN (?+)",  # masked twice over
        ),
        (
            b'UPDATE t1 SET token = "tok_9f8e7d", n = n + 1.5 WHERE id = -7',
            "UPDATE t1 SET token = [MASKED], n = n + ? WHERE id = ?",
        ),
        ("INSERT INTO `log2` VALUES (x'DEADBEEF', 'it''s', 0x1F)", "INSERT INTO `log2` VALUES (?+)"),
        ("SELECT  SLEEP(0.15)\n  FROM dual", "SELECT SLEEP(?) FROM dual"),
    ],
)
def test_query_fingerprints_keep_no_literal(sql: str | bytes, fingerprint: str) -> None:
    assert query_fingerprint(sql) == fingerprint


def test_slow_queries_are_logged_masked_and_counted(metric_store: InMemoryMetricBackend) -> None:
    with captured_channel("performance") as output:
        assert record_query("SELECT 1", 99.9, 100) is False
        assert record_query("SELECT * FROM api_keys WHERE key = 'sk_live_abcdefghijklmnop1234'", 180, 100, "app")
    lines = log_lines(output)
    assert len(lines) == 1
    assert lines[0]["message"] == "Slow query"
    assert lines[0]["sql"] == "SELECT * FROM api_keys WHERE key = ?"
    assert (lines[0]["duration_ms"], lines[0]["threshold_ms"], lines[0]["database"]) == (180, 100, "app")
    assert "sk_live" not in output.getvalue()
    assert stored(metric_store)["askproai_slow_queries"] == {"[]": 1.0}

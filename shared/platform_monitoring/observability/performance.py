"""The guide's PerformanceMonitor: transactions, external API calls, slow transactions, slow queries.

    monitor = PerformanceMonitor(slow_transaction_ms=settings.monitoring.slow_transaction_ms)
    monitor.start_transaction("stripe_webhook")
    ...
    monitor.end_transaction("stripe_webhook", {"status_code": 200, "webhook_type": "payment_intent.succeeded"})

    with monitor.transaction("stripe_webhook") as context:   # the same, ended even when the block raises
        context["webhook_type"] = event_type

    balance = monitor.monitor_api_call("stripe", lambda: client.balance.retrieve())

What is recorded (series in catalog.py): every transaction's duration in
`transaction_duration_ms{transaction}`; one at or over the slow threshold also in
`slow_transactions_total{transaction}` and a warning on the performance channel with its
context. Every API call in `external_api_calls_total`, `external_api_duration_ms` and, when it
raises, `external_api_errors_total` (all by `service`). Queries through the pymysql
connection `mysql_connection` hands out are timed; one at or over
SLOW_QUERY_THRESHOLD_MS (100 ms) is logged on the performance channel as a fingerprint (every
literal replaced by `?`, so parameters and secrets never reach the log) and counted in
`slow_queries_total`; with Sentry performance on, each query is a `db.sql.query` span of the
invocation's transaction, described by the same fingerprint.

Transaction and API names become label values: use a fixed set of names, never an ID.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from platform_monitoring.core import clients
from platform_monitoring.core.masking import mask_text
from platform_monitoring.observability.logging import performance_log
from platform_monitoring.observability.metrics import recorder
from platform_monitoring.observability.sentry import sql_span

if TYPE_CHECKING:
    import pymysql.connections
    from aws_lambda_powertools import Logger

    from platform_monitoring.core.settings import DatabaseSettings
    from platform_monitoring.observability.store import MetricRecorder


T = TypeVar("T")
DEFAULT_SLOW_TRANSACTION_MS = 1000.0
DEFAULT_SLOW_QUERY_MS = 100.0
MAX_LOGGED_SQL = 1000


@dataclass(frozen=True)
class TransactionRecord:
    """One finished transaction, as end_transaction() reports it."""

    name: str
    duration_ms: float
    slow: bool
    threshold_ms: float
    context: Mapping[str, Any] = field(default_factory=dict)


class PerformanceMonitor:
    """Times transactions and external API calls into the shared metric store.

    Transactions are keyed by name and kept per thread (the health checks run in threads), and
    the same name may be nested: end_transaction() closes the most recent start of that name.
    `thresholds` overrides the slow threshold for particular transactions.
    """

    def __init__(
        self,
        slow_transaction_ms: float = DEFAULT_SLOW_TRANSACTION_MS,
        *,
        thresholds: Mapping[str, float] | None = None,
        metrics: MetricRecorder | None = None,
        log: Logger | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.slow_transaction_ms = slow_transaction_ms
        self.thresholds = dict(thresholds or {})
        self._metrics = metrics if metrics is not None else recorder
        self._log = log if log is not None else performance_log
        self._clock = clock
        self._local = threading.local()

    # -- transactions ----------------------------------------------------------

    def _started(self) -> dict[str, list[float]]:
        started: dict[str, list[float]] | None = getattr(self._local, "started", None)
        if started is None:
            started = self._local.started = {}
        return started

    def threshold_for(self, name: str) -> float:
        return self.thresholds.get(name, self.slow_transaction_ms)

    def start_transaction(self, name: str) -> None:
        self._started().setdefault(name, []).append(self._clock())

    def end_transaction(self, name: str, context: Mapping[str, Any] | None = None) -> TransactionRecord | None:
        """Record the transaction started last under `name`; None (and a warning) if none was started."""
        now = self._clock()
        starts = self._started().get(name)
        if not starts:
            self._log.warning("end_transaction without start_transaction", extra={"transaction": name})
            return None
        duration_ms = (now - starts.pop()) * 1000
        threshold = self.threshold_for(name)
        record = TransactionRecord(name, duration_ms, duration_ms >= threshold, threshold, dict(context or {}))
        self._metrics.observe("transaction_duration_ms", duration_ms, transaction=name)
        details = {
            "transaction": name,
            "duration_ms": round(duration_ms, 3),
            "threshold_ms": threshold,
            "context": record.context,
        }
        if record.slow:
            self._metrics.inc("slow_transactions_total", transaction=name)
            self._log.warning(f"Slow transaction: {name}", extra=details)
        else:
            self._log.debug(f"Transaction: {name}", extra=details)
        return record

    @contextmanager
    def transaction(self, name: str, context: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """start/end around a block; the block may add to the yielded context (status_code, ...).

        A block that raises ends the transaction with status_code 500 and the error's type
        (unless it set them), then the error propagates.
        """
        details = dict(context or {})
        self.start_transaction(name)
        try:
            yield details
        except BaseException as error:
            details.setdefault("status_code", 500)
            details.setdefault("error", type(error).__name__)
            raise
        finally:
            self.end_transaction(name, details)

    # -- external API calls ------------------------------------------------------

    def monitor_api_call(self, service: str, call: Callable[[], T]) -> T:
        """Run call() and record it as a call to `service` (count, duration, error); returns its result."""
        started = self._clock()
        failed: BaseException | None = None
        try:
            return call()
        except BaseException as error:
            failed = error
            raise
        finally:
            duration_ms = (self._clock() - started) * 1000
            self._metrics.inc("external_api_calls_total", service=service)
            self._metrics.observe("external_api_duration_ms", duration_ms, service=service)
            details = {"service": service, "duration_ms": round(duration_ms, 3)}
            if failed is not None:
                self._metrics.inc("external_api_errors_total", service=service)
                error_text = mask_text(f"{type(failed).__name__}: {failed}")[:300]
                self._log.warning(f"External API call failed: {service}", extra={**details, "error": error_text})
            elif duration_ms >= self.slow_transaction_ms:
                self._log.warning(f"Slow external API call: {service}", extra=details)


# -- slow queries ---------------------------------------------------------------------
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"", re.DOTALL)
_HEX_LITERAL = re.compile(r"\b(?:0x[0-9a-fA-F]+|[xX]'[0-9a-fA-F]*')")
_NUMBER_LITERAL = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_VALUE_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_WHITESPACE = re.compile(r"\s+")


def query_fingerprint(sql: str | bytes) -> str:
    """The statement with every literal replaced by `?` (as pt-query-digest does), then masked.

    Logged instead of the SQL pymysql sends, which has the parameters interpolated.
    """
    text = sql.decode("utf-8", "replace") if isinstance(sql, bytes | bytearray) else str(sql)
    text = _HEX_LITERAL.sub("?", text)
    text = _STRING_LITERAL.sub("?", text)
    text = _NUMBER_LITERAL.sub("?", text)
    text = _VALUE_LIST.sub("(?+)", text)
    text = mask_text(_WHITESPACE.sub(" ", text).strip())  # before it is cut, like every masked text
    if len(text) > MAX_LOGGED_SQL:
        text = text[:MAX_LOGGED_SQL] + "..."
    return text


def record_query(
    sql: str | bytes,
    duration_ms: float,
    threshold_ms: float,
    database: str | None = None,
    *,
    metrics: MetricRecorder | None = None,
    log: Logger | None = None,
) -> bool:
    """Log and count a query at or over the threshold; True when it was slow."""
    if duration_ms < threshold_ms:
        return False
    (metrics if metrics is not None else recorder).inc("slow_queries_total")
    (log if log is not None else performance_log).warning(
        "Slow query",
        extra={
            "sql": query_fingerprint(sql),
            "duration_ms": round(duration_ms, 3),
            "threshold_ms": threshold_ms,
            "database": database,
        },
    )
    return True


@functools.cache
def monitored_connection_class() -> type[Any]:
    """pymysql's Connection, timing every query (built on first use: pymysql is imported lazily)."""
    import pymysql.connections  # noqa: PLC0415 - functions that never touch MySQL skip the import

    # The stubs make Connection generic (in its cursor type); at run time it is a plain class.
    base: Any = pymysql.connections.Connection

    class MonitoredConnection(base):  # type: ignore[misc]
        """Every query goes through Connection.query, whichever cursor class sent it."""

        def __init__(self, *args: Any, slow_query_ms: float = DEFAULT_SLOW_QUERY_MS, **kwargs: Any) -> None:
            self.slow_query_ms = slow_query_ms
            super().__init__(*args, **kwargs)

        def query(self, sql: str | bytes, unbuffered: bool = False) -> int:
            started = time.perf_counter()
            try:
                with sql_span(lambda: query_fingerprint(sql), {"db.system": "mysql", "db.name": self.db}):
                    rows: int = super().query(sql, unbuffered)
                return rows
            finally:
                elapsed_ms = (time.perf_counter() - started) * 1000
                database = self.db.decode() if isinstance(self.db, bytes) else self.db
                record_query(sql, elapsed_ms, self.slow_query_ms, database)

    return MonitoredConnection


def mysql_connection(settings: DatabaseSettings, timeout: float) -> pymysql.connections.Connection[Any]:
    """A pymysql connection whose queries are timed: those over SLOW_QUERY_THRESHOLD_MS are logged and counted."""
    connection: pymysql.connections.Connection[Any] = monitored_connection_class()(
        slow_query_ms=settings.slow_query_ms,
        host=settings.host,
        port=settings.port,
        user=settings.username,
        password=settings.password.reveal() or "",
        database=settings.database,
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        autocommit=True,
        charset="utf8mb4",
        ssl=clients.mysql_ssl(settings),
    )
    return connection

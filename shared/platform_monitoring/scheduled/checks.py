"""What ScheduledChecksFunction does every minute (EventBridge rate(1 minute)).

1. Lists the active alerts (one Scan) so it knows what may have cleared.
2. Runs the guide's health checks (concurrently, each with its timeout, within the budget)
   and records their gauges: check status, queue sizes, disk and memory (record_report).
3. Evaluates the rules that need a clock:
   - database_connection_failure: a failed database check is a failure; the database is
     probed again (spaced PROBE_INTERVAL apart) until it answers or the rule's threshold
     (3 in 1 minute) is reached, so a database that is really down pages within one run
     while a single dropped connection does not;
   - queue_backlog: a queue holding more messages than the rule's threshold;
   - high_error_rate: 5xx answers over all answers in the last five minutes, from the
     HTTP counters of the metric store, only with at least `min_requests` requests;
   - the absence (dead-man) rules: no Stripe event of a type for the rule's window within its
     active hours (alerting/absence.py), from the last-seen times the webhook processor keeps in
     the metric store; resolved once traffic returns.
4. Resolves what cleared: condition alerts whose condition no longer holds, and count
   alerts whose window holds no occurrence any more (a quiet window, so a slow trickle of
   failures does not flap between firing and resolved).
5. Escalates what is still active (alerting/escalation.py): pages again the alerts nobody
   acknowledged, on their rules' escalation steps, and makes an acknowledged alert whose
   acknowledgement timed out fire again.
6. Pings the Watchdog heartbeat (scheduled/watchdog.py), `/fail` when the run had errors.

The error rate needs the counters as they were five minutes ago: each run stores the
current totals as a sample in AlertWindowsTable (TTL one hour) and reads back the oldest
sample no older than window + 30 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from platform_monitoring.alerting.absence import AbsenceWatch
from platform_monitoring.alerting.escalation import Escalator
from platform_monitoring.alerting.service import AlertDecision, AlertingService
from platform_monitoring.alerting.store import AlertRecord
from platform_monitoring.health.checks import record_report
from platform_monitoring.health.service import CheckStatus, HealthCheck, HealthCheckService, HealthReport
from platform_monitoring.observability.catalog import spec
from platform_monitoring.observability.logging import monitoring_log
from platform_monitoring.observability.store import MetricBackend, MetricRecorder
from platform_monitoring.scheduled.watchdog import Watchdog

ERROR_RATE_SAMPLE = "http"
SAMPLE_TTL_SECONDS = 3600
SAMPLE_TOLERANCE_MS = 30_000
PROBE_INTERVAL = 1.0
BUDGET_MARGIN = 2.0  # seconds kept for resolving and answering after the checks


def http_totals(backend: MetricBackend) -> dict[str, float]:
    """Requests and 5xx errors served so far, summed over every route (one Redis round trip)."""
    snapshot = backend.snapshot()
    requests = snapshot.get(spec("http_requests_total").name, {})
    errors = snapshot.get(spec("http_requests_errors_total").name, {})
    return {"requests": sum(requests.values()), "errors": sum(errors.values())}


LAST_SEEN = "stripe_event_last_seen_timestamp_seconds"
WATCH_STARTED = "absence_watch_started_timestamp_seconds"


@dataclass(frozen=True)
class LastSeen:
    """The absence rules' inputs, from one read of the metric store."""

    by_type: Mapping[str, float]  # event type (or "any") -> newest event's time, epoch seconds
    watching_since: Mapping[str, float]  # absence rule -> when the checks first watched it unseen


def _by_label(series: Mapping[str, float]) -> dict[str, float]:
    # A series key is the JSON list of its label values; these gauges have one label.
    out = {}
    for key, value in series.items():
        try:
            (label,) = json.loads(key)
        except ValueError:
            continue
        out[str(label)] = value
    return out


def last_seen_times(backend: MetricBackend) -> LastSeen:
    """The last-seen gauges (one Redis round trip)."""
    snapshot = backend.snapshot()
    return LastSeen(
        by_type=_by_label(snapshot.get(spec(LAST_SEEN).name, {})),
        watching_since=_by_label(snapshot.get(spec(WATCH_STARTED).name, {})),
    )


@dataclass
class ScheduledRun:
    health: str = ""
    checks: dict[str, str] = field(default_factory=dict)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    error_rate: dict[str, Any] = field(default_factory=dict)
    absence: dict[str, Any] = field(default_factory=dict)
    watchdog: str = ""
    errors: list[str] = field(default_factory=list)
    duration_ms: float = 0.0

    def note(self, decision: AlertDecision) -> AlertDecision:
        self.decisions.append({"type": decision.alert_type, "alert_id": decision.alert_id, "outcome": decision.outcome})
        if decision.outcome == "error":
            self.errors.append(f"{decision.alert_type}: {decision.error}")
        return decision

    def to_dict(self) -> dict[str, Any]:
        return {
            "health": self.health,
            "checks": self.checks,
            "alerts": self.decisions,
            "resolved": self.resolved,
            "escalations": self.escalations,
            "error_rate": self.error_rate,
            "absence": self.absence,
            "watchdog": self.watchdog,
            "errors": self.errors,
            "duration_ms": round(self.duration_ms, 1),
        }


class ScheduledChecks:
    def __init__(
        self,
        health: HealthCheckService,
        alerting: AlertingService,
        recorder: MetricRecorder,
        *,
        database_probe: HealthCheck | None = None,
        metric_totals: Callable[[], Mapping[str, float]] | None = None,
        probe_interval: float = PROBE_INTERVAL,
        sleep: Callable[[float], None] = time.sleep,
        escalator: Escalator | None = None,
        last_seen: Callable[[], LastSeen] | None = None,
        time_zone: str = "UTC",
        watchdog: Watchdog | None = None,
    ) -> None:
        self.health = health
        self.alerting = alerting
        self.recorder = recorder
        self.database_probe = database_probe
        self.metric_totals = metric_totals
        self.probe_interval = probe_interval
        self.sleep = sleep
        self.escalator = escalator
        self.last_seen = last_seen
        self.watchdog = watchdog
        # Parsed once (a cold start): a rule with a bad time zone or hours fails the deploy's first run loudly.
        self.absence_watches = [
            AbsenceWatch.of(rule, time_zone) for rule in alerting.rules.values() if rule.kind == "absence"
        ]

    def run(self, budget: float | None = None) -> ScheduledRun:
        started = time.monotonic()
        deadline = None if budget is None else started + budget - BUDGET_MARGIN
        run = ScheduledRun()
        try:
            active = self.alerting.alerts(status="active")
        except Exception as error:  # the checks and their gauges still run; the function then fails
            monitoring_log.exception("Could not list the active alerts")
            run.errors.append(f"listing active alerts: {type(error).__name__}")
            active = []
        report = self.health.run(budget=None if deadline is None else max(0.5, deadline - time.monotonic()))
        record_report(report, self.recorder)
        run.health = report.status.value
        run.checks = {result.name: result.status.value for result in report.checks}

        self._database(report, run, deadline)
        over, read = self._queues(report, run)
        error_rate_active = self._error_rate(run)
        traffic_back = self._absence(run)

        cleared = (
            {"high_error_rate": "the error rate is back under the threshold"} if error_rate_active is False else {}
        )
        self._clear_conditions(active, run, over if read else None, {**cleared, **traffic_back})
        for resolved in self.alerting.resolve_quiet(active):  # count rules only
            run.resolved.append(resolved.id)
        if self.escalator is not None:  # after resolving: what cleared is not paged again
            still_active = [record for record in active if record.id not in run.resolved]
            for page in self.escalator.evaluate(still_active):
                run.escalations.append(page.to_dict())
                if page.outcome == "error":
                    run.errors.append(f"escalating {page.alert_id}: the page could not be published")
        if self.watchdog is not None:  # last: a run that errored anywhere above pings /fail
            run.watchdog = self.watchdog.ping(failed=bool(run.errors))
        run.duration_ms = (time.monotonic() - started) * 1000
        return run

    def _clear_conditions(
        self, active: list[AlertRecord], run: ScheduledRun, over: set[str] | None, cleared: Mapping[str, str]
    ) -> None:
        """Resolve the condition and absence alerts whose condition no longer holds: the queues not in
        `over` (None: the sizes could not be read), and the types in `cleared` (type -> resolution)."""
        for record in active:
            if record.type == "queue_backlog":
                queue = record.labels.get("queue", "")
                if over is not None and queue not in over:
                    self._clear(record, run, f"queue {queue} is back under the threshold")
            elif record.type in cleared:
                self._clear(record, run, cleared[record.type])

    def _clear(self, record: AlertRecord, run: ScheduledRun, resolution: str) -> None:
        if self.alerting.clear(record, resolution) is not None:
            run.resolved.append(record.id)

    def _database(self, report: HealthReport, run: ScheduledRun, deadline: float | None) -> None:
        result = next((r for r in report.checks if r.name == "database"), None)
        if result is None or result.status is not CheckStatus.FAILED:
            return
        rule = self.alerting.rules["database_connection_failure"]
        message = result.message
        failures = 1
        while True:
            context = {"check": "database", "message": message, "probe": failures, "source": "scheduled checks"}
            decision = run.note(self.alerting.alert("database_connection_failure", context))
            if decision.outcome != "below_threshold" or failures >= rule.count_threshold or self.database_probe is None:
                return
            timeout = self.health.timeout
            if deadline is not None and time.monotonic() + self.probe_interval + timeout > deadline:
                return
            self.sleep(self.probe_interval)
            outcome = self.database_probe.run(timeout)
            if outcome.status is not CheckStatus.FAILED:
                monitoring_log.info("Database answered the probe after a failed check", extra={"probes": failures})
                return
            self.recorder.inc("database_connection_failures_total")
            failures += 1
            message = outcome.message

    def _queues(self, report: HealthReport, run: ScheduledRun) -> tuple[set[str], bool]:
        """The queues over the backlog threshold, and whether the sizes could be read."""
        result = next((r for r in report.checks if r.name == "queues"), None)
        if result is None or result.status is CheckStatus.FAILED or not result.meta:
            return set(), False
        threshold = self.alerting.rules["queue_backlog"].threshold
        over = {queue for queue, size in result.meta.items() if isinstance(size, int | float) and size > threshold}
        for queue in sorted(over):
            run.note(self.alerting.alert("queue_backlog", {"queue": queue, "size": int(result.meta[queue])}))
        return over, True

    def _absence(self, run: ScheduledRun) -> dict[str, str]:
        """Fire the absence rules that are silent; returns the rules whose traffic is back (to resolve)."""
        if not self.absence_watches or self.last_seen is None:
            return {}
        try:
            seen = self.last_seen()
        except Exception as error:  # neither fire nor resolve on what could not be read
            monitoring_log.warning(
                "Metric store unavailable: absence rules not evaluated", extra={"error": type(error).__name__}
            )
            run.absence = {"status": "metric store unavailable"}
            return {}
        now = self.alerting.now_ms() / 1000
        back: dict[str, str] = {}
        for watch in self.absence_watches:
            last = seen.by_type.get(watch.event_type)
            since = seen.watching_since.get(watch.rule.type)
            if last is None and since is None:
                # Never seen (a new stage, an emptied metric store): the silence counts from now on.
                self.recorder.lower_to(WATCH_STARTED, now, rule=watch.rule.type)
                since = now
            evaluation = watch.evaluate(now, last, since if since is not None else now)
            run.absence[watch.rule.type] = {"verdict": evaluation.verdict, "silent_seconds": evaluation.silent_seconds}
            if evaluation.verdict == "silent":
                run.note(self.alerting.alert(watch.rule.type, watch.context(evaluation)))
            elif evaluation.verdict == "ok":
                back[watch.rule.type] = f"{watch.event_type} seen again {evaluation.silent_seconds} s ago"
        return back

    def _error_rate(self, run: ScheduledRun) -> bool | None:
        """True/False when the rule could be evaluated, None when it could not (no history, no store)."""
        if self.metric_totals is None:
            return None
        rule = self.alerting.rules["high_error_rate"]
        try:
            totals = dict(self.metric_totals())
        except Exception as error:
            monitoring_log.warning(
                "Metric store unavailable: error rate not evaluated", extra={"error": type(error).__name__}
            )
            run.error_rate = {"status": "metric store unavailable"}
            return None
        store = self.alerting.store
        now = self.alerting.now_ms()
        store.put_sample(ERROR_RATE_SAMPLE, now, totals, now // 1000 + SAMPLE_TTL_SECONDS)
        baseline = store.sample_since(ERROR_RATE_SAMPLE, now - rule.window_ms - SAMPLE_TOLERANCE_MS)
        if baseline is None or baseline[0] >= now:
            run.error_rate = {"status": "no history yet"}
            return None
        since, before = baseline
        requests = totals.get("requests", 0.0) - before.get("requests", 0.0)
        errors = totals.get("errors", 0.0) - before.get("errors", 0.0)
        if requests < 0 or errors < 0:  # the metric store was emptied: start again from here
            run.error_rate = {"status": "counters were reset"}
            return None
        rate = errors / requests if requests else 0.0
        holds = requests >= rule.min_requests and rate > rule.threshold
        minutes = (now - since) / 60000
        run.error_rate = {
            "status": "above threshold" if holds else "ok",
            "rate": round(rate, 4),
            "requests": int(requests),
            "errors": int(errors),
            "minutes": round(minutes, 2),
            "min_requests": rule.min_requests,
        }
        if holds:
            context = {
                "error_rate": f"{rate * 100:.1f}%",
                "errors": int(errors),
                "requests": int(requests),
                "minutes": round(minutes, 1),
            }
            run.note(self.alerting.alert("high_error_rate", context))
        return holds

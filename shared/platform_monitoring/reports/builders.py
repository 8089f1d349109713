"""The three reports from their sources; each takes `now_ms`, so a fixed clock renders a fixed report.

- daily-critical: the critical rules' episodes of the last 24 hours (AlertsTable's episodes index),
  with time to acknowledge and to resolve, and what is still active.
- weekly-security: security_logs of the last 7 days (failed logins per day, events by type, the
  top sources, types and sources not seen in the four weeks before) and the blocks decided.
- monthly-performance: the metric store's histograms and counters (transactions, MySQL queries,
  external APIs, the API's error rate, webhook processing time). They are totals since the store's
  counters started (Redis keeps no history; Prometheus does), which the report says.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.alerting.store import AlertStore
from platform_monitoring.observability.catalog import spec
from platform_monitoring.reports.model import Report, Section, Table
from platform_monitoring.security.review import BlockReader, SecurityLogReader

DAY_MS = 86_400_000
REPORTS = ("daily-critical", "weekly-security", "monthly-performance")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _period(since: int, until: int) -> str:
    return f"{_when(since)} to {_when(until)} UTC"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- daily critical alerts --------------------------------------------------------------
def daily_critical(rules: RuleSet, store: AlertStore, *, now_ms: int, stage: str) -> Report:
    since = now_ms - DAY_MS
    critical = [rule for rule in rules.values() if rule.severity == "critical"]
    rows, bars = [], []
    active = unacked = 0
    for rule in critical:
        episodes = store.episodes(rule.type, since, now_ms)
        bars.append((rule.type, float(len(episodes))))
        for episode in episodes:
            ack = None if episode.acknowledged_at is None else (episode.acknowledged_at - episode.fired_at) / 1000
            resolved = None if episode.resolved_at is None else (episode.resolved_at - episode.fired_at) / 1000
            active += episode.resolved_at is None
            unacked += episode.resolved_at is not None and episode.acknowledged_at is None
            rows.append(
                (
                    _when(episode.fired_at),
                    rule.type,
                    episode.alert_id,
                    _duration(ack) if ack is not None else "not acknowledged",
                    _duration(resolved) if resolved is not None else "still active",
                )
            )
    rows.sort()
    fired = len(rows)
    headline = (
        f"{fired} critical alert{'s' if fired != 1 else ''} fired in the last 24 hours"
        + (f", {active} still active" if active else "")
        + (f", {unacked} resolved unacknowledged" if unacked else "")
        if fired
        else "No critical alert fired in the last 24 hours"
    )
    highlights = tuple(f"{rule}: fired {int(count)}" for rule, count in bars if count) + (
        (f"{active} still active: check GET /api/alerts?status=active",) if active else ()
    )
    sections = (
        Section(
            "Fired per critical rule",
            facts=(("fired", str(fired)), ("still active", str(active)), ("resolved unacknowledged", str(unacked))),
            chart=tuple(bars),
        ),
        Section(
            "Episodes",
            table=Table(("fired (UTC)", "rule", "alert", "acknowledged after", "resolved after"), tuple(rows))
            if rows
            else None,
            note="" if rows else "Nothing fired.",
        ),
    )
    return Report(
        "daily-critical", "Daily critical alerts", _period(since, now_ms), stage, headline, highlights, sections
    )


# --- weekly security review -------------------------------------------------------------
def weekly_security(logs: SecurityLogReader, blocks: BlockReader, *, now_ms: int, stage: str) -> Report:
    since = now_ms - 7 * DAY_MS
    activity = logs.activity(since, now_ms)
    decided = blocks.blocks_since(since)
    failed = activity.by_type.get("failed_login", 0)
    total = sum(activity.by_type.values())
    days = [_when(since + index * DAY_MS)[:10] for index in range(1, 8)]
    per_day = tuple((day, float(activity.failed_logins_by_day.get(day, 0))) for day in days)
    headline = f"{failed} failed logins, {len(decided)} addresses blocked, {total} security events"
    highlights = (
        f"failed logins: {failed}",
        f"blocks: {len(decided)}" + (f" ({', '.join(b.ip for b in decided[:3])})" if decided else ""),
        f"top source: {activity.top_sources[0][0]} ({activity.top_sources[0][1]} events)"
        if activity.top_sources
        else "no source",
    ) + ((f"new event types: {', '.join(activity.new_types)}",) if activity.new_types else ())
    sections = (
        Section("Failed logins per day", facts=(("failed logins", str(failed)),), chart=per_day),
        Section(
            "Events by type",
            facts=tuple((kind, str(count)) for kind, count in sorted(activity.by_type.items())),
            chart=tuple((kind, float(count)) for kind, count in sorted(activity.by_type.items())),
        ),
        Section(
            "Top sources",
            table=Table(
                ("address", "events", "new this week"),
                tuple(
                    (ip, str(count), "yes" if ip in activity.new_sources else "") for ip, count in activity.top_sources
                ),
            )
            if activity.top_sources
            else None,
            chart=tuple((ip, float(count)) for ip, count in activity.top_sources[:5]),
        ),
        Section(
            "Blocks decided",
            table=Table(
                ("address", "blocked at (UTC)", "until (UTC)", "offences", "reason", "by"),
                tuple(
                    (b.ip, _when(b.blocked_at_ms), _when(b.until_ms), str(b.offences), b.reason, b.decided_by)
                    for b in decided
                ),
            )
            if decided
            else None,
            note="" if decided else "No address was blocked.",
        ),
        Section(
            "New patterns",
            facts=(
                ("event types not seen in the 4 weeks before", ", ".join(activity.new_types) or "none"),
                ("top sources not seen in the 4 weeks before", ", ".join(activity.new_sources) or "none"),
            ),
        ),
    )
    return Report(
        "weekly-security", "Weekly security review", _period(since, now_ms), stage, headline, highlights, sections
    )


# --- monthly performance analysis --------------------------------------------------------
def _histograms(snapshot: Mapping[str, Mapping[str, float]], name: str) -> dict[str, tuple[int, float, float]]:
    """series label -> (count, mean, p95 upper bound) of a histogram of the store's snapshot."""
    metric = spec(name)
    parts: dict[str, dict[str, float]] = {}
    for field_name, value in snapshot.get(metric.name, {}).items():
        key, _, part = field_name.rpartition("|")
        parts.setdefault(key, {})[part] = value
    result = {}
    for key, values in parts.items():
        count = int(values.get("count", 0))
        if not count:
            continue
        label = key.strip('[]"').replace('","', " ") or "all"
        cumulative, bound = 0.0, float("inf")
        for index, upper in enumerate(metric.buckets):
            cumulative += values.get(str(index), 0.0)
            if cumulative >= 0.95 * count:
                bound = upper
                break
        result[label] = (count, values.get("sum", 0.0) / count, bound)
    return result


def _total(snapshot: Mapping[str, Mapping[str, float]], name: str) -> float:
    return sum(snapshot.get(spec(name).name, {}).values())


def _timing_section(heading: str, rows: dict[str, tuple[int, float, float]], note: str = "") -> Section:
    ordered = sorted(rows.items(), key=lambda item: -item[1][1])
    return Section(
        heading,
        table=Table(
            ("name", "count", "mean ms", "p95 at most ms"),
            tuple((label, str(count), f"{mean:.0f}", f"{p95:g}") for label, (count, mean, p95) in ordered),
        )
        if ordered
        else None,
        chart=tuple((label, round(mean)) for label, (_, mean, _) in ordered[:8]),
        chart_unit=" ms",
        note=note or ("" if ordered else "Nothing recorded."),
    )


def monthly_performance(snapshot: Mapping[str, Mapping[str, float]], *, now_ms: int, stage: str) -> Report:
    since = now_ms - 30 * DAY_MS
    transactions = _histograms(snapshot, "transaction_duration_ms")
    external = _histograms(snapshot, "external_api_duration_ms")
    webhooks = _histograms(snapshot, "stripe_webhook_duration_ms")
    requests = _total(snapshot, "http_requests_total")
    errors = _total(snapshot, "http_requests_errors_total")
    rate = errors / requests if requests else 0.0
    slow_transactions = _total(snapshot, "slow_transactions_total")
    slow_queries = _total(snapshot, "slow_queries_total")
    api_calls = _total(snapshot, "external_api_calls_total")
    api_errors = _total(snapshot, "external_api_errors_total")
    headline = (
        f"error rate {rate * 100:.2f}% of {int(requests)} requests, {int(slow_transactions)} slow transactions, "
        f"{int(slow_queries)} slow queries"
    )
    highlights = (
        f"API error rate: {rate * 100:.2f}% ({int(errors)} of {int(requests)})",
        f"slow transactions: {int(slow_transactions)}, slow MySQL queries: {int(slow_queries)}",
        f"external API errors: {int(api_errors)} of {int(api_calls)} calls",
    )
    sections = (
        Section(
            "Errors and slow work",
            facts=(
                ("API requests", str(int(requests))),
                ("5xx answers", f"{int(errors)} ({rate * 100:.2f}%)"),
                ("slow transactions (over the slow threshold)", str(int(slow_transactions))),
                ("slow MySQL queries (over SLOW_QUERY_THRESHOLD_MS)", str(int(slow_queries))),
                ("external API calls / errors", f"{int(api_calls)} / {int(api_errors)}"),
            ),
        ),
        _timing_section("Transactions", transactions),
        _timing_section("External API latency", external),
        _timing_section("Webhook processing time", webhooks),
    )
    note = Section(
        "About these figures",
        note="Totals and distributions since the metric store's counters started (Redis keeps no history); "
        "month-over-month trends are in Prometheus and the Grafana dashboards. p95 is the upper bound of "
        "the histogram bucket that holds it.",
    )
    return Report(
        "monthly-performance",
        "Monthly performance analysis",
        _period(since, now_ms),
        stage,
        headline,
        highlights,
        (*sections, note),
    )

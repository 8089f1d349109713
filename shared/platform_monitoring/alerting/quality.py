"""Alert quality, measured per rule over 7 or 30 days (the guide's "monitor the false positive rate,
tune thresholds from data"): GET /api/alerts/stats, the `askproai_alert_rule_*` gauges, the reports.

Per rule, over the window ending now:

- fired: episodes that started in the window (an alert firing, or firing again after it resolved);
- pages: firing notifications (first page, throttled repeats, escalations, acknowledgement
  timeouts) that reached at least one target in the window (the delivery history);
- time to acknowledge / to resolve: from an episode's start to its first acknowledgement / its
  resolution, for the episodes of the window that have one; median (the middle value, the mean of
  the two middle ones for an even count) and p90 by nearest rank (the smallest value that at least
  90% of them do not exceed), in seconds;
- flapping: episodes that started less than the rule's throttle period after the same alert's
  previous episode resolved (resolved, then fired again within the throttle);
- resolved unacknowledged: episodes of the window that resolved before anyone acknowledged them,
  the candidates for false positives (a threshold too tight, a rule that pages on noise).

The episodes come from AlertsTable's `episodes-by-type` index (one Query per rule, never a Scan),
the pages from AlertDeliveryHistoryTable (one Query per alert of the rule).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from platform_monitoring.alerting.delivery.history import DeliveryHistory
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.alerting.store import AlertStore, Episode, iso
from platform_monitoring.observability.store import MetricRecorder

DAY_MS = 86_400_000
WINDOWS = {"7d": 7, "30d": 30}


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def p90(values: Sequence[float]) -> float | None:
    """Nearest rank: the ceil(0.9 n)-th smallest value."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[math.ceil(0.9 * len(ordered)) - 1])


@dataclass(frozen=True)
class RuleQuality:
    rule: str
    severity: str
    fired: int
    pages: int
    acknowledged: int
    resolved: int
    flapping: int
    resolved_unacknowledged: int
    ack_median_seconds: float | None
    ack_p90_seconds: float | None
    resolve_median_seconds: float | None
    resolve_p90_seconds: float | None

    def to_api(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QualityReport:
    window: str
    since: int
    until: int
    rules: tuple[RuleQuality, ...]

    def to_api(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "since": iso(self.since),
            "until": iso(self.until),
            "rules": [rule.to_api() for rule in self.rules],
        }


def _seconds(start: int, end: int) -> float:
    return (end - start) / 1000


def _pages(history: DeliveryHistory | None, alert_ids: Iterable[str], since: int, until: int) -> int:
    if history is None:
        return 0
    delivered = {
        attempt.notification_id
        for alert_id in sorted(set(alert_ids))
        for attempt in history.since(alert_id, since)
        if attempt.kind == "firing" and attempt.outcome == "sent" and attempt.at <= until
    }
    return len(delivered)


def rule_quality(
    rule_type: str,
    severity: str,
    throttle_ms: int,
    episodes: Sequence[Episode],
    *,
    since: int,
    until: int,
    pages: int,
) -> RuleQuality:
    """The figures of one rule from its episodes (those fired from since - throttle on, for flapping)."""
    window = [e for e in episodes if since <= e.fired_at <= until]
    by_alert: dict[str, list[Episode]] = defaultdict(list)
    for episode in sorted(episodes, key=lambda e: e.fired_at):
        by_alert[episode.alert_id].append(episode)
    flapping = 0
    for sequence in by_alert.values():
        for previous, current in pairwise(sequence):
            if (
                current.fired_at >= since
                and previous.resolved_at is not None
                and current.fired_at - previous.resolved_at < throttle_ms
            ):
                flapping += 1
    ack = [_seconds(e.fired_at, e.acknowledged_at) for e in window if e.acknowledged_at is not None]
    resolve = [_seconds(e.fired_at, e.resolved_at) for e in window if e.resolved_at is not None]
    unacked = sum(
        1
        for e in window
        if e.resolved_at is not None and (e.acknowledged_at is None or e.acknowledged_at > e.resolved_at)
    )
    return RuleQuality(
        rule=rule_type,
        severity=severity,
        fired=len(window),
        pages=pages,
        acknowledged=len(ack),
        resolved=len(resolve),
        flapping=flapping,
        resolved_unacknowledged=unacked,
        ack_median_seconds=median(ack),
        ack_p90_seconds=p90(ack),
        resolve_median_seconds=median(resolve),
        resolve_p90_seconds=p90(resolve),
    )


def alert_quality(
    rules: RuleSet, store: AlertStore, history: DeliveryHistory | None, *, now_ms: int, window: str = "7d"
) -> QualityReport:
    """Every rule's figures over `window` ("7d" or "30d") ending at now_ms."""
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
    since = now_ms - WINDOWS[window] * DAY_MS
    results = []
    for rule in rules.values():
        throttle_ms = rule.throttle_seconds * 1000
        episodes = store.episodes(rule.type, since - throttle_ms, now_ms)
        pages = _pages(history, (e.alert_id for e in episodes), since, now_ms)
        results.append(
            rule_quality(rule.type, rule.severity, throttle_ms, episodes, since=since, until=now_ms, pages=pages)
        )
    return QualityReport(window, since, now_ms, tuple(results))


def record_quality(report: QualityReport, recorder: MetricRecorder) -> None:
    """The report as the `askproai_alert_rule_*` gauges; a time with no episode to measure is NaN (no
    value in Prometheus), so an old figure does not linger once its episodes left the window."""
    for rule in report.rules:
        labels = {"rule": rule.rule, "window": report.window}
        recorder.set("alert_rule_fired", rule.fired, **labels)
        recorder.set("alert_rule_pages", rule.pages, **labels)
        recorder.set("alert_rule_flapping", rule.flapping, **labels)
        recorder.set("alert_rule_resolved_unacknowledged", rule.resolved_unacknowledged, **labels)
        for name, values in (
            ("alert_rule_ack_seconds", (rule.ack_median_seconds, rule.ack_p90_seconds)),
            ("alert_rule_resolve_seconds", (rule.resolve_median_seconds, rule.resolve_p90_seconds)),
        ):
            for stat, value in zip(("median", "p90"), values, strict=True):
                recorder.set(name, math.nan if value is None else value, stat=stat, **labels)

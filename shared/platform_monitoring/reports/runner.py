"""Render one report from its sources and send it (ReportsFunction, `monitoring-test --report`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.alerting.store import AlertStore
from platform_monitoring.reports.builders import REPORTS, daily_critical, monthly_performance, weekly_security
from platform_monitoring.reports.model import Report
from platform_monitoring.security.review import BlockReader, SecurityLogReader


class UnknownReport(ValueError):
    pass


@dataclass
class ReportSources:
    """What the reports read; each is built on first use, so a report opens only its own connections."""

    stage: str
    rules: RuleSet
    alert_store: Callable[[], AlertStore]
    security_logs: Callable[[], SecurityLogReader]
    blocks: Callable[[], BlockReader]
    metric_snapshot: Callable[[], Mapping[str, Mapping[str, float]]]

    def render(self, kind: str, now_ms: int) -> Report:
        if kind == "daily-critical":
            return daily_critical(self.rules, self.alert_store(), now_ms=now_ms, stage=self.stage)
        if kind == "weekly-security":
            return weekly_security(self.security_logs(), self.blocks(), now_ms=now_ms, stage=self.stage)
        if kind == "monthly-performance":
            return monthly_performance(self.metric_snapshot(), now_ms=now_ms, stage=self.stage)
        raise UnknownReport(f"no report {kind!r}; the reports are {', '.join(REPORTS)}")

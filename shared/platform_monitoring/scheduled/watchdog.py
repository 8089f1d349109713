"""The Watchdog heartbeat: the bundle watching itself from outside.

Every run of the scheduled checks pings an outside dead-man service (healthchecks.io, Cronitor,
Better Stack heartbeats...) at WATCHDOG_PING_URL (template parameter WatchdogPingUrl; empty:
off). The service pages when the pings stop: the monitor itself stopped (the schedule disabled,
the function failing to start, the account's Lambda throttled), which no alert from inside can
report. A run whose checks errored pings `<url>/fail` (healthchecks.io's convention), so the
service can page at once instead of after its grace period.

A ping never fails the run: it has a short timeout, and a failure is logged and counted in
askproai_watchdog_pings_total{outcome="error"} (a dead-man service that does not hear from
the bundle pages anyway).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

from platform_monitoring.observability.logging import monitoring_log
from platform_monitoring.observability.store import MetricRecorder

DEFAULT_TIMEOUT_SECONDS = 3.0
OK, FAIL, ERROR = "ok", "fail", "error"

Opener = Callable[[urllib.request.Request, float], int]


def _open(request: urllib.request.Request, timeout: float) -> int:
    # urllib rather than a client library: one GET, no body to read, no dependency to add.
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - https (or loopback) by settings
        response.read(100)
        return int(response.status)


class Watchdog:
    def __init__(
        self,
        url: str,
        recorder: MetricRecorder,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        opener: Opener = _open,
    ) -> None:
        self.url = url.rstrip("/")
        self.recorder = recorder
        self.timeout = timeout
        self._open = opener

    def ping(self, failed: bool) -> str:
        """Ping the dead-man URL (`/fail` when the run's checks errored); returns ok, fail or error."""
        outcome = FAIL if failed else OK
        url = f"{self.url}/fail" if failed else self.url
        headers = {"User-Agent": "askproai-monitoring-watchdog"}
        request = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310 - https by settings
        reason = None
        try:
            status = self._open(request, self.timeout)
            if not 200 <= status < 300:
                reason = f"HTTP {status}"
        except urllib.error.HTTPError as error:
            reason = f"HTTP {error.code}"
        except Exception as error:  # the heartbeat must never fail the run it reports on
            reason = type(error).__name__
        if reason is not None:
            outcome = ERROR
            # The URL is not logged: it holds the check's secret UUID.
            monitoring_log.warning("Watchdog ping failed", extra={"error": reason, "timeout": self.timeout})
        self.recorder.inc("watchdog_pings_total", outcome=outcome)
        return outcome

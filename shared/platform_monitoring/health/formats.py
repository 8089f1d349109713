"""Health answers for machines: the IETF health-check draft's `application/health+json`, chosen by Accept.

The draft (draft-inadarei-api-health-check-06, "Health Check Response Format for HTTP APIs"):
a top-level `status` (`pass`, `warn` or `fail`; HTTP 2xx for pass and warn, 4xx/5xx for fail)
and `checks`, a map of "<component>:<measurement>" to a list of objects with `componentType`,
`observedValue`, `observedUnit`, `status`, `time` and, for warn and fail only, `output` (the
draft: "SHOULD be omitted for pass"). The guide's JSON stays the default; a client gets the
draft's format only when it names `application/health+json` in Accept and prefers it to
`application/json` (wildcards keep the default, so browsers and curl see what they always saw).

Statuses map one to one: healthy/ok -> pass, degraded/warning -> warn, unhealthy/failed -> fail.
A failed non-critical check is `fail` in its entry while the whole answer is `warn` (HTTP 200),
exactly as the guide's report is `degraded` then.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from platform_monitoring.health.service import CheckResult, CheckStatus, HealthReport, SystemStatus

HEALTH_JSON = "application/health+json"
JSON = "application/json"
DESCRIPTION = "AskProAI monitoring bundle"

SYSTEM_STATUS = {SystemStatus.HEALTHY: "pass", SystemStatus.DEGRADED: "warn", SystemStatus.UNHEALTHY: "fail"}
CHECK_STATUS = {CheckStatus.OK: "pass", CheckStatus.WARNING: "warn", CheckStatus.FAILED: "fail"}


@dataclass(frozen=True)
class Measurement:
    """How one of the guide's checks reads in the draft: its key's measurement and what it observes."""

    name: str  # the part after "<component>:"
    component_type: str  # the draft's componentType: datastore, component or system
    unit: str
    meta_key: str | None = None  # the observed value from the check's meta; None: its duration


MEASUREMENTS = {
    "database": Measurement("responseTime", "datastore", "ms"),
    "redis": Measurement("responseTime", "datastore", "ms"),
    "stripe_api": Measurement("responseTime", "component", "ms"),
    "queues": Measurement("messages", "component", "messages"),
    "disk": Measurement("utilization", "system", "percent", "used_percent"),
    "memory": Measurement("utilization", "system", "percent", "used_percent"),
}
# A check this table does not know yet still appears, as "<name>:status" without a value.
UNKNOWN = Measurement("status", "component", "")


def _q(params: list[str]) -> float:
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                return min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                return 0.0  # an unreadable weight: treat the range as not acceptable
    return 1.0


def _ranges(accept: str) -> Iterator[tuple[str, float]]:
    for part in accept.split(","):
        media, *params = part.split(";")
        if media.strip():
            yield media.strip().lower(), _q(params)


def prefers_health_json(accept: str | None) -> bool:
    """Whether Accept names application/health+json (q > 0) at least as high as application/json."""
    if not accept:
        return False
    weights: dict[str, float] = {}
    for media, q in _ranges(accept):
        weights[media] = max(weights.get(media, 0.0), q)
    wanted = weights.get(HEALTH_JSON, 0.0)
    return wanted > 0 and wanted >= weights.get(JSON, 0.0)


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(result: CheckResult, measurement: Measurement, moment: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"componentType": measurement.component_type}
    if measurement is not UNKNOWN:
        meta = result.meta or {}
        value = round(result.duration_ms, 2) if measurement.meta_key is None else meta.get(measurement.meta_key)
        if value is not None:
            entry["observedValue"] = value
            entry["observedUnit"] = measurement.unit
    return {**entry, **_status(result.status, result.message, moment)}


def _status(status: CheckStatus, message: str, moment: str) -> dict[str, Any]:
    body: dict[str, Any] = {"status": CHECK_STATUS[status], "time": moment}
    if status is not CheckStatus.OK:
        body["output"] = message
    return body


def _queue_entries(result: CheckResult, measurement: Measurement, moment: str) -> list[dict[str, Any]]:
    """One entry per queue (componentId = the queue), each with its depth; none read: one without."""
    sizes = {queue: size for queue, size in (result.meta or {}).items() if isinstance(size, int)}
    if not sizes:
        return [{"componentType": measurement.component_type, **_status(result.status, result.message, moment)}]
    return [
        {
            "componentId": queue,
            "componentType": measurement.component_type,
            "observedValue": size,
            "observedUnit": measurement.unit,
            **_status(result.status, result.message, moment),
        }
        for queue, size in sizes.items()
    ]


def health_json(report: HealthReport, description: str = DESCRIPTION) -> dict[str, Any]:
    """The report in the draft's format (a JSON object for `application/health+json`)."""
    moment = _time(report.timestamp)
    checks: dict[str, list[dict[str, Any]]] = {}
    for result in report.checks:
        measurement = MEASUREMENTS.get(result.name, UNKNOWN)
        key = f"{result.name}:{measurement.name}"
        if result.name == "queues":
            checks[key] = _queue_entries(result, measurement, moment)
        else:
            checks[key] = [_entry(result, measurement, moment)]
    return {"status": SYSTEM_STATUS[report.status], "description": description, "checks": checks}


def liveness(uptime_seconds: float, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The liveness answer, (the default JSON, the draft's): the process runs; nothing else is asked."""
    uptime = round(uptime_seconds, 3)
    plain = {"status": "alive", "timestamp": _time(now), "uptime_seconds": uptime}
    draft = {
        "status": "pass",
        "description": f"{DESCRIPTION}: liveness (no dependency is checked)",
        "checks": {
            "uptime": [
                {
                    "componentType": "system",
                    "observedValue": uptime,
                    "observedUnit": "s",
                    "status": "pass",
                    "time": _time(now),
                }
            ]
        },
    }
    return plain, draft

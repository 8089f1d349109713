"""The draft's application/health+json (draft-inadarei-api-health-check) and the Accept negotiation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from platform_monitoring.health.formats import health_json, liveness, prefers_health_json
from platform_monitoring.health.service import CheckResult, CheckStatus, HealthReport, SystemStatus

NOW = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)


def result(name: str, status: CheckStatus = CheckStatus.OK, meta: dict[str, object] | None = None) -> CheckResult:
    return CheckResult(name, name in {"database", "redis", "stripe_api"}, status, f"{name} says {status}", 12.345, meta)


def report(status: SystemStatus, *results: CheckResult) -> HealthReport:
    return HealthReport(status, NOW, list(results), 20.0)


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        ("application/health+json", True),
        ("application/health+json, application/json;q=0.9", True),
        ("application/json;q=0.5, application/health+json;q=0.5", True),
        ("Application/Health+JSON", True),
        (None, False),
        ("", False),
        ("application/json", False),
        ("*/*", False),  # wildcards keep the guide's JSON
        ("application/health+json;q=0.4, application/json", False),
        ("application/health+json;q=0", False),
        ("application/health+json;q=soon", False),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False),
    ],
)
def test_accept_chooses_the_drafts_format_only_when_it_is_preferred(accept: str | None, wanted: bool) -> None:
    assert prefers_health_json(accept) is wanted


@pytest.mark.parametrize(
    ("system", "expected"),
    [(SystemStatus.HEALTHY, "pass"), (SystemStatus.DEGRADED, "warn"), (SystemStatus.UNHEALTHY, "fail")],
)
def test_the_overall_status_maps_to_pass_warn_fail(system: SystemStatus, expected: str) -> None:
    assert health_json(report(system))["status"] == expected


def test_every_guide_check_becomes_a_component_measurement_with_value_unit_status_and_time() -> None:
    body = health_json(
        report(
            SystemStatus.DEGRADED,
            result("database"),
            result("redis"),
            result("stripe_api", meta={"mode": "test"}),
            result("queues", CheckStatus.WARNING, {"default": 3, "webhooks": 1200}),
            result("disk", meta={"path": "/tmp", "used_percent": 41.5, "free_mb": 300.0}),
            result("memory", CheckStatus.FAILED, {"used_mb": 900.0, "limit_mb": 1000.0, "used_percent": 90.0}),
        )
    )
    assert body["status"] == "warn"
    time = "2026-12-01T12:00:05Z"
    assert body["checks"] == {
        "database:responseTime": [
            {"componentType": "datastore", "observedValue": 12.35, "observedUnit": "ms", "status": "pass", "time": time}
        ],
        "redis:responseTime": [
            {"componentType": "datastore", "observedValue": 12.35, "observedUnit": "ms", "status": "pass", "time": time}
        ],
        "stripe_api:responseTime": [
            {"componentType": "component", "observedValue": 12.35, "observedUnit": "ms", "status": "pass", "time": time}
        ],
        "queues:messages": [
            {
                "componentId": queue,
                "componentType": "component",
                "observedValue": size,
                "observedUnit": "messages",
                "status": "warn",
                "time": time,
                "output": "queues says warning",
            }
            for queue, size in (("default", 3), ("webhooks", 1200))
        ],
        "disk:utilization": [
            {
                "componentType": "system",
                "observedValue": 41.5,
                "observedUnit": "percent",
                "status": "pass",
                "time": time,
            }
        ],
        "memory:utilization": [
            {
                "componentType": "system",
                "observedValue": 90.0,
                "observedUnit": "percent",
                "status": "fail",
                "time": time,
                "output": "memory says failed",
            }
        ],
    }


def test_a_check_without_its_observation_still_reports_status_and_output() -> None:
    # A queue read that failed before any size, a disk check that timed out (no meta), and a
    # check this format does not know yet.
    body = health_json(
        report(
            SystemStatus.UNHEALTHY,
            result("queues", CheckStatus.FAILED),
            result("disk", CheckStatus.FAILED),
            result("certificates", CheckStatus.WARNING),
        )
    )
    assert body["checks"]["queues:messages"] == [
        {"componentType": "component", "status": "fail", "time": "2026-12-01T12:00:05Z", "output": "queues says failed"}
    ]
    assert body["checks"]["disk:utilization"] == [
        {"componentType": "system", "status": "fail", "time": "2026-12-01T12:00:05Z", "output": "disk says failed"}
    ]
    assert body["checks"]["certificates:status"] == [
        {
            "componentType": "component",
            "status": "warn",
            "time": "2026-12-01T12:00:05Z",
            "output": "certificates says warning",
        }
    ]


def test_liveness_reports_uptime_in_both_formats() -> None:
    plain, draft = liveness(12.34567, NOW)
    assert plain == {"status": "alive", "timestamp": "2026-12-01T12:00:05Z", "uptime_seconds": 12.346}
    assert draft["status"] == "pass"
    assert draft["checks"] == {
        "uptime": [
            {
                "componentType": "system",
                "observedValue": 12.346,
                "observedUnit": "s",
                "status": "pass",
                "time": "2026-12-01T12:00:05Z",
            }
        ]
    }

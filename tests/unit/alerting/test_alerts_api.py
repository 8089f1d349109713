"""AlertsApiFunction on in-memory fakes: auth, filters, ack, resolve, silences and the error shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from platform_monitoring.alerting.service import AlertingService

from tests.support.alerting import ALERTS_ADMIN_SECRET, ALERTS_API_ENV, ALERTS_API_SECRET, published, service
from tests.support.clock import Clock
from tests.support.fakes import RecordingPublisher
from tests.support.functions import cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext

SECRET, ENV = ALERTS_API_SECRET, ALERTS_API_ENV


@pytest.fixture(scope="module")
def api() -> Any:
    return cold_start("alerts_api", ENV)


@pytest.fixture(autouse=True)
def alerting(api: Any) -> AlertingService:
    api.service = service(publisher=RecordingPublisher(), clock=Clock())
    return api.service  # type: ignore[no-any-return]


def call(
    api: Any,
    method: str,
    path: str,
    resource: str,
    *,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    secret: str | None = SECRET,
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    event = load_event("alerts_list.json")
    event.update(httpMethod=method, path=path, resource=resource, queryStringParameters=query)
    event["requestContext"].update(httpMethod=method, resourcePath=resource)
    sent = {"Host": "127.0.0.1:3000"}
    if secret is not None:
        # The silences' routes take the admin secret, the others the read secret.
        sent["X-Alerts-Admin-Secret" if silences(method, resource) else "X-Alerts-Secret"] = (
            ALERTS_ADMIN_SECRET if secret == SECRET and silences(method, resource) else secret
        )
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        sent["Content-Type"] = "application/json"
    sent.update(headers or {})
    event["headers"] = sent
    event["multiValueHeaders"] = {key: [value] for key, value in sent.items()}
    if "{id}" in resource:
        event["pathParameters"] = {"id": path.split("/")[-2 if resource.endswith(("/ack", "/resolve")) else -1]}
    response = api.lambda_handler(event, FakeLambdaContext())
    headers_out = {key: values[0] for key, values in (response.get("multiValueHeaders") or {}).items()}
    headers_out.update(response.get("headers") or {})
    return response["statusCode"], headers_out, json.loads(response["body"])


def silences(method: str, resource: str) -> bool:
    return (method, resource) in (("POST", "/api/alerts/silences"), ("DELETE", "/api/alerts/silences/{id}"))


def sample(name: str) -> dict[str, Any]:
    event = load_event(name)
    event["headers"]["X-Alerts-Secret"] = SECRET  # the samples carry .env.example's local secrets
    if "X-Alerts-Admin-Secret" in event["headers"]:
        event["headers"]["X-Alerts-Admin-Secret"] = ALERTS_ADMIN_SECRET
    return event


def test_the_sample_events_work(api: Any, alerting: AlertingService) -> None:
    alerting.alert("payment_failure", {"count": 3})
    for name, status in (("alerts_list.json", 200), ("alerts_ack.json", 200), ("alerts_silence.json", 201)):
        response = api.lambda_handler(sample(name), FakeLambdaContext())
        assert response["statusCode"] == status, (name, response["body"])
    response = api.lambda_handler(sample("alerts_resolve.json"), FakeLambdaContext())
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["alert"]["status"] == "resolved"


@pytest.mark.parametrize(
    ("headers", "secret", "status"),
    [
        ({}, None, 401),
        ({}, "wrong", 401),
        ({"Authorization": f"Bearer {SECRET}"}, None, 200),
        ({"Authorization": "Bearer wrong"}, None, 401),
        ({"Authorization": f"Basic {SECRET}"}, None, 401),
    ],
)
def test_every_route_needs_the_secret(
    api: Any, alerting: AlertingService, headers: dict[str, str], secret: str | None, status: int
) -> None:
    got, _, body = call(api, "GET", "/api/alerts", "/api/alerts", headers=headers, secret=secret)
    assert got == status
    if status == 401:
        assert body["error"]["code"] == "unauthorized"
        assert SECRET not in json.dumps(body)
    got, _, _ = call(api, "POST", "/api/alerts/x/ack", "/api/alerts/{id}/ack", headers=headers, secret=secret)
    assert got == (404 if status == 200 else 401)


def test_list_filters_by_status_and_severity(api: Any, alerting: AlertingService) -> None:
    alerting.alert("payment_failure", {"count": 3})
    alerting.alert("stripe_webhook_failure", {"count": 5})
    alerting.acknowledge("payment_failure")
    status, _, body = call(api, "GET", "/api/alerts", "/api/alerts")
    assert status == 200 and body["count"] == 2
    _, _, body = call(api, "GET", "/api/alerts", "/api/alerts", query={"status": "firing"})
    assert [a["type"] for a in body["alerts"]] == ["stripe_webhook_failure"]
    _, _, body = call(api, "GET", "/api/alerts", "/api/alerts", query={"severity": "critical", "status": "active"})
    [alert] = body["alerts"]
    assert alert["type"] == "payment_failure" and alert["status"] == "acknowledged"
    assert set(alert) >= {"id", "first_seen", "last_seen", "count", "last_notified", "suppressed", "summary"}
    status, _, body = call(api, "GET", "/api/alerts", "/api/alerts", query={"status": "sleeping"})
    assert status == 400 and body["error"]["code"] == "invalid_parameter"


def test_ack_then_resolve_and_the_conflicts(api: Any, alerting: AlertingService) -> None:
    alerting.alert("payment_failure", {"count": 3})
    status, _, body = call(
        api, "POST", "/api/alerts/payment_failure/ack", "/api/alerts/{id}/ack", body={"by": "alice", "note": "looking"}
    )
    assert status == 200
    assert (body["alert"]["status"], body["alert"]["acknowledged_by"]) == ("acknowledged", "alice")
    status, _, body = call(api, "POST", "/api/alerts/payment_failure/resolve", "/api/alerts/{id}/resolve")
    assert status == 200 and body["alert"]["status"] == "resolved"
    assert published(alerting.publisher)[-1].kind == "resolved"
    status, _, body = call(api, "POST", "/api/alerts/payment_failure/ack", "/api/alerts/{id}/ack")
    assert status == 409 and body["error"]["code"] == "conflict"
    assert body["alert"]["status"] == "resolved"
    status, _, body = call(api, "POST", "/api/alerts/payment_failure/resolve", "/api/alerts/{id}/resolve")
    assert status == 409
    status, _, body = call(api, "GET", "/api/alerts/payment_failure", "/api/alerts/{id}")
    assert status == 200 and body["alert"]["resolved_by"] == "api"


def test_unknown_alert_is_404(api: Any, alerting: AlertingService) -> None:
    status, _, body = call(api, "POST", "/api/alerts/nope/resolve", "/api/alerts/{id}/resolve")
    assert (status, body["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ("{not json", {}, 400, "invalid_json"),
        ("[1, 2]", {}, 400, "invalid_request"),
        ({"by": 7}, {}, 400, "invalid_request"),
        ({"by": "x" * 101}, {}, 400, "invalid_request"),
        ("by=alice", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        ({"note": "x" * 20_000}, {}, 413, "payload_too_large"),
    ],
)
def test_bad_bodies(api: Any, body: Any, headers: dict[str, str], status: int, code: str) -> None:
    api.service.alert("payment_failure", {"count": 3})
    got, _, answer = call(
        api, "POST", "/api/alerts/payment_failure/ack", "/api/alerts/{id}/ack", body=body, headers=headers
    )
    assert (got, answer["error"]["code"]) == (status, code)


@pytest.mark.parametrize(
    ("method", "path", "resource", "allow"),
    [
        ("DELETE", "/api/alerts", "/api/alerts", "GET"),
        ("GET", "/api/alerts/payment_failure/ack", "/api/alerts/{id}/ack", "POST"),
        ("PUT", "/api/alerts/payment_failure/resolve", "/api/alerts/{id}/resolve", "POST"),
        ("DELETE", "/api/alerts/silences", "/api/alerts/silences", "GET, POST"),
        ("GET", "/api/alerts/silences/abc", "/api/alerts/silences/{id}", "DELETE"),
    ],
)
def test_wrong_methods_are_405_with_allow(api: Any, method: str, path: str, resource: str, allow: str) -> None:
    status, headers, body = call(api, method, path, resource)
    assert (status, body["error"]["code"], headers["Allow"]) == (405, "method_not_allowed", allow)


def test_silences_through_the_api(api: Any, alerting: AlertingService) -> None:
    status, _, body = call(
        api,
        "POST",
        "/api/alerts/silences",
        "/api/alerts/silences",
        body={"type": "payment_failure", "minutes": 30, "reason": "deploy"},
    )
    assert status == 201
    silence = body["silence"]
    assert (silence["type"], silence["reason"], silence["ends_at"]) == (
        "payment_failure",
        "deploy",
        "2026-11-29T10:30:00.000Z",
    )
    assert alerting.alert("payment_failure", {"count": 3}).outcome == "silenced"
    _, _, body = call(api, "GET", "/api/alerts/silences", "/api/alerts/silences")
    assert [s["id"] for s in body["silences"]] == [silence["id"]]
    status, _, body = call(api, "DELETE", f"/api/alerts/silences/{silence['id']}", "/api/alerts/silences/{id}")
    assert status == 200 and body["deleted"] is True
    status, _, body = call(api, "DELETE", f"/api/alerts/silences/{silence['id']}", "/api/alerts/silences/{id}")
    assert status == 404


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ({"minutes": 30}, "invalid_request"),
        ({"type": "payment_failure"}, "invalid_request"),
        ({"type": "payment_failure", "minutes": 30, "until": "2026-11-29T11:00:00Z"}, "invalid_request"),
        ({"type": "payment_failure", "minutes": "thirty"}, "invalid_request"),
        ({"type": "payment_failure", "until": "tomorrow"}, "invalid_request"),
        ({"type": "payment_failure", "until": "2026-11-29T11:00:00"}, "invalid_request"),
        ({"type": "payment_failure", "until": "2026-11-28T11:00:00Z"}, "invalid_request"),
        ({"type": "payment_failure", "minutes": 20000}, "invalid_request"),
        ({"type": "everything", "minutes": 30}, "unknown_alert_type"),
    ],
)
def test_bad_silences_are_400(api: Any, alerting: AlertingService, sent: dict[str, Any], code: str) -> None:
    status, _, body = call(api, "POST", "/api/alerts/silences", "/api/alerts/silences", body=sent)
    assert (status, body["error"]["code"]) == (400, code)


def test_a_silence_until_a_time(api: Any, alerting: AlertingService) -> None:
    status, _, body = call(
        api,
        "POST",
        "/api/alerts/silences",
        "/api/alerts/silences",
        body={"type": "queue_backlog", "until": "2026-11-29T12:00:00Z"},
    )
    assert status == 201 and body["silence"]["ends_at"] == "2026-11-29T12:00:00.000Z"


# --- separate powers: the silences take ALERTS_ADMIN_SECRET ------------------------------
def test_the_read_secret_cannot_silence(api: Any, alerting: AlertingService) -> None:
    request = {"type": "payment_failure", "minutes": 30}
    for headers in ({"X-Alerts-Secret": SECRET}, {"Authorization": f"Bearer {SECRET}"}):
        status, _, body = call(
            api, "POST", "/api/alerts/silences", "/api/alerts/silences", body=request, secret=None, headers=headers
        )
        assert (status, body["error"]["code"]) == (401, "unauthorized")
    status, _, _ = call(
        api,
        "DELETE",
        "/api/alerts/silences/abc",
        "/api/alerts/silences/{id}",
        secret=None,
        headers={"X-Alerts-Secret": SECRET},
    )
    assert status == 401
    assert alerting.silences() == []
    # the admin secret as a bearer token works
    bearer = {"Authorization": f"Bearer {ALERTS_ADMIN_SECRET}"}
    status, _, body = call(
        api, "POST", "/api/alerts/silences", "/api/alerts/silences", body=request, secret=None, headers=bearer
    )
    assert status == 201 and body["warnings"] == [] and body["muted_security_alerts"] == []


def test_an_unset_admin_secret_closes_the_silences() -> None:
    closed = cold_start("alerts_api", {**ENV, "ALERTS_ADMIN_SECRET": None})
    closed.service = service(publisher=RecordingPublisher(), clock=Clock())
    status, _, body = call(
        closed, "POST", "/api/alerts/silences", "/api/alerts/silences", body={"type": "payment_failure", "minutes": 5}
    )
    assert (status, body["error"]["code"]) == (503, "not_configured")
    assert call(closed, "GET", "/api/alerts/silences", "/api/alerts/silences")[0] == 200  # reading stays open


def test_silencing_a_security_alert_needs_force_and_says_so(api: Any, alerting: AlertingService) -> None:
    request: dict[str, Any] = {"type": "security_breach_attempt", "minutes": 30, "reason": "pentest"}
    status, _, body = call(api, "POST", "/api/alerts/silences", "/api/alerts/silences", body=request)
    assert (status, body["error"]["code"]) == (409, "security_alert") and "force" in body["error"]["message"]
    assert alerting.silences() == []
    status, _, body = call(
        api, "POST", "/api/alerts/silences", "/api/alerts/silences", body={**request, "force": "yes"}
    )
    assert (status, body["error"]["code"]) == (400, "invalid_request")
    status, _, body = call(api, "POST", "/api/alerts/silences", "/api/alerts/silences", body={**request, "force": True})
    assert status == 201
    assert body["muted_security_alerts"] == ["security_breach_attempt"]
    assert len(body["warnings"]) == 1 and "security_breach_attempt" in body["warnings"][0]
    status, _, body = call(
        api,
        "POST",
        "/api/alerts/silences",
        "/api/alerts/silences",
        body={"type": "security_control_change", "minutes": 5, "force": True},
    )
    assert (status, body["error"]["code"]) == (409, "not_silenceable")


def test_every_silence_and_removal_is_notified_with_the_callers_address(api: Any, alerting: AlertingService) -> None:
    status, _, body = call(
        api,
        "POST",
        "/api/alerts/silences",
        "/api/alerts/silences",
        body={"type": "payment_failure", "minutes": 30, "by": "carol"},
    )
    assert status == 201
    silence_id = body["silence"]["id"]
    status, _, _ = call(api, "DELETE", f"/api/alerts/silences/{silence_id}", "/api/alerts/silences/{id}")
    assert status == 200
    notices = [n for n in published(alerting.publisher) if n.alert_type == "security_control_change"]
    assert [n.context["action"] for n in notices] == ["silence created", "silence removed"]
    sample_ip = load_event("alerts_list.json")["requestContext"]["identity"]["sourceIp"]
    assert {n.context["actor_ip"] for n in notices} == {sample_ip}
    assert notices[0].context["by"] == "carol" and "payment_failure" in notices[0].context["target"]

"""Alerts from outside on the bundle's pager path: Alertmanager's webhook notification (POST
/api/alerts/alertmanager) and CloudWatch alarm messages (OperationsAlarmTopic), on fakes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from platform_monitoring.alerting.external import (
    ExternalAlertFailed,
    ExternalAlerts,
    InvalidExternalAlert,
    alertmanager_alerts,
    cloudwatch_alarm,
    is_cloudwatch_alarm,
)
from platform_monitoring.alerting.service import AlertingService

from tests.support.alerting import ALERTS_API_ENV, ALERTS_API_SECRET, published, service
from tests.support.clock import Clock
from tests.support.fakes import RecordingPublisher
from tests.support.functions import cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext

WEBHOOK_SECRET = "unit-alertmanager-secret"


def alertmanager_payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    """Alertmanager 0.25's webhook body (version 4), as its notify/webhook package sends it."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="AskProAIPaymentFailures"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "askproai-bundle",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": list(alerts),
    }


def prometheus_alert(
    name: str = "AskProAIPaymentFailures", severity: str = "critical", status: str = "firing", fingerprint: str = "f1"
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "alert_type": "payment_failure", "monitor": "askproai"},
        "annotations": {"summary": "Payment failures: 3 in the last 5 minutes", "runbook_url": "https://r/x.md"},
        "startsAt": "2026-12-01T12:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=...",
        "fingerprint": fingerprint,
    }


def alarm_message(state: str = "ALARM", name: str = "HealthFunctionErrorsAlarm") -> str:
    """CloudWatch's SNS message for an alarm state change."""
    return json.dumps(
        {
            "AlarmName": name,
            "AlarmDescription": "HealthFunction failed in 5 consecutive minutes.",
            "AWSAccountId": "123456789012",
            "NewStateValue": state,
            "NewStateReason": "Threshold Crossed: 5 datapoints were greater than or equal to the threshold (1.0).",
            "StateChangeTime": "2026-12-01T12:00:00.000+0000",
            "Region": "EU (Frankfurt)",
            "AlarmArn": f"arn:aws:cloudwatch:eu-central-1:123456789012:alarm:{name}",
            "OldStateValue": "OK" if state == "ALARM" else "ALARM",
            "Trigger": {"MetricName": "Errors", "Namespace": "AWS/Lambda"},
        }
    )


@pytest.fixture
def alerting() -> AlertingService:
    return service(publisher=RecordingPublisher(), clock=Clock())


def test_a_firing_prometheus_alert_pages_with_its_own_title_severity_and_source(alerting: AlertingService) -> None:
    [alert] = alertmanager_alerts(alertmanager_payload(prometheus_alert()))
    applied = ExternalAlerts(alerting).apply(alert)

    assert (applied.status, applied.outcome) == ("firing", "notified")
    [notification] = published(alerting.publisher)
    assert notification.alert_type == "prometheus_alert"
    assert notification.title == "Prometheus: AskProAIPaymentFailures"
    assert notification.severity == "critical"
    assert set(notification.channels) == {"email", "slack", "sms"}
    assert notification.summary == "AskProAIPaymentFailures: Payment failures: 3 in the last 5 minutes"
    assert notification.context["source"] == "prometheus"
    assert notification.context["labels"]["alert_type"] == "payment_failure"
    record = alerting.get(applied.alert_id)
    assert (record.severity, record.title, record.status) == ("critical", notification.title, "firing")


def test_a_repeat_is_throttled_and_the_resolved_notice_resolves_it(alerting: AlertingService) -> None:
    external = ExternalAlerts(alerting)
    [firing] = alertmanager_alerts(alertmanager_payload(prometheus_alert()))
    first = external.apply(firing)
    assert external.apply(firing).outcome == "throttled"  # Alertmanager's repeat_interval

    [resolved] = alertmanager_alerts(alertmanager_payload(prometheus_alert(status="resolved"), status="resolved"))
    applied = external.apply(resolved)

    assert (applied.alert_id, applied.outcome) == (first.alert_id, "resolved")
    assert alerting.get(first.alert_id).resolution == "resolved in Alertmanager"
    kinds = [n.kind for n in published(alerting.publisher)]
    assert kinds == ["firing", "resolved"]
    # Resolving again (Alertmanager repeats resolved notices too) changes nothing
    assert external.apply(resolved).outcome == "not_firing"


def test_a_warning_does_not_send_sms_and_an_unknown_severity_is_the_rules(alerting: AlertingService) -> None:
    external = ExternalAlerts(alerting)
    external.apply(alertmanager_alerts(alertmanager_payload(prometheus_alert(severity="warning")))[0])
    external.apply(alertmanager_alerts(alertmanager_payload(prometheus_alert("Other", "weird", fingerprint="f2")))[0])

    warning, other = published(alerting.publisher)
    assert (warning.severity, set(warning.channels)) == ("warning", {"email", "slack"})
    assert (other.severity, set(other.channels)) == ("high", {"email", "slack"})


def test_two_prometheus_alerts_with_different_fingerprints_are_two_alerts(alerting: AlertingService) -> None:
    alerts = alertmanager_alerts(
        alertmanager_payload(prometheus_alert(fingerprint="a"), prometheus_alert(fingerprint="b"))
    )
    ids = {ExternalAlerts(alerting).apply(alert).alert_id for alert in alerts}
    assert len(ids) == 2
    assert len(published(alerting.publisher)) == 2


def test_a_failing_store_raises_so_the_sender_retries(alerting: AlertingService) -> None:
    alerting.publisher.fail = ConnectionError("SNS is down")  # type: ignore[attr-defined]
    [alert] = alertmanager_alerts(alertmanager_payload(prometheus_alert()))
    with pytest.raises(ExternalAlertFailed):
        ExternalAlerts(alerting).apply(alert)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "JSON object"),
        ({"version": "3", "alerts": [prometheus_alert()]}, 'version "4"'),
        (alertmanager_payload(), "non-empty list"),
        (alertmanager_payload({**prometheus_alert(), "status": "pending"}), "firing or resolved"),
        (alertmanager_payload({**prometheus_alert(), "labels": {"severity": "critical"}}), "alertname"),
        (alertmanager_payload({**prometheus_alert(), "fingerprint": ""}), "fingerprint"),
        (alertmanager_payload(*[prometheus_alert(fingerprint=str(i)) for i in range(101)]), "at most 100"),
    ],
)
def test_what_is_not_an_alertmanager_notification_is_refused(payload: Any, message: str) -> None:
    with pytest.raises(InvalidExternalAlert, match=message):
        alertmanager_alerts(payload)


def test_cloudwatch_alarm_fires_resolves_and_ignores_insufficient_data(alerting: AlertingService) -> None:
    external = ExternalAlerts(alerting)
    assert is_cloudwatch_alarm(alarm_message())
    alarm = cloudwatch_alarm(alarm_message("ALARM"))
    assert alarm is not None
    fired = external.apply(alarm)
    ok = cloudwatch_alarm(alarm_message("OK"))
    assert ok is not None
    resolved = external.apply(ok)

    assert (fired.outcome, resolved.outcome, resolved.alert_id) == ("notified", "resolved", fired.alert_id)
    firing, notice = published(alerting.publisher)
    assert (firing.alert_type, firing.title, firing.severity) == (
        "cloudwatch_alarm",
        "CloudWatch alarm: HealthFunctionErrorsAlarm",
        "high",
    )
    assert firing.context["source"] == "cloudwatch"
    assert firing.summary.startswith("HealthFunctionErrorsAlarm: Threshold Crossed")
    assert notice.kind == "resolved"
    assert alerting.get(fired.alert_id).resolution == "resolved in CloudWatch"
    assert cloudwatch_alarm(alarm_message("INSUFFICIENT_DATA")) is None


def test_a_bundle_notification_is_not_taken_for_a_cloudwatch_alarm(alerting: AlertingService) -> None:
    alerting.alert("payment_failure", {"count": 3})
    [notification] = published(alerting.publisher)
    assert not is_cloudwatch_alarm(notification.to_json())
    assert not is_cloudwatch_alarm("not json")
    with pytest.raises(InvalidExternalAlert):
        cloudwatch_alarm('{"NewStateValue": "ALARM"}')


# --- POST /api/alerts/alertmanager ------------------------------------------------------------
@pytest.fixture(scope="module")
def api() -> Any:
    return cold_start("alerts_api", {**ALERTS_API_ENV, "ALERTMANAGER_WEBHOOK_SECRET": WEBHOOK_SECRET})


def post(api: Any, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    event = load_event("alerts_list.json")
    path = "/api/alerts/alertmanager"
    event.update(httpMethod="POST", path=path, resource=path, body=json.dumps(body))
    event["requestContext"].update(httpMethod="POST", resourcePath=path)
    sent = {"Host": "127.0.0.1:3000", "Content-Type": "application/json", **headers}
    event["headers"] = sent
    event["multiValueHeaders"] = {key: [value] for key, value in sent.items()}
    response = api.lambda_handler(event, FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": f"Bearer {ALERTS_API_SECRET}"}, 401),  # the alerts API's secret is not this one's
        ({"X-Alerts-Secret": WEBHOOK_SECRET}, 401),  # bearer only, as Alertmanager sends it
        ({"Authorization": f"Bearer {WEBHOOK_SECRET}"}, 200),
    ],
)
def test_the_route_wants_its_own_bearer_secret(api: Any, headers: dict[str, str], status: int) -> None:
    api.service = service(publisher=RecordingPublisher(), clock=Clock())
    code, body = post(api, alertmanager_payload(prometheus_alert()), headers)
    assert code == status, body
    if status == 200:
        assert body["count"] == 1 and body["alerts"][0]["outcome"] == "notified"
        assert published(api.service.publisher)[0].context["source"] == "prometheus"
    else:
        assert body["error"]["code"] == "unauthorized"
        assert not published(api.service.publisher)


def test_the_route_is_closed_while_its_secret_is_unset() -> None:
    closed = cold_start("alerts_api", {**ALERTS_API_ENV, "ALERTMANAGER_WEBHOOK_SECRET": None})
    code, body = post(closed, alertmanager_payload(prometheus_alert()), {"Authorization": "Bearer anything"})
    assert (code, body["error"]["code"]) == (503, "not_configured")


def test_a_body_that_is_no_notification_is_a_400(api: Any) -> None:
    api.service = service(publisher=RecordingPublisher(), clock=Clock())
    code, body = post(api, {"alerts": []}, {"Authorization": f"Bearer {WEBHOOK_SECRET}"})
    assert (code, body["error"]["code"]) == (400, "invalid_request")
    assert 'version "4"' in body["error"]["message"]

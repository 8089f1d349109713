"""Alerts from outside the bundle on its pager path: Alertmanager's webhook and CloudWatch alarms.

Prometheus rules page through Alertmanager, whose receiver (prometheus/alertmanager.yml) is
POST /api/alerts/alertmanager; the template's CloudWatch alarms publish to OperationsAlarmTopic,
which AlertDispatcherFunction is subscribed to. Both end here, as `alert()` calls on the
AlertingService with the rules `prometheus_alert` and `cloudwatch_alarm`: the same channels,
throttle, silences, escalation and delivery history as the bundle's own alerts, and one alert per
Prometheus alert (its alertname and fingerprint) or per CloudWatch alarm (its name). Each alert's
context says where it came from (`source`: prometheus | cloudwatch); its type says so on the alert
metrics (askproai_alerts_sent_total{type}) and the API.

A firing alert that is already firing is a throttled repeat (Alertmanager repeats every
repeat_interval); a resolved one (Alertmanager's `resolved`, CloudWatch's OK) resolves it, with the
resolved notice. CloudWatch's INSUFFICIENT_DATA changes nothing. See docs/alerting.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from platform_monitoring.alerting.rules import SEVERITIES
from platform_monitoring.alerting.service import AlertingService, make_alert_id
from platform_monitoring.alerting.store import AlertConflict, AlertNotFound
from platform_monitoring.core.masking import mask

PROMETHEUS_ALERT = "prometheus_alert"
CLOUDWATCH_ALARM = "cloudwatch_alarm"
FIRING, RESOLVED = "firing", "resolved"
# SMS wakes people up: only critical alerts from outside use it (the rule's other channels stay).
SMS_SEVERITIES = ("critical",)
# Prometheus' customary severity label values that are not among the bundle's severities.
SEVERITY_ALIASES = {"page": "critical", "error": "high", "warn": "warning", "ticket": "warning", "none": "info"}
MAX_ALERTS = 100  # one Alertmanager notification at most (webhook_config max_alerts is 0: all)
MAX_TEXT = 1000  # characters of one label or annotation kept in the context


class InvalidExternalAlert(ValueError):
    """The payload is not an Alertmanager webhook notification or a CloudWatch alarm message."""


class ExternalAlertFailed(RuntimeError):
    """The alert store or topic failed: the sender should try again (Alertmanager on a 5xx, SNS on
    the function's error), unlike the bundle's own callers, whom alert() never raises to."""


@dataclass(frozen=True)
class ExternalAlert:
    """One alert as its source states it: firing or resolved, with its name, key and context."""

    source: str  # prometheus | cloudwatch
    alert_type: str  # the bundle's rule
    status: str  # firing | resolved
    severity: str | None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Applied:
    alert_id: str
    status: str
    outcome: str  # alert(): notified, throttled, ...; resolved: resolved | not_firing

    def to_api(self) -> dict[str, str]:
        return {"alert_id": self.alert_id, "status": self.status, "outcome": self.outcome}


def _text(value: Any) -> str:
    return str(value)[:MAX_TEXT]


def _severity(value: Any) -> str | None:
    name = str(value or "").strip().lower()
    name = SEVERITY_ALIASES.get(name, name)
    return name if name in SEVERITIES else None


def alertmanager_alerts(payload: Any) -> list[ExternalAlert]:
    """The alerts of an Alertmanager webhook notification (version 4); InvalidExternalAlert if it is not one."""
    if not isinstance(payload, Mapping):
        raise InvalidExternalAlert("the body must be Alertmanager's webhook notification (a JSON object)")
    if str(payload.get("version", "")) != "4":
        raise InvalidExternalAlert('only version "4" of Alertmanager\'s webhook notification is understood')
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise InvalidExternalAlert("alerts must be a non-empty list")
    if len(alerts) > MAX_ALERTS:
        raise InvalidExternalAlert(f"at most {MAX_ALERTS} alerts per notification")
    result = []
    for index, alert in enumerate(alerts):
        where = f"alerts[{index}]"
        if not isinstance(alert, Mapping):
            raise InvalidExternalAlert(f"{where} must be an object")
        status = alert.get("status")
        if status not in (FIRING, RESOLVED):
            raise InvalidExternalAlert(f"{where}.status must be firing or resolved")
        labels, annotations = alert.get("labels"), alert.get("annotations") or {}
        if not isinstance(labels, Mapping) or not isinstance(annotations, Mapping):
            raise InvalidExternalAlert(f"{where}.labels and .annotations must be objects")
        name, fingerprint = labels.get("alertname"), alert.get("fingerprint")
        if not isinstance(name, str) or not name or not isinstance(fingerprint, str) or not fingerprint:
            raise InvalidExternalAlert(f"{where} needs labels.alertname and fingerprint")
        context: dict[str, Any] = {
            "source": "prometheus",
            "alertname": _text(name),
            "fingerprint": _text(fingerprint),
            "summary": _text(annotations.get("summary") or annotations.get("description") or name),
            "labels": {_text(k): _text(v) for k, v in labels.items()},
            "annotations": {_text(k): _text(v) for k, v in annotations.items()},
            "starts_at": _text(alert.get("startsAt", "")),
            "generator_url": _text(alert.get("generatorURL", "")),
        }
        result.append(ExternalAlert("prometheus", PROMETHEUS_ALERT, status, _severity(labels.get("severity")), context))
    return result


def is_cloudwatch_alarm(message: str) -> bool:
    """Whether an SNS message is CloudWatch's alarm state change (not a bundle notification)."""
    try:
        data = json.loads(message)
    except ValueError:
        return False
    return isinstance(data, dict) and "AlarmName" in data and "NewStateValue" in data


def cloudwatch_alarm(message: str) -> ExternalAlert | None:
    """CloudWatch's alarm message (SNS): ALARM fires, OK resolves, INSUFFICIENT_DATA is None."""
    try:
        data = json.loads(message)
    except ValueError:
        raise InvalidExternalAlert("a CloudWatch alarm message is JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("AlarmName"), str):
        raise InvalidExternalAlert("a CloudWatch alarm message has AlarmName and NewStateValue")
    state = data.get("NewStateValue")
    status = {"ALARM": FIRING, "OK": RESOLVED}.get(str(state))
    if status is None:
        return None
    context = {
        "source": "cloudwatch",
        "alarm_name": _text(data["AlarmName"]),
        "reason": _text(data.get("NewStateReason") or state),
        "description": _text(data.get("AlarmDescription") or ""),
        "alarm_arn": _text(data.get("AlarmArn") or ""),
        "state_changed_at": _text(data.get("StateChangeTime") or ""),
        "region": _text(data.get("Region") or ""),
    }
    return ExternalAlert("cloudwatch", CLOUDWATCH_ALARM, status, None, context)


class ExternalAlerts:
    """Applies external alerts to the AlertingService: fire (alert()) or resolve."""

    def __init__(self, service: AlertingService) -> None:
        self.service = service

    def apply(self, external: ExternalAlert) -> Applied:
        rule = self.service.rules[external.alert_type]
        masked = mask(dict(external.context))
        alert_id = make_alert_id(rule.type, {name: str(masked.get(name, "")) for name in rule.group_by})
        if external.status == RESOLVED:
            return Applied(alert_id, RESOLVED, self._resolve(alert_id, external.source))
        severity = external.severity or rule.severity
        channels = rule.channels if severity in SMS_SEVERITIES else tuple(c for c in rule.channels if c != "sms")
        decision = self.service.alert(rule.type, external.context, severity=severity, channels=channels)
        if decision.outcome == "error":
            raise ExternalAlertFailed(f"{decision.alert_id}: {decision.error}")
        return Applied(decision.alert_id, FIRING, decision.outcome)

    def _resolve(self, alert_id: str, source: str) -> str:
        record = self.service.store.get(alert_id)
        if record is None or not record.active:
            return "not_firing"
        try:
            self.service.clear(record, f"resolved in {'Alertmanager' if source == 'prometheus' else 'CloudWatch'}")
        except (AlertConflict, AlertNotFound):
            return "not_firing"
        return RESOLVED

"""AlertsApiFunction: the active alerts and silences, behind ALERTS_API_SECRET (reading, ack, resolve)
and ALERTS_ADMIN_SECRET (creating and removing silences).

    GET    /api/alerts                    ?status=firing|acknowledged|resolved|active &severity= &type=
    GET    /api/alerts/{id}
    POST   /api/alerts/{id}/ack           {"by": "alice", "note": "looking"}     (body optional)
    POST   /api/alerts/{id}/resolve       {"by": "alice", "note": "fixed"}       (body optional)
    GET    /api/alerts/{id}/notifications the delivery history: every attempt, with the provider's reason
    GET    /api/alerts/stats              ?window=7d|30d  alert quality per rule (alerting/quality.py)
    GET    /api/alerts/silences
    POST   /api/alerts/silences           {"type": "payment_failure", "minutes": 30, "reason": "deploy"}  (admin)
    DELETE /api/alerts/silences/{id}                                                               (admin)
    POST   /api/alerts/alertmanager       Alertmanager's webhook notification (prometheus/alertmanager.yml)

Authenticated with `X-Alerts-Secret` or `Authorization: Bearer` (ALERTS_API_SECRET); the admin
routes with `X-Alerts-Admin-Secret` or `Authorization: Bearer` carrying ALERTS_ADMIN_SECRET; the
Alertmanager route with `Authorization: Bearer` ALERTMANAGER_WEBHOOK_SECRET alone. A silence of a
security alert type (security_breach_attempt) is refused (409 security_alert) unless the body says
`"force": true`, and its answer's `warnings` name the muted type; security_control_change (which
reports every silence and unblock) cannot be silenced. Every error is {"error": {"code", "message"}}.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response
from platform_monitoring.alerting.external import (
    ExternalAlertFailed,
    ExternalAlerts,
    InvalidExternalAlert,
    alertmanager_alerts,
)
from platform_monitoring.alerting.quality import WINDOWS, alert_quality
from platform_monitoring.alerting.rules import SEVERITIES, UnknownAlertType
from platform_monitoring.alerting.service import SilenceRefused
from platform_monitoring.alerting.settings import AlertsApiSettings
from platform_monitoring.alerting.store import STATUSES, AlertConflict, AlertNotFound
from platform_monitoring.api.auth import require_admin, require_secret, source_ip
from platform_monitoring.api.bodies import json_object_body, request_body
from platform_monitoring.api.responses import ApiError, create_resolver, error_response, json_response
from platform_monitoring.core.config import load_settings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.wiring.alerting import build_alerting_service, build_delivery_history
from platform_monitoring.wiring.refusals import report_failed_authentications

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

settings = load_settings(AlertsApiSettings.from_env)
configure(settings.alerting.monitoring)
service = build_alerting_service(settings.alerting)
history = build_delivery_history(settings.alerting)
app = create_resolver()
report_failed_authentications()  # a wrong secret or signature is a security event


@app.exception_handler(AlertNotFound)
def _not_found(error: AlertNotFound) -> Response[str]:
    return error_response(404, "not_found", f"No alert or silence {error.args[0]!r}")


@app.exception_handler(AlertConflict)
def _conflict(error: AlertConflict) -> Response[str]:
    return json_response(409, {"error": {"code": "conflict", "message": str(error)}, "alert": error.record.to_api()})


@app.exception_handler(UnknownAlertType)
def _unknown_type(error: UnknownAlertType) -> Response[str]:
    return error_response(400, "unknown_alert_type", str(error))


@app.exception_handler(ExternalAlertFailed)
def _external_failed(error: ExternalAlertFailed) -> Response[str]:
    # 503: Alertmanager retries the notification.
    return error_response(503, "alerting_unavailable", "the alert could not be recorded; try again")


@app.exception_handler(SilenceRefused)
def _silence_refused(error: SilenceRefused) -> Response[str]:
    return error_response(409, error.code, str(error))


def authorize() -> None:
    require_secret(app.current_event.headers, settings.secrets.reader, "X-Alerts-Secret", accept_bearer=True)


def authorize_admin() -> None:
    require_admin(app.current_event.headers, settings.secrets.admin)


def actor_ip() -> str | None:
    return source_ip(app.current_event.raw_event)


def query(name: str, allowed: tuple[str, ...]) -> str | None:
    value = (app.current_event.query_string_parameters or {}).get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise ApiError(400, "invalid_parameter", f"{name} must be one of {', '.join(allowed)}")
    return value


def body() -> dict[str, Any]:
    event = app.current_event
    return json_object_body(request_body(event), event.headers)


def text(data: dict[str, Any], name: str, default: str | None = None, limit: int = 500) -> str | None:
    value = data.get(name, default)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ApiError(400, "invalid_request", f"{name} must be a string of at most {limit} characters")
    return value


# --- alerts -----------------------------------------------------------------------------
@app.get("/api/alerts")
def list_alerts() -> Response[str]:
    authorize()
    records = service.alerts(
        status=query("status", (*STATUSES, "active")),
        severity=query("severity", SEVERITIES),
        alert_type=query("type", tuple(service.rules)),
    )
    return json_response(200, {"alerts": [record.to_api() for record in records], "count": len(records)})


@app.get("/api/alerts/<alert_id>")
def get_alert(alert_id: str) -> Response[str]:
    authorize()
    return json_response(200, {"alert": service.get(alert_id).to_api()})


def who_and_why() -> tuple[str, str | None]:
    """The optional {"by", "note"} body of ack and resolve."""
    data = body()
    return text(data, "by", "api", 100) or "api", text(data, "note")


@app.post("/api/alerts/<alert_id>/ack")
def acknowledge(alert_id: str) -> Response[str]:
    authorize()
    by, note = who_and_why()
    return json_response(200, {"alert": service.acknowledge(alert_id, by=by, note=note).to_api()})


@app.post("/api/alerts/<alert_id>/resolve")
def resolve(alert_id: str) -> Response[str]:
    authorize()
    by, note = who_and_why()
    return json_response(200, {"alert": service.resolve(alert_id, by=by, note=note).to_api()})


@app.get("/api/alerts/<alert_id>/notifications")
def notifications(alert_id: str) -> Response[str]:
    authorize()
    attempts = history.for_alert(alert_id) if history is not None else []
    if not attempts:
        service.get(alert_id)  # 404 for an alert that does not exist
    return json_response(
        200, {"alert_id": alert_id, "notifications": [a.to_api() for a in attempts], "count": len(attempts)}
    )


@app.get("/api/alerts/stats")
def stats() -> Response[str]:
    authorize()
    window = query("window", tuple(WINDOWS)) or "7d"
    report = alert_quality(service.rules, service.store, history, now_ms=service.now_ms(), window=window)
    return json_response(200, report.to_api())


# --- silences ---------------------------------------------------------------------------
@app.get("/api/alerts/silences")
def list_silences() -> Response[str]:
    authorize()
    silences = service.silences()
    return json_response(200, {"silences": [silence.to_api() for silence in silences], "count": len(silences)})


@app.post("/api/alerts/silences")
def create_silence() -> Response[str]:
    authorize_admin()
    data = body()
    alert_type = text(data, "type", limit=100)
    if not alert_type:
        raise ApiError(400, "invalid_request", "type is required (an alert type)")
    minutes, until = data.get("minutes"), data.get("until")
    if (minutes is None) == (until is None):
        raise ApiError(400, "invalid_request", "give either minutes or until (ISO 8601)")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int | float)):
        raise ApiError(400, "invalid_request", "minutes must be a number")
    force = data.get("force", False)
    if not isinstance(force, bool):
        raise ApiError(400, "invalid_request", "force must be true or false")
    until_ms = None
    if until is not None:
        try:
            parsed = datetime.fromisoformat(str(until).replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(
                400, "invalid_request", "until must be an ISO 8601 time such as 2026-01-31T18:00:00Z"
            ) from None
        if parsed.tzinfo is None:
            raise ApiError(400, "invalid_request", "until needs a time zone (e.g. Z)")
        until_ms = int(parsed.timestamp() * 1000)
    try:
        silence = service.silence(
            alert_type,
            minutes=minutes,
            until_ms=until_ms,
            reason=text(data, "reason", "") or "",
            by=text(data, "by", "api", 100) or "api",
            force=force,
            actor_ip=actor_ip(),
        )
    except ValueError as error:
        raise ApiError(400, "invalid_request", str(error)) from None
    muted = service.muted_security_types(silence)
    warnings = [
        f"{muted_type} is a security alert: it will not notify until {silence.to_api()['ends_at']}"
        for muted_type in muted
    ]
    return json_response(201, {"silence": silence.to_api(), "warnings": warnings, "muted_security_alerts": muted})


@app.delete("/api/alerts/silences/<silence_id>")
def delete_silence(silence_id: str) -> Response[str]:
    authorize_admin()
    by = text(body(), "by", "api", 100) or "api"
    silence = service.unsilence(silence_id, by=by, actor_ip=actor_ip())
    return json_response(200, {"silence": silence.to_api(), "deleted": True})


# --- Alertmanager's webhook receiver ------------------------------------------------------
@app.post("/api/alerts/alertmanager")
def alertmanager() -> Response[str]:
    # Bearer only: Alertmanager's http_config `authorization` sends `Authorization: Bearer <secret>`.
    require_secret(app.current_event.headers, settings.alertmanager_secret, None)
    try:
        alerts = alertmanager_alerts(body())
    except InvalidExternalAlert as error:
        raise ApiError(400, "invalid_request", str(error)) from None
    external = ExternalAlerts(service)
    applied = [external.apply(alert).to_api() for alert in alerts]
    return json_response(200, {"alerts": applied, "count": len(applied)})


# --- any other method: 405 with Allow -------------------------------------------------
def method_not_allowed(path: str, *allowed: str) -> None:
    @app.route(path, method=[method for method in METHODS if method not in allowed])
    def _refuse(**_: str) -> Response[str]:
        authorize()
        message = f"{app.current_event.http_method} is not allowed here; use {', '.join(allowed)}"
        return json_response(
            405, {"error": {"code": "method_not_allowed", "message": message}}, headers={"Allow": ", ".join(allowed)}
        )


for _path, _methods in (
    ("/api/alerts", ("GET",)),
    ("/api/alerts/silences", ("GET", "POST")),
    ("/api/alerts/stats", ("GET",)),
    ("/api/alerts/silences/<silence_id>", ("DELETE",)),
    ("/api/alerts/alertmanager", ("POST",)),
    ("/api/alerts/<alert_id>", ("GET",)),
    ("/api/alerts/<alert_id>/ack", ("POST",)),
    ("/api/alerts/<alert_id>/resolve", ("POST",)),
    ("/api/alerts/<alert_id>/notifications", ("GET",)),
):
    method_not_allowed(_path, *_methods)


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)

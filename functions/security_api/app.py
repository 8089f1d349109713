"""SecurityApiFunction: IP blocks. Reading behind ALERTS_API_SECRET (`X-Alerts-Secret` or `Authorization:
Bearer`); blocking and unblocking behind ALERTS_ADMIN_SECRET (`X-Alerts-Admin-Secret` or `Authorization: Bearer`).

    GET    /api/security/blocks/{ip}    the IP's block: {"block": {..., "blocked": true|false}}, 404 if never blocked
    PUT    /api/security/blocks/{ip}    {"hours": 24, "reason": "...", "by": "alice"} (all optional): block now  (admin)
    DELETE /api/security/blocks/{ip}    {"by": "alice"} (optional): end the block (its history stays)         (admin)

Every manual block and unblock is notified as security_control_change, with the caller's source IP.

IPv4 and IPv6 (percent-encoded or not) are normalised; an allowlisted address cannot be blocked (409).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from aws_lambda_powertools.event_handler import Response
from platform_monitoring.alerting.settings import AlertingSettings
from platform_monitoring.api.auth import require_admin, require_secret, source_ip
from platform_monitoring.api.bodies import json_object_body, request_body
from platform_monitoring.api.responses import ApiError, create_resolver, json_response
from platform_monitoring.core.config import load_settings
from platform_monitoring.observability.invocation import configure, instrument
from platform_monitoring.security.addresses import normalise_ip
from platform_monitoring.security.monitor import NotBlockable
from platform_monitoring.security.settings import SecurityApiSettings
from platform_monitoring.wiring.alerting import build_alerting_service
from platform_monitoring.wiring.refusals import report_failed_authentications
from platform_monitoring.wiring.security import build_security_monitor

MAX_HOURS = 24 * 365
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

settings = load_settings(SecurityApiSettings.from_env)
configure(settings.monitoring)
# Alerting: every block and unblock made here is notified (security_control_change).
monitor = build_security_monitor(
    settings.security,
    alerts=build_alerting_service(
        load_settings(lambda env: AlertingSettings.from_env(env, monitoring=settings.monitoring))
    ),
)
app = create_resolver()
report_failed_authentications(settings.security)  # a wrong secret or signature is a security event


@app.exception_handler(NotBlockable)
def _not_blockable(error: NotBlockable) -> Response[str]:
    return json_response(409, {"error": {"code": "allowlisted", "message": str(error)}})


def authorize() -> None:
    require_secret(app.current_event.headers, settings.secrets.reader, "X-Alerts-Secret", accept_bearer=True)


def authorize_admin() -> None:
    require_admin(app.current_event.headers, settings.secrets.admin)


def address(raw: str) -> str:
    try:
        return normalise_ip(urllib.parse.unquote(raw))
    except ValueError:
        raise ApiError(400, "invalid_ip", "The path must end in an IPv4 or IPv6 address") from None


def body() -> dict[str, Any]:
    event = app.current_event
    return json_object_body(request_body(event), event.headers)


def text(data: dict[str, Any], name: str, default: str, limit: int) -> str:
    value = data.get(name, default)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ApiError(400, "invalid_request", f"{name} must be a string of 1 to {limit} characters")
    return value


@app.get("/api/security/blocks/<ip>")
def get_block(ip: str) -> Response[str]:
    authorize()
    normalised = address(ip)
    block = monitor.lookup(normalised)
    if block is None:
        raise ApiError(404, "not_found", f"{normalised} has never been blocked")
    allowlisted = normalised in monitor.allowlist
    return json_response(200, {"block": {**block.to_api(monitor.now_ms()), "allowlisted": allowlisted}})


@app.put("/api/security/blocks/<ip>")
def put_block(ip: str) -> Response[str]:
    authorize_admin()
    normalised = address(ip)
    data = body()
    hours = data.get("hours")
    if hours is not None and (
        isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= MAX_HOURS
    ):
        raise ApiError(400, "invalid_request", f"hours must be a number above 0 and at most {MAX_HOURS}")
    by = text(data, "by", "api", 100)
    block = monitor.block(
        normalised,
        reason=text(data, "reason", "manual block", 300),
        decided_by=f"api:{by}",
        duration_seconds=max(1, int(hours * 3600)) if hours is not None else None,
        actor_ip=source_ip(app.current_event.raw_event) or "unknown",
    )
    assert block is not None  # forced blocks always land (or raise)
    return json_response(200, {"block": block.to_api(monitor.now_ms())})


@app.delete("/api/security/blocks/<ip>")
def delete_block(ip: str) -> Response[str]:
    authorize_admin()
    normalised = address(ip)
    by = text(body(), "by", "api", 100)
    block = monitor.unblock(normalised, by=f"api:{by}", actor_ip=source_ip(app.current_event.raw_event))
    if block is None:
        raise ApiError(404, "not_found", f"{normalised} has never been blocked")
    return json_response(200, {"block": block.to_api(monitor.now_ms())})


@app.route("/api/security/blocks/<ip>", method=[m for m in METHODS if m not in ("GET", "PUT", "DELETE")])
def _refuse(ip: str) -> Response[str]:
    authorize()
    message = f"{app.current_event.http_method} is not allowed here; use GET, PUT, DELETE"
    return json_response(
        405, {"error": {"code": "method_not_allowed", "message": message}}, headers={"Allow": "GET, PUT, DELETE"}
    )


@instrument
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)

"""IpGuardFunction: the API's Lambda REQUEST authorizer, denying blocked source IPs (403).

The address is API Gateway's own `requestContext.identity.sourceIp` (the identity source, so
also the cache key), never X-Forwarded-For. The policy covers the whole API (`<api>/<stage>/*`):
API Gateway caches it per source IP for every route. When the block store cannot be read (an
error, or no answer within IP_GUARD_AWS_TIMEOUT_SECONDS) the request is allowed, logged and counted
(fail open, docs/security.md#the-authorizers-budget: a DynamoDB blip must not take the API down, and
the WAF web ACL in front still blocks): the CloudWatch metric IpGuardFailOpen, IpGuardFailOpenAlarm.
Its one DynamoDB attempt (at most 2 s) fits the function's 3 s with room (tests/unit/core/test_call_budgets.py).
"""

from __future__ import annotations

from typing import Any

from platform_monitoring.core.config import load_settings
from platform_monitoring.core.masking import mask_text
from platform_monitoring.core.settings import MonitoringSettings
from platform_monitoring.observability.invocation import configure
from platform_monitoring.observability.logging import monitoring_log, security_log
from platform_monitoring.observability.metrics import count_fail_open
from platform_monitoring.security.addresses import normalise_ip
from platform_monitoring.security.settings import IpGuardSettings
from platform_monitoring.wiring.security import build_security_monitor

# One attempt: a retry could not fit the budget, and the answer to a failure is the same fail open.
ATTEMPTS = 1

configure(load_settings(MonitoringSettings.from_env))
settings = load_settings(IpGuardSettings.from_env)
monitor = build_security_monitor(settings.security, aws_timeout=settings.aws_timeout, attempts=ATTEMPTS)


def api_wide(method_arn: str) -> str:
    """arn:...:<api id>/<stage>/<METHOD>/<path> -> arn:...:<api id>/<stage>/*"""
    prefix, _, path = method_arn.partition(":execute-api:")
    parts = path.split("/")
    return f"{prefix}:execute-api:{'/'.join(parts[:2])}/*" if len(parts) >= 2 else method_arn


def policy(effect: str, method_arn: str, ip: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": ip or "unknown",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": api_wide(method_arn)}],
        },
        "context": {"source_ip": ip, **context},
    }


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raw_ip = str(((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp") or "")
    method_arn = str(event.get("methodArn") or "")
    try:
        ip = normalise_ip(raw_ip)
    except ValueError:
        return policy("Allow", method_arn, raw_ip, {"ip_guard": "no_address"})
    try:
        block = monitor.lookup(ip) if ip not in monitor.allowlist else None
    except Exception as error:
        count_fail_open("IpGuardFailOpen")  # a log line (EMF): costs the request nothing
        monitoring_log.error(
            "IpGuard could not read the block store; allowing",
            extra={"error": mask_text(f"{type(error).__name__}: {error}")[:200]},
        )
        return policy("Allow", method_arn, ip, {"ip_guard": "store_unavailable"})
    now = monitor.now_ms()
    if block is not None and block.active(now):
        security_log.warning(
            f"Request from blocked IP {ip} denied",
            extra={"ip": ip, "path": event.get("path"), "blocked_until_ms": block.until_ms, "reason": block.reason},
        )
        return policy("Deny", method_arn, ip, {"ip_guard": "blocked", "blocked_until_ms": str(block.until_ms)})
    return policy("Allow", method_arn, ip, {"ip_guard": "allowed"})

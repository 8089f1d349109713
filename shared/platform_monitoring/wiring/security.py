"""The process-wide SecurityMonitor: `is_blocked()` for the platform's functions.

    from platform_monitoring.wiring.security import is_blocked
    if is_blocked(request_ip): ...

Only this layer builds AWS clients for security monitoring; the security package takes them as arguments.
"""

from __future__ import annotations

from platform_monitoring.core import clients
from platform_monitoring.core.interfaces import Alerting
from platform_monitoring.core.masking import mask_text
from platform_monitoring.observability.logging import monitoring_log
from platform_monitoring.security.addresses import STRIPE_WEBHOOK_IPS, Allowlist
from platform_monitoring.security.monitor import SecurityMonitor
from platform_monitoring.security.settings import SecuritySettings
from platform_monitoring.security.stores import DynamoBlockStore


def build_security_monitor(
    settings: SecuritySettings,
    alerts: Alerting | None = None,
    *,
    aws_timeout: float | None = None,
    attempts: int | None = None,
) -> SecurityMonitor:
    """A SecurityMonitor on the template's blocks and windows tables (IpGuard passes its own
    aws_timeout and attempts: its budget is tighter, docs/security.md#the-authorizers-budget)."""
    settings.require()
    assert settings.blocks_table and settings.windows_table
    dynamodb = clients.dynamodb_client(
        aws_timeout if aws_timeout is not None else settings.aws_timeout,
        attempts if attempts is not None else clients.AWS_ATTEMPTS["dynamodb"],
    )
    store = DynamoBlockStore(dynamodb, settings.blocks_table, settings.windows_table)
    # Stripe's webhook senders are always on the list: a blocked Stripe would stop payments monitoring.
    allowlist = Allowlist([*STRIPE_WEBHOOK_IPS, *(settings.allowlist or "").split(",")])
    return SecurityMonitor(store, rules=settings.rules, allowlist=allowlist, alerts=alerts)


_default: SecurityMonitor | None = None


def security_monitor() -> SecurityMonitor:
    """The process's SecurityMonitor from the environment (SECURITY_BLOCKS_TABLE, ...), built on first use."""
    global _default  # noqa: PLW0603 - one monitor per Lambda instance
    if _default is None:
        # Here, not at module level: IpGuard (is_blocked only) keeps alerting out of its cold start.
        from platform_monitoring.wiring.alerting import alerting_service  # noqa: PLC0415

        alerts: Alerting | None = None
        try:
            alerts = alerting_service()
        except Exception as error:  # a function without alerting still records and blocks
            monitoring_log.warning("SecurityMonitor without alerting", extra={"error": mask_text(str(error))[:200]})
        _default = build_security_monitor(SecuritySettings.from_env(), alerts=alerts)
    return _default


def is_blocked(ip: str) -> bool:
    """`security.is_blocked(request_ip)`: is this address blocked right now?"""
    return security_monitor().is_blocked(ip)

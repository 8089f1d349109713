"""Sentry error tracking and performance, started only when a DSN is configured."""

from __future__ import annotations

from platform_monitoring.core.masking import sentry_before_send
from platform_monitoring.core.settings import SentrySettings

_sentry_started = False


def init_sentry(settings: SentrySettings) -> bool:
    """Start Sentry when a DSN is configured. Without one, sentry_sdk is never imported."""
    global _sentry_started  # noqa: PLW0603 - one Sentry client per process
    if _sentry_started or not settings.dsn.configured:
        return _sentry_started
    import sentry_sdk  # noqa: PLC0415 - only paid for when Sentry is on
    from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration  # noqa: PLC0415

    sentry_sdk.init(
        dsn=settings.dsn.reveal(),
        environment=settings.environment,
        traces_sample_rate=settings.traces_sample_rate,
        profiles_sample_rate=settings.profiles_sample_rate,
        integrations=[AwsLambdaIntegration(timeout_warning=True)],
        send_default_pii=False,
        before_send=sentry_before_send,  # type: ignore[arg-type]
        before_send_transaction=sentry_before_send,  # type: ignore[arg-type]
    )
    _sentry_started = True
    return True

"""Sentry error tracking and performance (the APM), started only when a DSN is configured.

Performance: one transaction per invocation (`invocation_transaction`, opened by `instrument`;
in AWS, AwsLambdaIntegration's own transaction is used instead), sampled by
SENTRY_TRACES_SAMPLE_RATE (default 0: off). Its spans come from sentry_sdk's own integrations
where they exist: Redis (RedisIntegration), every boto3 call, so SQS, DynamoDB, SNS and SES
(Boto3Integration), HTTP through http.client, which is what the stripe library's requests
client ends in (StdlibIntegration); and from `sql_span` for MySQL, which has no pymysql
integration (observability/performance.py's timed connection opens it, with the statement's
fingerprint, never its values). Transactions are masked as events are, and HTTP query
strings and fragments are dropped from spans: a URL's parameters may carry a key.

Without a DSN, sentry_sdk is never imported and these helpers cost one flag test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from platform_monitoring.core.masking import MASK, mask, sentry_before_send
from platform_monitoring.core.settings import SentrySettings

_sentry_started = False
INVOCATION_OP = "function.aws"
SQL_OP = "db.sql.query"
# Span data keys whose values are a URL's parameters (sentry_sdk's SPANDATA.HTTP_QUERY/FRAGMENT).
_URL_PARAMETER_KEYS = ("http.query", "http.fragment")


def init_sentry(settings: SentrySettings) -> bool:
    """Start Sentry when a DSN is configured. Without one, sentry_sdk is never imported."""
    global _sentry_started  # noqa: PLW0603 - one Sentry client per process
    if _sentry_started or not settings.dsn.configured:
        return _sentry_started
    import sentry_sdk  # noqa: PLC0415 - only paid for when Sentry is on
    from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.boto3 import Boto3Integration  # noqa: PLC0415
    from sentry_sdk.integrations.redis import RedisIntegration  # noqa: PLC0415
    from sentry_sdk.integrations.stdlib import StdlibIntegration  # noqa: PLC0415

    sentry_sdk.init(
        dsn=settings.dsn.reveal(),
        environment=settings.environment,
        # 0 is off: None keeps the SDK from making (unsampled) spans at all.
        traces_sample_rate=settings.traces_sample_rate or None,
        profiles_sample_rate=settings.profiles_sample_rate,
        # The integrations this code uses, named; auto-enabling would try to import some forty
        # frameworks at cold start to find out which are installed.
        auto_enabling_integrations=False,
        integrations=[
            AwsLambdaIntegration(timeout_warning=True),
            RedisIntegration(),
            Boto3Integration(),
            StdlibIntegration(),
        ],
        send_default_pii=False,
        before_send=sentry_before_send,  # type: ignore[arg-type]
        before_send_transaction=sentry_before_send_transaction,  # type: ignore[arg-type]
    )
    _sentry_started = True
    return True


def sentry_before_send_transaction(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's before_send_transaction hook: the masking of every event, and no URL parameters."""
    for span in event.get("spans") or ():
        data = span.get("data")
        if isinstance(data, dict):
            for key in _URL_PARAMETER_KEYS:
                if data.get(key):
                    data[key] = MASK
        description = span.get("description")
        if isinstance(description, str) and span.get("op") == "http.client":
            span["description"] = description.split("?", 1)[0].split("#", 1)[0]
    masked: dict[str, Any] = mask(event)
    return masked


@contextmanager
def invocation_transaction(name: str, source: str = "component") -> Iterator[Any]:
    """The invocation's transaction (None with Sentry off). When one is open already
    (AwsLambdaIntegration opens one around the handler when run by the Lambda runtime), it is
    that one, renamed, so an invocation is one transaction named alike everywhere."""
    if not _sentry_started:
        yield None
        return
    import sentry_sdk  # noqa: PLC0415 - imported already by init_sentry

    if sentry_sdk.get_current_span() is not None:
        scope = sentry_sdk.get_current_scope()
        scope.set_transaction_name(name, source=source)
        yield scope.transaction
        return
    with sentry_sdk.isolation_scope(), sentry_sdk.start_transaction(op=INVOCATION_OP, name=name, source=source) as t:
        yield t


@contextmanager
def sql_span(describe: Callable[[], str], data: Mapping[str, Any]) -> Iterator[None]:
    """A db.sql.query span around one statement; `describe` (the statement without its values)
    is only called when Sentry is on."""
    if not _sentry_started:
        yield
        return
    import sentry_sdk  # noqa: PLC0415 - imported already by init_sentry

    if sentry_sdk.get_current_span() is None:  # no transaction: nothing to hang the span on
        yield
        return
    with sentry_sdk.start_span(op=SQL_OP, name=describe()) as span:
        for key, value in data.items():
            span.set_data(key, value)
        yield

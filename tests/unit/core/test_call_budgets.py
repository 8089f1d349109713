"""Every function's outside calls fit its Lambda timeout: derived from the settings each function reads
(with the template's environment) and the clients' timeouts and attempts (core/clients.py).

A call's budget is what it can take when its dependency hangs: each attempt's connect and read
timeouts plus botocore's backoffs (clients.aws_call_budget), connect plus read for Redis, Stripe
and Slack, connect plus write plus read for MySQL. The first call that gives up ends an API
invocation with its error, so a function fits when its longest call, plus what every invocation
pays on its way out (the metric flush to Redis, the failed-authentication report of a refused
request), leaves MARGIN_SECONDS of its timeout. A queue consumer pays that per record: its batch
is retried by SQS (visibility timeout, DLQ) when a hang outlasts the invocation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from platform_monitoring.alerting.settings import AlertDispatcherSettings, AlertingSettings
from platform_monitoring.core.clients import AWS_ATTEMPTS, aws_call_budget, socket_call_budget
from platform_monitoring.core.settings import MonitoringSettings
from platform_monitoring.health.settings import HealthSettings
from platform_monitoring.reports.settings import ReportsSettings
from platform_monitoring.scheduled.settings import ScheduledChecksSettings
from platform_monitoring.security.settings import (
    EdgeSettings,
    IpGuardSettings,
    SecurityProcessorSettings,
    SecuritySettings,
)
from platform_monitoring.webhooks.settings import (
    ReconciliationSettings,
    StripeWebhookSettings,
    WebhookProcessorSettings,
)
from platform_monitoring.wiring.events import REFUSAL_REPORT_TIMEOUT_SECONDS

from localdev.template import describe_resources, function_environment, functions, load_template
from tests.support.functions import ROOT

MARGIN_SECONDS = 0.5  # logging, the answer, a slow first byte
TEMPLATE = load_template(ROOT / "template.yaml")

Env = Mapping[str, str]


def aws(service: str, timeout: float, attempts: int | None = None) -> float:
    return aws_call_budget(timeout, AWS_ATTEMPTS[service] if attempts is None else attempts)


def flush(env: Env) -> float:
    return socket_call_budget(MonitoringSettings.from_env(env).metrics_store_timeout)


def refusal_report() -> float:
    return aws("sqs", REFUSAL_REPORT_TIMEOUT_SECONDS)


def alerting(env: Env) -> dict[str, float]:
    settings = AlertingSettings.from_env(env)
    return {
        "alert store (DynamoDB)": aws("dynamodb", settings.aws_timeout),
        "alerts topic": aws("sns", settings.aws_timeout),
    }


def security(env: Env) -> float:
    return aws("dynamodb", SecuritySettings.from_env(env).aws_timeout)


# function -> (its calls: name -> budget, what every invocation adds)
CALLS: dict[str, Callable[[Env], tuple[dict[str, float], float]]] = {
    "HealthFunction": lambda env: (
        # the checks run concurrently and the service stops waiting at the check timeout
        {"health checks": HealthSettings.from_env(env).check_timeout},
        flush(env) + refusal_report(),
    ),
    "MetricsFunction": lambda env: (
        {"metric store read": socket_call_budget(MonitoringSettings.from_env(env).metrics_store_timeout)},
        flush(env) + refusal_report(),
    ),
    "StripeWebhookFunction": lambda env: (
        {"webhooks queue": aws("sqs", StripeWebhookSettings.from_env(env).aws_timeout)},
        flush(env) + refusal_report(),
    ),
    "WebhookProcessorFunction": lambda env: (
        {"idempotency table": aws("dynamodb", WebhookProcessorSettings.from_env(env).aws_timeout), **alerting(env)},
        flush(env),
    ),
    "ScheduledChecksFunction": lambda env: (
        {
            "health checks": HealthSettings.from_env(env).check_timeout,
            "watchdog ping": socket_call_budget(ScheduledChecksSettings.from_env(env).watchdog_timeout),
            **alerting(env),
        },
        flush(env),
    ),
    "StripeReconciliationFunction": lambda env: (
        {
            "Stripe Events API": socket_call_budget(ReconciliationSettings.from_env(env).stripe_timeout),
            "checkpoint table": aws("dynamodb", ReconciliationSettings.from_env(env).processor.aws_timeout),
            **alerting(env),
        },
        flush(env),
    ),
    "AlertDispatcherFunction": lambda env: (
        {
            "Slack": socket_call_budget(AlertDispatcherSettings.from_env(env).slack_timeout),
            "SES": aws("ses", AlertDispatcherSettings.from_env(env).alerting.aws_timeout),
            "SMS (SNS)": aws("sns", AlertDispatcherSettings.from_env(env).alerting.aws_timeout),
            **alerting(env),
        },
        flush(env),
    ),
    "AlertsApiFunction": lambda env: (alerting(env), flush(env) + refusal_report()),
    "EventsFunction": lambda env: (
        {"security events queue": aws("sqs", SecuritySettings.from_env(env).aws_timeout)},
        flush(env) + refusal_report(),
    ),
    "SecurityEventsProcessorFunction": lambda env: (
        {
            "blocks and windows": security(env),
            "security_logs (MySQL)": 3 * SecurityProcessorSettings.from_env(env).db_timeout,
            **alerting(env),
        },
        flush(env),
    ),
    "SecurityApiFunction": lambda env: ({"blocks table": security(env)}, flush(env) + refusal_report()),
    # the authorizer flushes nothing: its fail-open metric is a log line (EMF)
    "IpGuardFunction": lambda env: (
        {"blocks table (one attempt)": aws("dynamodb", IpGuardSettings.from_env(env).aws_timeout, attempts=1)},
        0.0,
    ),
    # a report's queries run one after another, and the first that gives up ends the run with its error
    "ReportsFunction": lambda env: (
        {
            "security_logs (MySQL)": 3 * ReportsSettings.from_env(env).query_timeout,
            "blocks table scan": security(env),
            "Slack": socket_call_budget(AlertDispatcherSettings.from_env(env).slack_timeout),
            "SES": aws("ses", AlertingSettings.from_env(env).aws_timeout),
            **alerting(env),
        },
        flush(env),
    ),
    "WafIpSetUpdaterFunction": lambda env: (
        {"blocks table scan": security(env), "WAF IP set": aws("wafv2", EdgeSettings.from_env(env).aws_timeout)},
        flush(env),
    ),
}

SPECS = {spec.logical_id: spec for spec in functions(TEMPLATE)}


def template_environment(logical_id: str) -> dict[str, str]:
    return function_environment(TEMPLATE, logical_id, describe_resources(TEMPLATE))


def test_every_function_of_the_template_has_its_calls_listed() -> None:
    assert set(CALLS) == set(SPECS)


@pytest.mark.parametrize("logical_id", sorted(SPECS))
def test_the_longest_call_and_the_way_out_fit_the_functions_timeout(logical_id: str) -> None:
    env = template_environment(logical_id)
    calls, every_invocation = CALLS[logical_id](env)
    longest = max(calls, key=lambda name: calls[name])
    worst = calls[longest] + every_invocation
    assert worst <= SPECS[logical_id].timeout - MARGIN_SECONDS, (
        f"{logical_id}: {longest} can take {calls[longest]:.2f} s, plus {every_invocation:.2f} s on the way out, "
        f"against a {SPECS[logical_id].timeout} s timeout"
    )


def test_the_authorizer_answers_a_second_inside_its_timeout_when_dynamodb_hangs() -> None:
    env = template_environment("IpGuardFunction")
    calls, _ = CALLS["IpGuardFunction"](env)
    assert sum(calls.values()) <= SPECS["IpGuardFunction"].timeout - 1.0


def test_a_budget_counts_every_attempts_connect_and_read_and_the_backoffs_between() -> None:
    assert aws_call_budget(2.0, 1) == 4.0
    assert aws_call_budget(2.0, 2) == 2 * 4.0 + 1.0  # botocore waits up to 1 s before the first retry
    assert aws_call_budget(1.0, 3) == 3 * 2.0 + 1.0 + 2.0

"""The rules are data (alert_rules.json): the guide's five, and overrides per environment."""

from __future__ import annotations

import pytest
from platform_monitoring.alerting.rules import RuleSet, UnknownAlertType, describe_seconds
from platform_monitoring.core.config import ConfigurationError

GUIDE = {
    # type: (threshold, window seconds, severity, channels)
    "payment_failure": (3, 300, "critical", ("email", "slack", "sms")),
    "security_breach_attempt": (5, 60, "critical", ("email", "slack", "sms")),
    "stripe_webhook_failure": (5, 300, "high", ("email", "slack")),
    "high_error_rate": (0.05, 300, "high", ("email", "slack")),
    "database_connection_failure": (3, 60, "critical", ("email", "slack", "sms")),
}


@pytest.mark.parametrize("alert_type", GUIDE)
def test_the_guides_five_rules(alert_type: str) -> None:
    rule = RuleSet.load()[alert_type]
    threshold, window, severity, channels = GUIDE[alert_type]
    assert (rule.threshold, rule.window_seconds, rule.severity, rule.channels) == (
        threshold,
        window,
        severity,
        channels,
    )
    assert rule.throttle_seconds > 0
    assert rule.kind == ("condition" if alert_type == "high_error_rate" else "count")


def test_high_error_rate_has_a_minimum_request_count() -> None:
    assert RuleSet.load()["high_error_rate"].min_requests == 50


def test_overrides_change_thresholds_windows_and_channels() -> None:
    rules = RuleSet.load(
        "payment_failure.threshold=5, payment_failure.channels=email+slack,"
        "high_error_rate.threshold=10%,high_error_rate.min_requests=200,queue_backlog.resolved_channels=none"
    )
    assert rules["payment_failure"].threshold == 5
    assert rules["payment_failure"].channels == ("email", "slack")
    assert rules["high_error_rate"].threshold == pytest.approx(0.10)
    assert rules["high_error_rate"].min_requests == 200
    assert rules["queue_backlog"].resolved_channels == ()
    assert RuleSet.load()["payment_failure"].threshold == 3  # the file is untouched


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ("payment_failure.threshold", "is not <type>.<field>=<value>"),
        ("nothing.threshold=3", "no rule 'nothing'"),
        ("payment_failure.colour=red", "cannot be overridden"),
        ("payment_failure.threshold=many", "payment_failure.threshold=many"),
        ("payment_failure.channels=email+pager", "unknown channel"),
        ("payment_failure.threshold=0", "threshold must be above 0"),
        ("payment_failure.severity=apocalyptic", "severity must be one of"),
    ],
)
def test_bad_overrides_name_the_variable_and_the_pair(overrides: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        RuleSet.load(overrides)
    assert "ALERT_RULE_OVERRIDES" in str(raised.value)
    assert complaint in str(raised.value)


def test_an_unknown_type_is_a_clear_error() -> None:
    with pytest.raises(UnknownAlertType, match="no alerting rule 'payment_failures'; the rules are payment_failure"):
        RuleSet.load()["payment_failures"]


@pytest.mark.parametrize(
    ("seconds", "text"), [(60, "minute"), (300, "5 minutes"), (3600, "hour"), (90, "90 seconds"), (7200, "2 hours")]
)
def test_windows_read_as_words(seconds: int, text: str) -> None:
    assert describe_seconds(seconds) == text

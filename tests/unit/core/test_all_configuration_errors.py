"""Every bad or missing value of a function's settings is reported at once, each naming its variable."""

from __future__ import annotations

import pytest
from platform_monitoring.alerting.rules import RuleSet
from platform_monitoring.alerting.settings import AlertDispatcherSettings, AlertingSettings
from platform_monitoring.core.config import ConfigurationError, EnvReader, load_settings
from platform_monitoring.health.settings import HealthSettings
from platform_monitoring.security.settings import SecuritySettings

SECRET = "sk_live_must_never_be_echoed"


def test_two_bad_variables_are_both_named_in_one_error() -> None:
    environ = {"HEALTH_CHECK_TIMEOUT_SECONDS": "soon", "LOG_LEVEL_SECURITY": "loud"}

    with pytest.raises(ConfigurationError) as raised:
        load_settings(HealthSettings.from_env, environ)

    message = str(raised.value)
    assert "HEALTH_CHECK_TIMEOUT_SECONDS" in message
    assert "LOG_LEVEL_SECURITY" in message
    assert len(raised.value.errors) == 2
    assert message.startswith("2 settings are wrong: ")


def test_checks_of_the_settings_classes_themselves_are_collected_too() -> None:
    environ = {
        "STRIPE_SECRET_KEY": SECRET.replace("sk_", "pk_"),
        "ALERT_EMAIL_FROM": "not-an-address",
        "ALERT_SMS_RECIPIENTS": "12345",
        "REDIS_URL": "http://user:hunter2@redis.internal",
    }

    with pytest.raises(ConfigurationError) as raised:
        load_settings(AlertDispatcherSettings.from_env, environ)

    named = " ".join(raised.value.errors)
    for variable in ("ALERT_EMAIL_FROM", "ALERT_SMS_RECIPIENTS", "REDIS_URL"):
        assert variable in named
    assert "hunter2" not in str(raised.value)
    assert "pk_live" not in str(raised.value)


def test_the_allowlist_and_a_threshold_are_both_named() -> None:
    environ = {"SECURITY_ALLOWLIST": "10.0.0.0/33", "SECURITY_BLOCK_SECONDS": "5"}

    with pytest.raises(ConfigurationError) as raised:
        load_settings(SecuritySettings.from_env, environ)

    assert [error.split()[0] for error in raised.value.errors] == ["SECURITY_ALLOWLIST", "SECURITY_BLOCK_SECONDS"]


def test_good_settings_load_as_from_env_does() -> None:
    environ = {"HEALTH_CHECK_TIMEOUT_SECONDS": "2"}

    assert load_settings(HealthSettings.from_env, environ) == HealthSettings.from_env(environ)


def test_a_reader_that_does_not_collect_still_raises_at_the_first() -> None:
    with pytest.raises(ConfigurationError) as raised:
        HealthSettings.from_env({"HEALTH_CHECK_TIMEOUT_SECONDS": "soon", "LOG_LEVEL_SECURITY": "loud"})

    assert len(raised.value.errors) == 1


def test_a_collecting_reader_goes_on_with_the_default() -> None:
    reader = EnvReader({"X": "many"}, collect=True)

    assert reader.integer("X", 7) == 7
    assert reader.errors == ["X must be an integer, got 'many'"]


def test_alerting_require_names_every_missing_table_at_once() -> None:
    settings = AlertingSettings.from_env({"ALERTS_TABLE": "alerts", "ALERTS_TOPIC_ARN": ""})

    with pytest.raises(ConfigurationError) as raised:
        settings.require()

    named = [error.split()[0] for error in raised.value.errors]
    assert named == ["ALERT_WINDOWS_TABLE", "ALERT_SILENCES_TABLE", "ALERTS_TOPIC_ARN"]
    assert str(raised.value).startswith("3 settings are wrong: ")


def test_security_require_names_both_tables_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as raised:
        SecuritySettings.from_env({}).require()

    assert "SECURITY_BLOCKS_TABLE" in str(raised.value)
    assert "SECURITY_WINDOWS_TABLE" in str(raised.value)


def test_the_dispatcher_names_its_own_table_beside_alertings() -> None:
    settings = AlertDispatcherSettings.from_env({"ALERTS_TABLE": "a", "ALERT_WINDOWS_TABLE": "w"})

    with pytest.raises(ConfigurationError) as raised:
        settings.require()

    assert [error.split()[0] for error in raised.value.errors] == [
        "ALERT_DELIVERIES_TABLE",
        "ALERT_SILENCES_TABLE",
        "ALERTS_TOPIC_ARN",
    ]


def test_every_wrong_rule_override_is_named() -> None:
    with pytest.raises(ConfigurationError) as raised:
        RuleSet.load("payment_failure.threshold=-1,no_such_rule.severity=high,high_error_rate.window_seconds=soon")

    joined = " | ".join(raised.value.errors)
    assert len(raised.value.errors) == 3
    assert "'payment_failure.threshold=-1'" in joined
    assert "no rule 'no_such_rule'" in joined
    assert "'high_error_rate.window_seconds=soon'" in joined

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from platform_monitoring.core.config import ConfigurationError, EnvReader, Secret
from platform_monitoring.core.settings import MonitoringSettings
from platform_monitoring.health.settings import HealthSettings

BASE = {
    "HEALTH_CHECK_SECRET": "health-secret-value",
    "STRIPE_SECRET_KEY": "sk_test_abcdef123456",
    "ALERT_EMAIL_RECIPIENTS": "admin@example.com, ops@example.com",
    "ALERT_SMS_RECIPIENTS": "+15555550100",
}


def test_reads_the_guides_configuration_typed() -> None:
    env = {
        **BASE,
        "MONITORING_ENABLED": "false",
        "SENTRY_LARAVEL_DSN": "https://public@o1.ingest.sentry.io/1",
        "SENTRY_ENVIRONMENT": "staging",
        "SENTRY_TRACES_SAMPLE_RATE": "0.25",
        "SENTRY_PROFILES_SAMPLE_RATE": "0",
        "ALERT_SLACK_WEBHOOK": "https://hooks.slack.com/services/T0/B0/xyz",
        "LOG_LEVEL_SECURITY": "ERROR",
    }
    settings = MonitoringSettings.from_env(env)
    assert settings.enabled is False
    assert settings.sentry.environment == "staging"
    assert settings.sentry.traces_sample_rate == 0.25
    assert settings.sentry.profiles_sample_rate == 0.0
    assert settings.sentry.dsn.reveal() == "https://public@o1.ingest.sentry.io/1"
    assert settings.alert_recipients.emails == ("admin@example.com", "ops@example.com")
    assert settings.alert_recipients.sms_numbers == ("+15555550100",)
    assert settings.log_levels["security"] == "error"
    assert settings.log_levels["monitoring"] == "debug"  # the guide's default
    assert settings.log_levels["webhooks"] == "info"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MONITORING_ENABLED", "maybe"),
        ("SENTRY_TRACES_SAMPLE_RATE", "1.5"),
        ("SENTRY_PROFILES_SAMPLE_RATE", "often"),
        ("SENTRY_TRACES_SAMPLE_RATE", "nan"),
        ("ALERT_EMAIL_RECIPIENTS", "admin@example.com,not-an-address"),
        ("ALERT_SMS_RECIPIENTS", "0123456"),
        ("ALERT_SLACK_WEBHOOK", "http://hooks.slack.com/services/x"),
        ("LOG_LEVEL_PORTAL", "verbose"),
        ("DB_PORT", "70000"),
        ("HEALTH_CHECK_TIMEOUT_SECONDS", "-1"),
        ("HEALTH_QUEUE_WARNING_SIZE", "many"),
        ("STRIPE_API_BASE", "ftp://stripe.local"),
        ("REDIS_URL", "localhost:6379"),
    ],
)
def test_a_bad_value_stops_cold_start_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        HealthSettings.from_env({**BASE, variable: value})
    assert variable in str(raised.value)


def test_a_malformed_secret_is_reported_without_its_value() -> None:
    with pytest.raises(ConfigurationError) as raised:
        HealthSettings.from_env({**BASE, "STRIPE_SECRET_KEY": "pk_live_publishable_oops_123"})
    assert "STRIPE_SECRET_KEY" in str(raised.value)
    assert "pk_live_publishable_oops_123" not in str(raised.value)


def test_secrets_never_show_in_repr() -> None:
    settings = HealthSettings.from_env(BASE)
    text = repr(settings)
    assert "health-secret-value" not in text
    assert "sk_test_abcdef123456" not in text
    assert "Secret(HEALTH_CHECK_SECRET, source=env)" in text


def test_unset_secret_is_unconfigured() -> None:
    settings = HealthSettings.from_env({"STRIPE_SECRET_KEY": "sk_test_x1"})
    assert settings.secret.configured is False
    assert settings.secret.reveal() is None


def test_sentry_dsn_alias() -> None:
    settings = MonitoringSettings.from_env({"SENTRY_DSN": "https://k@sentry.example/2"})
    assert settings.sentry.dsn.variable == "SENTRY_DSN"
    assert settings.sentry.dsn.configured


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def test_secret_from_ssm_parameter_store_is_decrypted_and_cached(aws: None) -> None:
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/askproai-monitoring/health", Value="from-ssm", Type="SecureString")
    secret = EnvReader({"HEALTH_CHECK_SECRET": "ssm:/askproai-monitoring/health"}).secret("HEALTH_CHECK_SECRET")
    assert secret.source == "ssm"
    assert secret.reveal() == "from-ssm"
    # Cached: a rotated value is only seen after max_age.
    ssm.put_parameter(Name="/askproai-monitoring/health", Value="rotated", Type="SecureString", Overwrite=True)
    assert secret.reveal() == "from-ssm"
    parameters.clear_caches()
    assert secret.reveal() == "rotated"


def test_secret_from_secrets_manager(aws: None) -> None:
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
    boto3.client("secretsmanager").create_secret(Name="askproai-monitoring/stripe", SecretString="sk_live_zzz999")
    secret = EnvReader({"STRIPE_SECRET_KEY": "secretsmanager:askproai-monitoring/stripe"}).secret("STRIPE_SECRET_KEY")
    assert secret.reveal() == "sk_live_zzz999"


def test_empty_reference_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="METRICS_SECRET"):
        EnvReader({"METRICS_SECRET": "ssm:"}).secret("METRICS_SECRET")


def test_secret_value_object_is_frozen() -> None:
    secret = Secret("X", "env", "value")
    with pytest.raises(AttributeError):
        secret.reference = "other"  # type: ignore[misc]

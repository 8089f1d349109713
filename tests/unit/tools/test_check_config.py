"""`make check-config`: every function's settings from template.yaml, checked with every error named."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.support.functions import ROOT

spec = importlib.util.spec_from_file_location("check_config", ROOT / "scripts" / "check_config.py")
assert spec and spec.loader
check_config = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_config)


@pytest.mark.parametrize("config_env", ["default", "staging", "prod"])
def test_the_samconfig_environments_are_valid(config_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    functions = len(list((ROOT / "functions").glob("*/app.py")))  # every function of the bundle
    assert check_config.main(["--config-env", config_env]) == 0
    assert f"{functions} of {functions} functions' settings are valid" in capsys.readouterr().out


def test_two_bad_variables_are_both_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("HEALTH_CHECK_TIMEOUT_SECONDS=soon\nSTRIPE_SECRET_KEY=pk_live_never_echoed\n")

    assert check_config.main(["--env-file", str(env_file)]) == 1

    out = capsys.readouterr().out
    health = out.split("FAIL HealthFunction:")[1].split("FAIL ")[0]
    assert "HEALTH_CHECK_TIMEOUT_SECONDS must be a number" in health
    assert "STRIPE_SECRET_KEY must be a Stripe secret or restricted key" in health
    assert "pk_live_never_echoed" not in out


def test_the_tables_a_builder_requires_are_named_with_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "ALERTS_TABLE=\nALERT_SILENCES_TABLE=\nSECURITY_WINDOWS_TABLE=\nHEALTH_QUEUE_WARNING_SIZE=many\n"
    )

    assert check_config.main(["--env-file", str(env_file)]) == 1

    out = capsys.readouterr().out
    scheduled = out.split("FAIL ScheduledChecksFunction:")[1].split("FAIL ")[0]
    assert "ALERTS_TABLE is required for alerting" in scheduled
    assert "ALERT_SILENCES_TABLE is required for alerting" in scheduled
    assert "HEALTH_QUEUE_WARNING_SIZE must be an integer" in scheduled  # a bad value beside them
    guard = out.split("FAIL IpGuardFunction:")[1].split("FAIL ")[0]
    assert "SECURITY_WINDOWS_TABLE is required for security monitoring" in guard
    assert "PASS MetricsFunction" in out

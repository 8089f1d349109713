"""`monitoring-test` resolves endpoint secrets given as references, against moto server's SSM and
Secrets Manager, and sends the value, never the reference."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.functions import ROOT
from tests.support.local_stack import AwsEmulator
from tests.support.recording_server import RecordingServer, recording_server

pytestmark = pytest.mark.integration

CLI = ROOT / ".venv" / "bin" / "monitoring-test"
SECRET = "resolved-health-secret"
HEALTHY = {"status": "ok", "checks": [{"name": "redis", "status": "ok", "duration": 0.5, "message": "ok"}]}


def api_answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    if headers.get("x-health-check-secret") != SECRET:
        return 401, {"error": {"code": "unauthorized"}}
    return 200, HEALTHY


@pytest.fixture
def api() -> Iterator[RecordingServer]:
    with recording_server(api_answer) as server:
        yield server


@pytest.fixture(scope="module")
def references(aws: AwsEmulator) -> dict[str, str]:
    aws.client("ssm").put_parameter(Name="/askproai/cli-test/health", Value=SECRET, Type="SecureString", Overwrite=True)
    aws.client("secretsmanager").create_secret(Name="askproai/cli-test/health", SecretString=SECRET)
    return {"ssm": "ssm:/askproai/cli-test/health", "secretsmanager": "secretsmanager:askproai/cli-test/health"}


def run(aws: AwsEmulator, api: RecordingServer, tmp_path: Path, secret: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **aws.env(), "HEALTH_CHECK_SECRET": secret}
    return subprocess.run(
        [CLI, "--health", "--url", api.url], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("source", ["ssm", "secretsmanager"])
def test_a_secret_reference_is_resolved_and_its_value_sent(
    aws: AwsEmulator, api: RecordingServer, tmp_path: Path, references: dict[str, str], source: str
) -> None:
    result = run(aws, api, tmp_path, references[source])

    assert result.returncode == 0, result.stdout + result.stderr
    sent = [headers.get("x-health-check-secret") for _, _, headers in api.requests]
    assert SECRET in sent
    assert references[source] not in sent


def test_an_unreadable_reference_fails_naming_the_variable_and_sends_nothing(
    aws: AwsEmulator, api: RecordingServer, tmp_path: Path
) -> None:
    result = run(aws, api, tmp_path, "ssm:/askproai/cli-test/missing")

    assert result.returncode == 1
    assert "FAIL HEALTH_CHECK_SECRET (ssm reference) could not be read" in result.stdout
    assert "/askproai/cli-test/missing" not in result.stdout
    assert api.requests == []

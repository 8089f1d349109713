"""`monitoring-test --url <deployed>`: no local setting reaches a deployed stack's run.

The CLI runs as an operator runs it (a subprocess, in a directory whose .env is the local stack's):
every local endpoint of that .env, and AWS_ENDPOINT_URL in the shell, point at a trap port that
records connections; the "deployed API" is reached through an HTTP proxy on loopback, so the URL
stays non-loopback (http://example.invalid) while the test still sees each request's headers.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.functions import ROOT
from tests.support.recording_server import RecordingServer, recording_server

CLI = ROOT / ".venv" / "bin" / "monitoring-test"
LOCAL_SECRET = "local-health-secret-from-dotenv"
DEPLOYED_SECRET = "deployed-health-secret"
HEALTHY = {"status": "ok", "checks": [{"name": "database", "status": "ok", "duration": 1.5, "message": "ok"}]}


@pytest.fixture
def trap() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


def deployed_api(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    if headers.get("x-health-check-secret") != DEPLOYED_SECRET:
        return 401, {"error": {"code": "unauthorized"}}
    return 200, HEALTHY


@pytest.fixture
def api() -> Iterator[RecordingServer]:
    with recording_server(deployed_api) as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path, trap: RecordingServer) -> Path:
    """A checkout's .env: the local stack's endpoints and test credentials, all at the trap."""
    (tmp_path / ".env").write_text(
        f"AWS_ENDPOINT_URL={trap.url}\n"
        "AWS_ACCESS_KEY_ID=testing\nAWS_SECRET_ACCESS_KEY=testing\n"
        f"HEALTH_CHECK_SECRET={LOCAL_SECRET}\nMETRICS_SECRET=local-metrics\n"
        f"REDIS_URL=redis://127.0.0.1:{trap.port}/0\nDB_HOST=127.0.0.1\nDB_PORT={trap.port}\n"
        f"STRIPE_API_BASE={trap.url}\n"
    )
    return tmp_path


def run(workdir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": os.environ["PATH"], "HOME": str(workdir), **env}
    return subprocess.run([CLI, *args], cwd=workdir, env=environment, capture_output=True, text=True, timeout=60)


def test_an_unreachable_deployed_url_never_touches_the_local_endpoints(workdir: Path, trap: RecordingServer) -> None:
    result = run(workdir, "--url", "https://example.invalid", "--health", AWS_ENDPOINT_URL=trap.url)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot reach https://example.invalid/api/health" in result.stdout
    assert "ignored AWS_ENDPOINT_URL" in result.stdout
    assert ".env" not in result.stdout  # no file was read
    assert trap.connections == []


def test_the_local_dotenv_secret_is_never_sent_to_a_deployed_stack(
    workdir: Path, trap: RecordingServer, api: RecordingServer
) -> None:
    result = run(workdir, "--url", "http://example.invalid", "--health", http_proxy=api.url)

    assert result.returncode == 1  # the deployed stack refuses: no secret was configured for it
    sent = [headers.get("x-health-check-secret") for _, _, headers in api.requests]
    assert sent and LOCAL_SECRET not in sent
    assert trap.connections == []


def test_the_shells_secret_passes_against_a_deployed_stack(workdir: Path, api: RecordingServer) -> None:
    result = run(
        workdir, "--url", "http://example.invalid", "--health", http_proxy=api.url, HEALTH_CHECK_SECRET=DEPLOYED_SECRET
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "health: passed" in result.stdout
    assert [path for _, path, _ in api.requests] == ["http://example.invalid/api/health"] * 2


def test_an_env_file_for_a_deployed_stack_is_read_without_its_aws_keys(
    workdir: Path, trap: RecordingServer, api: RecordingServer
) -> None:
    stage = workdir / "prod.env"
    stage.write_text(f'export HEALTH_CHECK_SECRET="{DEPLOYED_SECRET}"  # the prod value\nAWS_ENDPOINT_URL={trap.url}\n')

    result = run(workdir, "--url", "http://example.invalid", "--health", "--env-file", str(stage), http_proxy=api.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "ignored there (a deployed stack uses your AWS credentials): AWS_ENDPOINT_URL" in result.stdout
    assert trap.connections == []


def test_json_gives_each_component_and_check(workdir: Path, api: RecordingServer) -> None:
    result = run(
        workdir,
        *("--url", "http://example.invalid", "--health", "--json"),
        http_proxy=api.url,
        HEALTH_CHECK_SECRET=DEPLOYED_SECRET,
    )

    document = json.loads(result.stdout)  # nothing but the document on stdout
    assert document["deployed"] is True and document["passed"] is True
    assert document["url"] == "http://example.invalid"
    [health] = document["components"]
    assert health["name"] == "health" and health["passed"] is True
    assert {"status": "PASS", "text": "a request without the secret is refused (401)"} in health["checks"]
    assert all(check["status"] in {"PASS", "FAIL", "WARN", "SKIP", "NOTE", "INFO"} for check in health["checks"])


def test_json_reports_a_failure_with_exit_1(workdir: Path) -> None:
    result = run(workdir, "--url", "https://example.invalid", "--health", "--json")

    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["passed"] is False
    assert document["components"][0]["checks"][0]["status"] == "FAIL"


@pytest.mark.parametrize(
    "args",
    [
        ("--url", "https://example.invalid"),  # no component chosen
        ("--url", "https://example.invalid", "--health", "--in-process"),  # no settings for the deployed stack
    ],
)
def test_wrong_arguments_exit_2(workdir: Path, trap: RecordingServer, args: tuple[str, ...]) -> None:
    result = run(workdir, *args)

    assert result.returncode == 2
    assert "monitoring-test: error:" in result.stderr
    assert trap.connections == []


def test_help_lists_the_exit_codes(workdir: Path) -> None:
    result = run(workdir, "--help")

    assert result.returncode == 0
    assert "exit codes:" in result.stdout
    for code in ("0  every component tested passed", "1  a component failed", "2  wrong arguments"):
        assert code in result.stdout

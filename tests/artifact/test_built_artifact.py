"""The template as SAM sees it, and the `sam build` artifact run as Lambda runs it: the real
runtime interface client (awslambdaric) in a Python that has only what the Lambda base
image has (.venv-runtime: awslambdaric and boto3), the function's code and its layer."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev.stack import LocalStack
from tests.support.functions import ROOT, load_event
from tests.support.local_stack import local_stack

SAM = ROOT / ".venv" / "bin" / "sam"
RUNTIME_PYTHON = ROOT / ".venv-runtime" / "bin" / "python"
SAM_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0"}


# `make test` and `make artifact` run `sam validate --lint` and `sam build` (their build target) just
# before pytest and say where the build went: the tests use that build instead of building again.
MAKE_BUILD_DIR = os.environ.get("ARTIFACT_BUILD_DIR")


@pytest.mark.skipif(MAKE_BUILD_DIR is not None, reason="make's build target ran sam validate --lint in this run")
def test_template_passes_sam_validate_lint() -> None:
    result = subprocess.run(
        [SAM, "validate", "--lint"], cwd=ROOT, env=SAM_ENV, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if MAKE_BUILD_DIR is not None:
        made = Path(MAKE_BUILD_DIR)
        assert (made / "template.yaml").is_file(), f"ARTIFACT_BUILD_DIR={made} holds no sam build"
        return made
    target = tmp_path_factory.mktemp("sam-build")
    result = subprocess.run(
        [SAM, "build", "--build-dir", str(target), "--cached", "--parallel"],
        cwd=ROOT,
        env=SAM_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return target


def test_the_runtime_python_alone_cannot_import_the_library() -> None:
    # What follows proves the layer's imports only if the runtime does not supply them itself.
    for module in ("platform_monitoring", "aws_lambda_powertools", "stripe", "pymysql", "redis"):
        probe = subprocess.run([RUNTIME_PYTHON, "-c", f"import {module}"], capture_output=True, timeout=60)
        assert probe.returncode != 0, f"{module} is importable without the layer"


def test_layer_holds_the_library_and_its_dependencies(build_dir: Path) -> None:
    layer = build_dir / "SharedLayer" / "python"
    for package in ("platform_monitoring", "aws_lambda_powertools", "stripe", "pymysql", "redis", "sentry_sdk"):
        assert (layer / package).is_dir(), f"{package} missing from the layer"
    assert sorted(p.name for p in (build_dir / "HealthFunction").iterdir() if p.suffix == ".py") == ["app.py"]


@pytest.fixture(scope="module")
def artifact_stack(build_dir: Path, mysql_port: int) -> Iterator[LocalStack]:
    environ = {**os.environ, "HEALTH_CHECK_SECRET": "artifact-secret", "DB_DATABASE": "test"}
    with local_stack(code="artifact", build_dir=build_dir, environ=environ, schedules=False) as stack:
        yield stack


def test_built_health_function_answers_over_http(artifact_stack: LocalStack) -> None:
    request = urllib.request.Request(
        f"{artifact_stack.api_url}/api/health", headers={"X-Health-Check-Secret": "artifact-secret"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
        assert response.status == 200
    assert body["status"] == "healthy", body
    assert [check["name"] for check in body["checks"]] == [
        "database",
        "redis",
        "stripe_api",
        "queues",
        "disk",
        "memory",
    ]


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("/api/health", ["database", "redis", "stripe_api", "queues", "disk", "memory"]),
        ("/api/health/ready", ["database", "redis", "stripe_api", "queues"]),
        ("/api/health/live", ["uptime"]),
    ],
)
def test_built_health_function_serves_the_drafts_format_on_each_route(
    artifact_stack: LocalStack, path: str, keys: list[str]
) -> None:
    request = urllib.request.Request(
        f"{artifact_stack.api_url}{path}",
        headers={"X-Health-Check-Secret": "artifact-secret", "Accept": "application/health+json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/health+json"
    assert body["status"] == "pass", body
    assert [key.split(":")[0] for key in body["checks"]] == keys
    for entries in body["checks"].values():
        for entry in entries:
            assert entry["status"] == "pass" and entry["time"].endswith("Z"), entry


@pytest.mark.parametrize("name", ["health_live.json", "health_ready.json"])
def test_built_health_function_answers_the_new_sample_events(artifact_stack: LocalStack, name: str) -> None:
    event = load_event(name)
    event["headers"]["X-Health-Check-Secret"] = "artifact-secret"
    result = artifact_stack.invoke("HealthFunction", event)
    assert result.ok, result.error
    assert result.payload["statusCode"] == 200
    assert json.loads(result.payload["body"])["status"] == "pass"


def test_built_health_function_answers_the_sample_event(artifact_stack: LocalStack) -> None:
    event = load_event("health.json")
    event["headers"]["X-Health-Check-Secret"] = "artifact-secret"
    result = artifact_stack.invoke("HealthFunction", event)
    assert result.ok, result.error
    assert result.payload["statusCode"] == 200
    assert json.loads(result.payload["body"])["status"] == "healthy"


def test_built_webhook_functions_verify_queue_and_process(artifact_stack: LocalStack) -> None:
    from localdev.stripe_sign import resign

    # the layer's stripe verifies the signature (whsec_local, .env.example's), SQS takes the event
    event = resign(load_event("stripe_webhook_payment_failed.json"), "whsec_local", new_id=True)
    result = artifact_stack.invoke("StripeWebhookFunction", event)
    assert result.ok, result.error
    assert (result.payload["statusCode"], json.loads(result.payload["body"])) == (200, {"received": True})
    # the layer's Powertools batch and idempotency utilities against the stack's DynamoDB table
    batch = load_event("webhook_processor_batch.json")
    result = artifact_stack.invoke("WebhookProcessorFunction", batch)
    assert result.ok, result.error
    poison = [record["messageId"] for record in batch["Records"] if not record["body"].startswith("{\n")]
    assert result.payload == {"batchItemFailures": [{"itemIdentifier": poison[0]}]}

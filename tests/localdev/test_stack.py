"""The whole local stack on free ports: API -> function, SQS -> DLQ, SNS, schedules, sent messages, CLI."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localdev.net import PortInUseError, free_port
from localdev.stack import PROJECT_ROOT, LocalStack, code_paths
from localdev.template import aws_client, function, load_template
from tests.localdev.conftest import write_sample_project
from tests.support.local_stack import drain_queue, local_stack, queue_depth
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

RUNTIME_PYTHON = PROJECT_ROOT / ".venv-runtime" / "bin" / "python"


class Lines(list[str]):
    def text(self) -> str:
        return "\n".join(self)


@pytest.fixture(scope="module")
def stack_log() -> Lines:
    return Lines()


@pytest.fixture(scope="module")
def stack(sample_template: Path, stack_log: Lines) -> Iterator[LocalStack]:
    # environ= stands in for the shell, so this test run's own environment stays out of the functions.
    with local_stack(
        template_path=sample_template, environ={"SHARED": "from-shell"}, tap_interval=0.2, log=stack_log.append
    ) as running:
        yield running


def call(
    stack: LocalStack, method: str, path: str, body: bytes | None = None, source: str | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(
        "127.0.0.1", stack.api_port, timeout=30, source_address=(source, 0) if source else None
    )
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def test_api_request_reaches_the_function_with_the_stack_environment(stack: LocalStack) -> None:
    status, body = call(stack, "GET", "/items/42?verbose=1", source="127.0.0.9")
    assert status == 201
    answer = json.loads(body)
    event = answer["event"]
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.9"
    assert event["pathParameters"] == {"id": "42"}
    assert event["requestContext"]["stage"] == "dev"
    assert answer["greeting"] == "hello from the layer"
    assert answer["queue"] == stack.resources["Work"]["QueueUrl"]
    assert answer["queue"].startswith(stack.moto_url)
    env = stack.invoke("Fn", {"action": "env"}).payload
    assert env["SECRET"] == "from-dotenv"  # .env.example (no .env) beats the template default
    assert env["SHARED"] == "from-shell"  # the shell beats the template
    assert env["EXTRA"] == "only-in-dotenv"
    assert env["AWS_ENDPOINT_URL"] == stack.moto_url
    assert env["STRIPE_API_BASE"] == stack.stripe_url
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "384"


def test_function_error_and_timeout_are_502(stack: LocalStack, stack_log: Lines) -> None:
    status, body = call(stack, "GET", "/fail")
    assert status == 502
    assert json.loads(body) == {"error": {"code": "INTEGRATION_FAILURE", "message": "Internal server error"}}
    started = time.monotonic()
    status, _ = call(stack, "GET", "/slow")  # the function's Timeout is 2 s
    assert status == 502
    assert time.monotonic() - started < 6
    assert "Sandbox.Timedout" in stack_log.text()
    assert call(stack, "GET", "/items/1")[0] == 201  # a fresh sandbox took over


def test_unknown_route_uses_the_templates_gateway_response(stack: LocalStack) -> None:
    status, body = call(stack, "GET", "/nope")
    assert status == 403
    assert json.loads(body) == {
        "error": {"code": "MISSING_AUTHENTICATION_TOKEN", "message": "Missing Authentication Token"}
    }


def test_sqs_partial_failures_end_in_the_dlq(stack: LocalStack) -> None:
    sqs = aws_client("sqs", stack.moto_url, stack.region)
    work, dlq = stack.resources["Work"]["QueueUrl"], stack.resources["WorkDLQ"]["QueueUrl"]
    for body in ("job-ok", "job-fail"):
        sqs.send_message(QueueUrl=work, MessageBody=body)
    wait_until(lambda: queue_depth(sqs, work) == 0 and queue_depth(sqs, dlq) == 1, timeout=20)
    assert [message["Body"] for message in drain_queue(sqs, dlq)] == ["job-fail"]


def test_sns_notifications_invoke_the_subscriber_and_are_printed(stack: LocalStack, stack_log: Lines) -> None:
    status, _ = call(stack, "POST", "/send", body=b"{}")
    assert status == 201
    wait_until(lambda: "[Fn] sns topic body" in stack_log.text(), timeout=10)
    sent = wait_until(lambda: [m for m in stack.sent_messages() if m["subject"] in ("Mail subject", "Topic subject")])
    assert {m["channel"] for m in sent} == {"email", "sns"}
    assert "SENT email from monitoring@example.com to ops@example.com | Mail subject" in stack_log.text()


def test_a_failing_sns_subscriber_is_retried_then_lands_in_its_dead_letter_queue(
    stack: LocalStack, stack_log: Lines
) -> None:
    # Fn: EventInvokeConfig.MaximumRetryAttempts 1 and DeadLetterQueue FnDLQ, as Lambda reads them.
    sns = aws_client("sns", stack.moto_url, stack.region)
    sqs = aws_client("sqs", stack.moto_url, stack.region)
    sns.publish(TopicArn=stack.resources["Alerts"]["Arn"], Message="please fail")
    wait_until(lambda: "attempt 2/2 failed" in stack_log.text(), timeout=20)
    assert "attempt 1/2 failed" in stack_log.text()
    assert "sent to the DeadLetterQueue after the last attempt" in stack_log.text()
    dead = wait_until(lambda: drain_queue(sqs, stack.resources["FnDLQ"]["QueueUrl"]), timeout=10)
    assert [json.loads(m["Body"])["Records"][0]["Sns"]["Message"] for m in dead] == ["please fail"]


def test_trigger_schedule_sends_the_eventbridge_payload(stack: LocalStack) -> None:
    result = stack.trigger_schedule("Fn")
    assert result.ok
    event = result.payload["event"]
    assert event["detail-type"] == "Scheduled Event"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/FnTick"]


def test_schedules_run_at_their_rate(sample_template: Path) -> None:
    lines: Lines = Lines()
    with local_stack(template_path=sample_template, environ={}, schedule_interval=0.5, log=lines.append):
        wait_until(lambda: lines.text().count("schedule rate(5 minutes) -> Fn: ok") >= 2, timeout=15)


def test_stop_leaves_no_process_behind(sample_template: Path) -> None:
    stack = LocalStack.on_free_ports(template_path=sample_template, environ={}, event_sources=False, log=lambda _: None)
    with stack:
        worker_pid = stack.invoke("Fn", {}).payload["pid"]
        pids = [worker_pid, stack.moto._process.pid, stack.stripe._process.pid]  # type: ignore[union-attr]
        assert all(alive(pid) for pid in pids)
        ports = [stack.api_port, stack.moto.port, stack.stripe.port]
    assert not any(alive(pid) for pid in pids)
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_taken_port_is_reported_and_nothing_is_left_running(sample_template: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"127.0.0.1:{port} is already in use"):
            LocalStack(
                api_port=port, moto_port=free_port(), stripe_port=free_port(), template_path=sample_template
            ).start()
        stack = LocalStack(api_port=free_port(), moto_port=port, stripe_port=free_port(), template_path=sample_template)
        with pytest.raises(PortInUseError, match="LOCAL_MOTO_PORT"):
            stack.start()
        assert not stack.stripe.running and not stack.moto.running


@pytest.mark.skipif(not RUNTIME_PYTHON.exists(), reason="make install creates .venv-runtime")
def test_artifact_mode_runs_the_build_output_on_the_runtime_venv(tmp_path: Path) -> None:
    template_path = write_sample_project(tmp_path)
    build = tmp_path / ".aws-sam" / "build"
    for logical_id in ("Fn", "Other"):
        shutil.copytree(tmp_path / "fn", build / logical_id)  # what `sam build` lays out
    shutil.copytree(tmp_path / "layer", build / "Lib" / "python")
    template = load_template(template_path)
    assert code_paths(template, function(template, "Fn"), tmp_path, "artifact") == (
        build / "Fn",
        [build / "Lib" / "python"],
    )
    with local_stack(template_path=template_path, code="artifact", environ={}, event_sources=False) as stack:
        result = stack.invoke("Fn", {"action": "env"})
        assert result.ok, result.error
        assert result.payload["LAMBDA_TASK_ROOT"] == str(build / "Fn")
        assert result.payload["LAMBDA_RUNTIME_DIR"] == str(RUNTIME_PYTHON.parent)


def test_artifact_mode_without_a_build_says_what_to_do(tmp_path: Path) -> None:
    template_path = write_sample_project(tmp_path)
    template = load_template(template_path)
    with pytest.raises(FileNotFoundError, match="make build"):
        code_paths(template, function(template, "Fn"), tmp_path, "artifact")


# ---------------------------------------------------------------------------
# The command lines: `make local` and `make invoke`
# ---------------------------------------------------------------------------


def cli_env(**ports: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOCAL_")}
    env.update({key: str(value) for key, value in ports.items()})
    return env


def invoke_cli(event: Path, project: Path) -> subprocess.CompletedProcess[str]:
    """`python -m localdev.invoke Fn <event>` (make invoke) against a project's template."""
    return subprocess.run(
        [sys.executable, "-m", "localdev.invoke", "Fn", str(event), "--template", str(project)],
        cwd=PROJECT_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def cli_project(tmp_path: Path) -> Path:
    return write_sample_project(tmp_path)


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 30) -> str:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        if time.monotonic() > deadline or process.poll() is not None:
            raise AssertionError(f"{marker!r} not printed; output so far:\n{seen}")
        seen += process.stdout.readline()
    return seen


def test_make_local_and_make_invoke(cli_project: Path) -> None:
    ports = {"LOCAL_API_PORT": free_port(), "LOCAL_MOTO_PORT": free_port(), "LOCAL_STRIPE_PORT": free_port()}
    process = subprocess.Popen(
        [sys.executable, "-m", "localdev.stack", "--template", str(cli_project), "--no-schedules"],
        cwd=PROJECT_ROOT,
        env=cli_env(**ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = read_until(process, "Ctrl-C stops everything")
        assert f"http://127.0.0.1:{ports['LOCAL_API_PORT']}" in banner
        state_file = cli_project.parent / ".local" / "stack.json"
        assert state_file.stat().st_mode & 0o777 == 0o600
        connection = http.client.HTTPConnection("127.0.0.1", ports["LOCAL_API_PORT"], timeout=30)
        connection.request("GET", "/items/9")
        assert connection.getresponse().status == 201
        read_until(process, "GET /items/9 -> 201 Fn")

        event = cli_project.parent / "event.json"
        event.write_text(json.dumps({"action": "env"}), encoding="utf-8")
        invoked = invoke_cli(event, cli_project)
        assert invoked.returncode == 0, invoked.stderr
        env: dict[str, Any] = json.loads(invoked.stdout)
        assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{ports['LOCAL_MOTO_PORT']}"  # the running stack's
        assert "REPORT RequestId:" in invoked.stderr

        event.write_text(json.dumps({"action": "fail"}), encoding="utf-8")
        failed = invoke_cli(event, cli_project)
        assert failed.returncode == 1
        assert json.loads(failed.stdout)["errorType"] == "ValueError"

        second = subprocess.run(
            [sys.executable, "-m", "localdev.stack", "--template", str(cli_project)],
            cwd=PROJECT_ROOT,
            env=cli_env(**ports),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 2
        assert "is already in use" in second.stderr and "LOCAL_API_PORT" in second.stderr
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "stopped." in output
    assert not (cli_project.parent / ".local" / "stack.json").exists()
    for port in ports.values():
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0

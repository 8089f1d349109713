"""IpGuardFunction's budget, on real sockets: a DynamoDB that accepts and never answers, and one that
answers 500, both end in the documented fail open (allow, context ip_guard=store_unavailable) with
the IpGuardFailOpen metric, after one attempt, inside the function's timeout (template.yaml)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from platform_monitoring.core import clients

from localdev.template import functions, load_template
from tests.support.faults import HangingServer
from tests.support.functions import OFFLINE_ENV, ROOT, cold_start, load_event
from tests.support.lambda_context import FakeLambdaContext

TIMEOUT_SECONDS = next(
    s.timeout for s in functions(load_template(ROOT / "template.yaml")) if s.logical_id == "IpGuardFunction"
)


def ip_guard(endpoint: str) -> ModuleType:
    clients._aws_client.cache_clear()  # a client keeps the endpoint it was built with
    return cold_start(
        "ip_guard",
        {
            **OFFLINE_ENV,
            "AWS_ENDPOINT_URL": endpoint,
            "SECURITY_BLOCKS_TABLE": "SecurityBlocksTable",
            "SECURITY_WINDOWS_TABLE": "SecurityWindowsTable",
            "IP_GUARD_AWS_TIMEOUT_SECONDS": "0.5",
        },
    )


def decide(module: ModuleType) -> tuple[dict[str, Any], float]:
    event = load_event("ip_guard_request.json")
    event["requestContext"]["identity"]["sourceIp"] = "203.0.113.77"
    started = time.monotonic()
    answer: dict[str, Any] = module.lambda_handler(event, FakeLambdaContext())
    return answer, time.monotonic() - started


def fail_open_metrics(output: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]
    return [line for line in lines if "IpGuardFailOpen" in line]


class FailingDynamo(http.server.BaseHTTPRequestHandler):
    requests = 0

    def do_POST(self) -> None:
        FailingDynamo.requests += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"boom"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def failing_dynamo() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FailingDynamo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FailingDynamo.requests = 0
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_hung_dynamodb_ends_in_the_fail_open_inside_the_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    with HangingServer() as hung:
        module = ip_guard(f"http://127.0.0.1:{hung.port}")
        answer, elapsed = decide(module)
        connections = len(hung._held)

    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert answer["context"]["ip_guard"] == "store_unavailable"
    assert connections == 1  # one attempt: no retry after the read timeout
    # the whole point of the budget: Lambda would have cut it off at its timeout, which is "closed"
    assert elapsed < TIMEOUT_SECONDS
    [metric] = fail_open_metrics(capsys.readouterr().out)
    assert metric["IpGuardFailOpen"] == [1.0] or metric["IpGuardFailOpen"] == 1.0
    assert metric["service"] == "askproai-monitoring"


def test_a_failing_dynamodb_ends_in_the_same_fail_open(failing_dynamo: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = ip_guard(failing_dynamo)
    answer, elapsed = decide(module)

    assert (answer["policyDocument"]["Statement"][0]["Effect"], answer["context"]["ip_guard"]) == (
        "Allow",
        "store_unavailable",
    )
    assert FailingDynamo.requests == 1
    assert elapsed < TIMEOUT_SECONDS
    assert len(fail_open_metrics(capsys.readouterr().out)) == 1

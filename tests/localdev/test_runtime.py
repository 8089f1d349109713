"""The Runtime API emulator driven by the real awslambdaric client."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localdev.runtime import FunctionPool, FunctionWorker, RuntimeApi, _Invocation
from localdev.stack import PROJECT_ROOT

RUNTIME_PYTHON = PROJECT_ROOT / ".venv-runtime" / "bin" / "python"


def quiet(name: str, line: str) -> None:
    pass


def make_worker(sample_template: Path, **kwargs: object) -> FunctionWorker:
    root = sample_template.parent
    options: dict = {"timeout": 2.0, "log": lambda name, line: None, "environment": {"FROM_TEMPLATE": "yes"}}
    options.update(kwargs)
    return FunctionWorker("Fn", "app.lambda_handler", root / "fn", [root / "layer"], **options)


@pytest.fixture
def worker(sample_template: Path) -> Iterator[FunctionWorker]:
    with make_worker(sample_template) as running:
        yield running


def test_payload_context_and_warm_reuse(worker: FunctionWorker) -> None:
    first = worker.invoke({"hello": "world"})
    assert first.ok, first.error
    assert first.cold and first.init_duration_ms is not None
    payload = first.payload
    assert payload["event"] == {"hello": "world"}
    assert payload["request_id"] == first.request_id
    assert payload["function_name"] == "Fn"
    assert payload["memory"] == "128"
    assert payload["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:Fn"
    assert 1000 < payload["remaining_ms"] <= 2000
    assert payload["greeting"] == "hello from the layer"  # the layer dir is on PYTHONPATH
    assert first.logs[0].startswith("init ")
    second = worker.invoke({"n": 2})
    assert second.ok and not second.cold and second.init_duration_ms is None
    assert second.payload["pid"] == payload["pid"]  # same sandbox, like a warm Lambda
    assert worker.cold_starts == 1 and worker.invocations == 2


def test_environment_reaches_the_handler(worker: FunctionWorker) -> None:
    env = worker.invoke({"action": "env"}).payload
    assert env["FROM_TEMPLATE"] == "yes"
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["_HANDLER"] == "app.lambda_handler"
    assert env["LAMBDA_TASK_ROOT"].endswith("/fn")
    assert env["PYTHONPATH"].split(":")[1].endswith("/layer")
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert "HOME" not in env  # the sandbox does not inherit this process's environment


def test_handler_error_is_returned_and_the_sandbox_survives(worker: FunctionWorker) -> None:
    pid = worker.invoke({}).payload["pid"]
    failed = worker.invoke({"action": "fail"})
    assert not failed.ok
    assert failed.error is not None
    assert failed.error["errorType"] == "ValueError"
    assert failed.error["errorMessage"] == "asked to fail"
    assert any("ValueError: asked to fail" in line for line in failed.logs)
    again = worker.invoke({})
    assert again.ok and again.payload["pid"] == pid and not again.cold


def test_timeout_kills_and_restarts_the_sandbox(worker: FunctionWorker) -> None:
    pid = worker.invoke({}).payload["pid"]
    started = time.monotonic()
    slow = worker.invoke({"action": "sleep", "seconds": 30}, timeout=1)
    assert time.monotonic() - started < 5
    assert slow.timed_out
    assert slow.error is not None and slow.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in slow.error["errorMessage"]
    after = worker.invoke({})
    assert after.ok and after.cold
    assert after.payload["pid"] != pid
    assert worker.cold_starts == 2


def test_a_runtime_that_exits_is_reported_and_replaced(worker: FunctionWorker) -> None:
    died = worker.invoke({"action": "exit"})
    assert died.error is not None and died.error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in died.error["errorMessage"]
    assert worker.invoke({}).ok


def test_init_error_from_a_broken_handler(sample_template: Path, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import not_a_module_anywhere\n", encoding="utf-8")
    with FunctionWorker("Broken", "app.lambda_handler", tmp_path, timeout=2, log=quiet) as broken:
        result = broken.invoke({})
        assert result.error is not None
        assert result.error["errorType"] == "Runtime.ImportModuleError"
        assert result.error["phase"] == "init"
        missing = broken.invoke({}, timeout=2)  # every invoke retries the init, as Lambda does
        assert missing.error is not None and missing.cold


def test_pool_runs_invocations_concurrently(sample_template: Path) -> None:
    with FunctionPool(lambda: make_worker(sample_template), max_instances=3) as pool:
        results = []

        def call() -> None:
            results.append(pool.invoke({"action": "sleep", "seconds": 0.5}))

        threads = [threading.Thread(target=call) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(result.ok for result in results)
        # Concurrent, not one after another: every invocation began its sleep before any had ended it
        # (a fact of the run, not a time limit, which a loaded machine would break)
        spans = [result.payload["slept"] for result in results]
        assert max(began for began, _ in spans) < min(ended for _, ended in spans)
        assert len({result.payload["pid"] for result in results}) == 3
        assert pool.instances == 3
        assert pool.invoke({}).cold is False  # an idle instance is reused


def test_stop_leaves_no_process(sample_template: Path) -> None:
    worker = make_worker(sample_template)
    pid = worker.invoke({}).payload["pid"]
    worker.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(RuntimeError):
        worker.invoke({})


@pytest.mark.skipif(not RUNTIME_PYTHON.exists(), reason="make install creates .venv-runtime")
def test_runs_on_the_lambda_like_runtime_venv(sample_template: Path, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import sys, boto3, awslambdaric\n"
        "def lambda_handler(event, context):\n"
        "    return {'prefix': sys.prefix, 'boto3': boto3.__version__}\n",
        encoding="utf-8",
    )
    with FunctionWorker("Plain", "app.lambda_handler", tmp_path, python=RUNTIME_PYTHON, log=quiet) as w:
        result = w.invoke({})
        assert result.ok, result.error
        assert result.payload["prefix"].endswith(".venv-runtime")


def test_runtime_api_speaks_the_documented_protocol() -> None:
    api = RuntimeApi()
    api.start()
    try:
        invocation = _Invocation("req-1", b'{"a": 1}', "arn:fn", 3.0, "Root=1-x")
        api.submit(invocation)
        host, port = api.address.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        connection.request("GET", "/2018-06-01/runtime/invocation/next")
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read()) == {"a": 1}
        assert response.getheader("Lambda-Runtime-Aws-Request-Id") == "req-1"
        assert response.getheader("Lambda-Runtime-Invoked-Function-Arn") == "arn:fn"
        assert response.getheader("Lambda-Runtime-Trace-Id") == "Root=1-x"
        deadline = int(response.getheader("Lambda-Runtime-Deadline-Ms") or 0)
        assert 0 < deadline - time.time() * 1000 <= 3000
        connection.request("POST", "/2018-06-01/runtime/invocation/unknown/response", body=b"{}")
        bad = connection.getresponse()
        bad.read()
        assert bad.status == 400
        connection.request("POST", "/2018-06-01/runtime/invocation/req-1/response", body=b'{"ok": true}')
        accepted = connection.getresponse()
        accepted.read()
        assert accepted.status == 202
        assert invocation.done.is_set() and invocation.response == b'{"ok": true}'
        connection.request(
            "POST",
            "/2018-06-01/runtime/init/error",
            body=b'{"errorMessage": "x", "errorType": "Runtime.Bad"}',
            headers={"Lambda-Runtime-Function-Error-Type": "Runtime.Bad"},
        )
        init = connection.getresponse()
        init.read()
        assert init.status == 202
        assert api.init_error == {"errorMessage": "x", "errorType": "Runtime.Bad"}
    finally:
        api.stop()

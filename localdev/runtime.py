"""A Lambda sandbox on loopback: the Runtime API, and the real runtime interface client talking to it.

RuntimeApi serves the HTTP API that Lambda's runtime clients speak
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html). FunctionWorker is one Lambda
instance: it starts `python -m awslambdaric <Handler>` (the same client the AWS base image runs)
against its own RuntimeApi and feeds it one invocation at a time. FunctionPool scales workers
like Lambda scales instances: an idle one is reused, a busy pool grows up to max_instances.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import IO, Any

from localdev import procs
from localdev.net import LOOPBACK, QuietHTTPServer
from localdev.template import ACCOUNT_ID, DEFAULT_REGION, FunctionSpec

API_VERSION = "/2018-06-01"
# Lambda's limits: 6 MB synchronous response, 10 s init phase for on-demand functions.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
DEFAULT_INIT_TIMEOUT = 10.0
_POLL = 0.02

LogSink = Callable[[str, str], None]


def _default_log(function_name: str, line: str) -> None:
    sys.stderr.write(f"[{function_name}] {line}\n")


@dataclass
class InvocationResult:
    request_id: str
    payload: Any = None  # the handler's return value (parsed JSON), when it succeeded
    error: dict[str, Any] | None = None  # {"errorType", "errorMessage", ...} when it failed
    duration_ms: float = 0.0
    init_duration_ms: float | None = None  # set on a cold start
    cold: bool = False
    timed_out: bool = False
    logs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def report(self) -> str:
        """The REPORT line Lambda writes after every invocation."""
        parts = [f"RequestId: {self.request_id}", f"Duration: {self.duration_ms:.2f} ms"]
        if self.init_duration_ms is not None:
            parts.append(f"Init Duration: {self.init_duration_ms:.2f} ms")
        if self.error is not None:
            parts.append(f"Error: {self.error.get('errorType', 'Unknown')}")
        return "REPORT " + "\t".join(parts)


class FunctionError(RuntimeError):
    """Raised by InvocationResult-consuming helpers when the function failed."""


@dataclass
class _Invocation:
    request_id: str
    body: bytes
    function_arn: str
    timeout: float
    trace_id: str
    client_context: str | None = None
    picked_up: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    picked_up_at: float = 0.0
    response: bytes | None = None
    error: dict[str, Any] | None = None


class RuntimeApi:
    """The Lambda Runtime API for one sandbox (one runtime process), on a free loopback port."""

    def __init__(self, host: str = LOOPBACK, port: int = 0) -> None:
        self._lock = threading.Condition()
        self._pending: _Invocation | None = None
        self._current: dict[str, _Invocation] = {}
        self._closed = False
        self.init_error: dict[str, Any] | None = None
        self.first_poll = threading.Event()  # the runtime finished its init phase
        self.first_poll_at = 0.0
        api = self

        class Handler(_RuntimeHandler):
            runtime = api

        self._server = QuietHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def submit(self, invocation: _Invocation) -> None:
        with self._lock:
            self._pending = invocation
            self._current[invocation.request_id] = invocation
            self._lock.notify_all()

    def forget(self, invocation: _Invocation) -> None:
        with self._lock:
            if self._pending is invocation:
                self._pending = None
            self._current.pop(invocation.request_id, None)

    # Called from request threads ------------------------------------------------

    def next_invocation(self) -> _Invocation | None:
        with self._lock:
            if not self.first_poll.is_set():
                self.first_poll_at = time.monotonic()
                self.first_poll.set()
            while self._pending is None and not self._closed:
                self._lock.wait(1.0)
            invocation, self._pending = self._pending, None
            if invocation is not None:
                invocation.picked_up_at = time.monotonic()
                invocation.picked_up.set()
            return invocation

    def finish(self, request_id: str, *, response: bytes | None = None, error: dict[str, Any] | None = None) -> bool:
        with self._lock:
            invocation = self._current.pop(request_id, None)
        if invocation is None:
            return False
        invocation.response = response
        invocation.error = error
        invocation.done.set()
        return True


class _RuntimeHandler(BaseHTTPRequestHandler):
    runtime: RuntimeApi
    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; with Nagle on, the client's delayed ACK adds 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the worker reports invocations itself

    def _reply(
        self,
        status: int,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        data = raw if raw is not None else json.dumps(body or {}).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if raw is None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        if self.path != f"{API_VERSION}/runtime/invocation/next":
            self._reply(HTTPStatus.NOT_FOUND, {"errorType": "NotFound", "errorMessage": self.path})
            return
        invocation = self.runtime.next_invocation()
        if invocation is None:  # shutting down: the runtime process is being stopped anyway
            self._reply(HTTPStatus.GONE, {"errorType": "Shutdown", "errorMessage": "sandbox stopping"})
            return
        deadline_ms = int((time.time() + invocation.timeout) * 1000)
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
            "Lambda-Runtime-Trace-Id": invocation.trace_id,
            "Content-Type": "application/json",
        }
        if invocation.client_context:
            headers["Lambda-Runtime-Client-Context"] = invocation.client_context
        self._reply(HTTPStatus.OK, headers=headers, raw=invocation.body)

    def do_POST(self) -> None:
        parts = self.path.removeprefix(API_VERSION).strip("/").split("/")
        body = self._body()
        if parts == ["runtime", "init", "error"]:
            self.runtime.init_error = _error_document(body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
            self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
            return
        if len(parts) == 4 and parts[:2] == ["runtime", "invocation"] and parts[3] in ("response", "error"):
            request_id, kind = parts[2], parts[3]
            if kind == "response" and len(body) > MAX_RESPONSE_BYTES:
                error = {
                    "errorType": "Function.ResponseSizeTooLarge",
                    "errorMessage": f"Response payload size ({len(body)} bytes) exceeded maximum allowed "
                    f"payload size ({MAX_RESPONSE_BYTES} bytes).",
                }
                self.runtime.finish(request_id, error=error)
                self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, error)
                return
            if kind == "response":
                found = self.runtime.finish(request_id, response=body)
            else:
                error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                found = self.runtime.finish(request_id, error=_error_document(body, error_type))
            if not found:
                self._reply(HTTPStatus.BAD_REQUEST, {"errorType": "InvalidRequestID", "errorMessage": request_id})
                return
            self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
            return
        self._reply(HTTPStatus.NOT_FOUND, {"errorType": "NotFound", "errorMessage": self.path})


def _error_document(body: bytes, error_type: str | None) -> dict[str, Any]:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        document = {"errorMessage": body.decode("utf-8", "replace")}
    if not isinstance(document, dict):
        document = {"errorMessage": str(document)}
    document.setdefault("errorType", error_type or "Runtime.Unknown")
    document.setdefault("errorMessage", "")
    return document


class FunctionWorker:
    """One Lambda instance: a runtime process, its Runtime API, one invocation at a time.

    The process starts on the first invoke (a cold start) and is reused afterwards. A handler that
    runs past `timeout` gets the process killed; the next invoke starts a fresh one, as Lambda does.
    """

    @classmethod
    def for_function(
        cls,
        spec: FunctionSpec,
        code_dir: str | os.PathLike[str],
        layer_dirs: Sequence[str | os.PathLike[str]],
        environment: Mapping[str, str],
        **options: Any,
    ) -> FunctionWorker:
        """A worker for a template function: its name, handler, timeout and memory size."""
        return cls(
            spec.logical_id,
            spec.handler,
            code_dir,
            layer_dirs,
            environment,
            timeout=spec.timeout,
            memory_size=spec.memory_size,
            **options,
        )

    def __init__(
        self,
        name: str,
        handler: str,
        code_dir: str | os.PathLike[str],
        layer_dirs: Sequence[str | os.PathLike[str]] = (),
        environment: Mapping[str, str] | None = None,
        *,
        timeout: float = 3.0,
        memory_size: int = 128,
        python: str | os.PathLike[str] | None = None,
        init_timeout: float = DEFAULT_INIT_TIMEOUT,
        log: LogSink | None = None,
        region: str = DEFAULT_REGION,
        account_id: str = ACCOUNT_ID,
    ) -> None:
        self.name = name
        self.handler = handler
        self.code_dir = Path(code_dir).resolve()
        self.layer_dirs = [Path(layer).resolve() for layer in layer_dirs]
        self.environment = dict(environment or {})
        self.timeout = timeout
        self.memory_size = memory_size
        self.python = str(python or sys.executable)
        self.init_timeout = init_timeout
        self.log = log or _default_log
        self.region = region
        self.arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
        self.invocations = 0
        self.cold_starts = 0
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._api: RuntimeApi | None = None
        self._reader: threading.Thread | None = None
        self._spawned_at = 0.0
        self._capture: list[str] | None = None
        self._output_lock = threading.Lock()
        self._pending_output = b""
        self._closed = False

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> FunctionWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def stop(self) -> None:
        """Stop the runtime process and its API; the worker can not be used afterwards."""
        self._closed = True
        with self._state_lock:
            self._teardown()

    def reset(self) -> None:
        """Drop the warm process (the next invoke is a cold start again)."""
        with self._lock, self._state_lock:
            self._teardown()

    def _teardown(self, *, kill: bool = False) -> None:
        process, api, reader = self._process, self._api, self._reader
        self._process = self._api = self._reader = None
        if kill:
            procs.kill_process(process)
        else:
            procs.stop_process(process, grace=1.0)
        if api is not None:
            api.stop()
        if reader is not None:
            reader.join(2)

    def _spawn(self) -> None:
        api = RuntimeApi()
        api.start()
        env = {
            # Like the Lambda image: a small fixed base, then the function's variables; the
            # variables Lambda reserves for itself come last so the template cannot shadow them.
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            **self.environment,
            "PYTHONPATH": os.pathsep.join(str(path) for path in [self.code_dir, *self.layer_dirs]),
            "PYTHONUNBUFFERED": "1",
            "LAMBDA_TASK_ROOT": str(self.code_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(self.python).parent),
            "_HANDLER": self.handler,
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_size),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        }
        self._spawned_at = time.monotonic()
        process = procs.spawn(
            [self.python, "-m", "awslambdaric", self.handler],
            env=env,
            cwd=self.code_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._process, self._api = process, api
        self._pending_output = b""
        assert process.stdout is not None
        self._reader = threading.Thread(
            target=self._read_output, args=(process.stdout,), name=f"{self.name}-logs", daemon=True
        )
        self._reader.start()
        self.cold_starts += 1

    def _read_output(self, stream: IO[bytes]) -> None:
        # Non-blocking reads under a lock, so _drain_logs can tell "nothing left to read" exactly.
        fd = stream.fileno()
        os.set_blocking(fd, False)
        while True:
            with contextlib.suppress(ValueError, OSError):
                select.select([fd], [], [], 0.2)
            with self._output_lock:
                if not self._read_available(fd):
                    break
        with self._output_lock:
            self._emit_lines(final=True)
        stream.close()

    def _read_available(self, fd: int) -> bool:
        """Read and emit whatever is in the pipe now; False at end of file. Caller holds _output_lock."""
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            self._pending_output += data
            self._emit_lines()

    def _emit_lines(self, *, final: bool = False) -> None:
        *lines, rest = self._pending_output.split(b"\n")
        if final and rest:
            lines.append(rest)
            rest = b""
        self._pending_output = rest
        for raw in lines:
            # awslambdaric joins a multi-line record with "\r" (one CloudWatch event); show it as lines.
            for line in raw.decode("utf-8", "replace").split("\r"):
                if self._capture is not None:
                    self._capture.append(line)
                with contextlib.suppress(Exception):  # a broken log sink must not kill the sandbox
                    self.log(self.name, line)

    def _drain_logs(self) -> None:
        """Emit the output the runtime wrote before it answered (pipes keep order, so it is all there)."""
        process = self._process
        if process is None or process.stdout is None or process.stdout.closed:
            return
        with self._output_lock, contextlib.suppress(ValueError, OSError):
            self._read_available(process.stdout.fileno())

    # -- invoking --------------------------------------------------------------

    def invoke(
        self, event: Any, timeout: float | None = None, *, client_context: str | None = None
    ) -> InvocationResult:
        """Run one invocation (waits while another is running on this instance)."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name}: worker stopped")
            return self._invoke(event, self.timeout if timeout is None else timeout, client_context)

    def _invoke(self, event: Any, timeout: float, client_context: str | None) -> InvocationResult:
        with self._state_lock:
            cold = self._process is None or self._process.poll() is not None
            if cold:
                self._teardown()
                self._spawn()
        process, api = self._process, self._api
        assert process is not None and api is not None
        invocation = _Invocation(
            request_id=str(uuid.uuid4()),
            body=event if isinstance(event, bytes) else json.dumps(event).encode(),
            function_arn=self.arn,
            timeout=timeout,
            trace_id=_trace_id(),
            client_context=client_context,
        )
        result = InvocationResult(request_id=invocation.request_id, cold=cold)
        logs: list[str] = []
        self._capture = logs
        self.invocations += 1
        started = time.monotonic()
        try:
            outcome = self._run(process, api, invocation, timeout, cold)
        finally:
            api.forget(invocation)
        if cold and api.first_poll.is_set():
            result.init_duration_ms = (api.first_poll_at - self._spawned_at) * 1000
        begun = invocation.picked_up_at or started
        result.duration_ms = (time.monotonic() - begun) * 1000
        if outcome == "timeout":
            result.timed_out = True
            result.error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {invocation.request_id} Error: Task timed out after {timeout:.2f} seconds",
            }
            result.duration_ms = timeout * 1000
            with self._state_lock:
                self._teardown(kill=True)
        elif outcome in ("init", "exit"):
            result.error = self._failure(process, api, invocation, outcome)
            with self._state_lock:
                self._teardown(kill=True)
        else:
            self._drain_logs()
            if invocation.error is not None:
                result.error = invocation.error
            else:
                result.payload = _parse_payload(invocation.response or b"null")
        with self._output_lock:
            self._capture = None
        result.logs = logs
        return result

    def _run(
        self,
        process: subprocess.Popen[bytes],
        api: RuntimeApi,
        invocation: _Invocation,
        timeout: float,
        cold: bool,
    ) -> str:
        api.submit(invocation)
        # Init has its own limit; the function's timeout starts when the runtime takes the event.
        pickup_deadline = time.monotonic() + (self.init_timeout if cold else 5.0)
        while not invocation.picked_up.wait(_POLL):
            if api.init_error is not None or process.poll() is not None:
                return "init" if api.init_error is not None or not api.first_poll.is_set() else "exit"
            if time.monotonic() > pickup_deadline:
                return "init"
        deadline = invocation.picked_up_at + timeout
        while not invocation.done.wait(_POLL):
            if process.poll() is not None:
                return "exit"
            if time.monotonic() > deadline:
                return "timeout"
        return "done"

    def _failure(
        self, process: subprocess.Popen[bytes], api: RuntimeApi, invocation: _Invocation, outcome: str
    ) -> dict[str, Any]:
        self._drain_logs()
        if api.init_error is not None:
            return {**api.init_error, "phase": "init"}
        code = process.poll()
        if outcome == "init" and code is None:
            return {
                "errorType": "Runtime.InitTimeout",
                "errorMessage": f"init phase did not finish within {self.init_timeout:.0f} seconds",
                "phase": "init",
            }
        return {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {invocation.request_id} Error: Runtime exited with error: exit status {code}",
            "phase": outcome,
        }


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def _parse_payload(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class FunctionPool:
    """Lambda's scaling for one function: reuse an idle instance, else start another (up to a limit)."""

    def __init__(self, factory: Callable[[], FunctionWorker], max_instances: int = 4) -> None:
        self._factory = factory
        self.max_instances = max(1, max_instances)
        self._workers: list[FunctionWorker] = []
        self._idle: list[FunctionWorker] = []
        self._available = threading.Condition()
        self._closed = False

    @property
    def instances(self) -> int:
        return len(self._workers)

    @property
    def workers(self) -> list[FunctionWorker]:
        return list(self._workers)

    def __enter__(self) -> FunctionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _acquire(self) -> FunctionWorker:
        with self._available:
            while True:
                if self._closed:
                    raise RuntimeError("function pool stopped")
                if self._idle:
                    return self._idle.pop()  # the most recently used one: it is the warmest
                if len(self._workers) < self.max_instances:
                    worker = self._factory()
                    self._workers.append(worker)
                    return worker
                self._available.wait()

    def _release(self, worker: FunctionWorker) -> None:
        with self._available:
            self._idle.append(worker)
            self._available.notify()

    def invoke(
        self, event: Any, timeout: float | None = None, *, client_context: str | None = None
    ) -> InvocationResult:
        worker = self._acquire()
        try:
            return worker.invoke(event, timeout, client_context=client_context)
        finally:
            self._release(worker)

    def stop(self) -> None:
        with self._available:
            self._closed = True
            workers, self._workers, self._idle = self._workers, [], []
            self._available.notify_all()
        for worker in workers:
            worker.stop()

"""Network faults in front of real servers: a dependency that is down, one that hangs, one that errs.

`TcpProxy` forwards to a real server (Redis, MariaDB, ...) and can be switched to `down`
(nothing listens: connection refused, as when the server is stopped) or `hang` (accepts
and never answers). `HangingServer` is a socket that accepts and never says a word.
`HttpFaultProxy` forwards HTTP to a real server (moto, localstripe) and answers chosen requests
with an error, or never answers them: DynamoDB throttling one table, SQS refusing one queue,
the Stripe API answering 500 (`aws_json_error`, `stripe_error`, `aws_request`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import select
import socket
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal

from localdev.net import LOOPBACK, QuietHTTPServer, free_port

Mode = Literal["forward", "down", "hang"]


class HangingServer:
    """Accepts connections and never answers, like a dependency stuck in a GC pause."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._held.append(connection)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for connection in self._held:
            connection.close()

    def __enter__(self) -> HangingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TcpProxy:
    """A loopback proxy to a real server whose availability a test can switch."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode: Mode = "forward"
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.append(client)
            if self.mode == "forward":
                threading.Thread(target=self._pipe, args=(client,), daemon=True).start()
            # in "hang" mode the client is held open and never answered

    def _pipe(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        with self._lock:
            self._connections.append(upstream)
        sockets = [client, upstream]
        try:
            while self.mode == "forward":
                readable, _, _ = select.select(sockets, [], [], 0.2)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is client else client).sendall(data)
        except (OSError, ValueError):  # ValueError: set_mode closed a socket while select() held it
            return
        finally:
            client.close()
            upstream.close()

    def set_mode(self, mode: Mode) -> None:
        """down: close everything and stop listening; hang: accept but never answer."""
        self._drop_connections()
        if mode == "down" and self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would leave the
            # socket listening until that accept returned, taking one more connection.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        elif mode != "down" and self._listener is None:
            self._listen()
        self.mode = mode

    def _drop_connections(self) -> None:
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.close()
            self._connections.clear()

    def close(self) -> None:
        self.set_mode("down")

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- HTTP faults ------------------------------------------------------------------------------------

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
# Headers that describe one hop, not the message: never relayed.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"})


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def service(self) -> str | None:
        """The AWS service a SigV4-signed request is for (`dynamodb`, `sqs`, `ses`...), from its credential scope."""
        match = _CREDENTIAL_SCOPE.search(self.headers.get("authorization", ""))
        return match.group(1) if match else None

    @property
    def operation(self) -> str | None:
        """`PutItem`, `SendMessage`...: X-Amz-Target of the JSON protocols, else the query protocol's Action."""
        target = self.headers.get("x-amz-target")
        if target:
            return target.rsplit(".", 1)[-1]
        actions = urllib.parse.parse_qs(self.body.decode("utf-8", "replace")).get("Action")
        return actions[0] if actions else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


Predicate = Callable[[ProxiedRequest], bool]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


def aws_request(service: str, *operations: str, mentioning: str | None = None) -> Predicate:
    """Requests to one AWS service, optionally only these operations and only those whose body names
    `mentioning` (a table name, a queue URL)."""

    def matches(request: ProxiedRequest) -> bool:
        if request.service != service or (operations and request.operation not in operations):
            return False
        return mentioning is None or mentioning in request.text

    return matches


def aws_json_error(code: str, status: int = 400, message: str | None = None, *, prefix: str) -> Answer:
    """An AWS JSON-protocol error (DynamoDB: JSON 1.0, prefix `com.amazonaws.dynamodb.v20120810`;
    SQS: prefix `com.amazonaws.sqs`), as botocore parses it (and retries it, when retryable)."""
    body = json.dumps({"__type": f"{prefix}#{code}", "message": message or f"{code} (injected by a test)"})
    return Answer(status, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "fault"}, body.encode())


def dynamodb_error(code: str = "ProvisionedThroughputExceededException", status: int = 400) -> Answer:
    """`ProvisionedThroughputExceededException` / `ThrottlingException` (400) or `InternalServerError` (500)."""
    return aws_json_error(code, status, prefix="com.amazonaws.dynamodb.v20120810")


def sqs_error(code: str = "ServiceUnavailable", status: int = 503) -> Answer:
    answer = aws_json_error(code, status, prefix="com.amazonaws.sqs")
    return Answer(
        status, {**answer.headers, "x-amzn-query-error": f"AWS.SimpleQueueService.{code};Receiver"}, answer.body
    )


def ses_error(
    code: str = "MessageRejected", message: str = "Email address is not verified (injected by a test)"
) -> Answer:
    """An SES (query protocol) error, as SES answers a SendRawEmail it refuses."""
    body = (
        '<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/">'
        f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>fault</RequestId></ErrorResponse>"
    )
    return Answer(400, {"Content-Type": "text/xml"}, body.encode())


def sns_error(code: str = "InternalError", status: int = 500, message: str = "Injected by a test") -> Answer:
    """An SNS (query protocol) error, as SNS answers a Publish it cannot take."""
    body = (
        '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
        f"<Error><Type>Receiver</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>fault</RequestId></ErrorResponse>"
    )
    return Answer(status, {"Content-Type": "text/xml"}, body.encode())


def stripe_error(status: int = 500, message: str = "An unknown error occurred (injected by a test)") -> Answer:
    body = json.dumps({"error": {"type": "api_error", "message": message}})
    return Answer(status, {"Content-Type": "application/json"}, body.encode())


def everything(request: ProxiedRequest) -> bool:
    return True


@dataclass
class Fault:
    """One injected fault: requests matching `when` get `answer`, or no answer at all (answer None: hang)."""

    when: Predicate
    answer: Answer | None
    hits: int = 0
    seen: list[str] = field(default_factory=list)  # the operations it took, for assertion messages
    forward: bool = False  # the request reaches the server (it acts on it); only its answer is lost
    limit: int | None = None  # the first `limit` matching requests only


class HttpFaultProxy:
    """An HTTP/1.1 proxy to a real server that forwards everything except what a test told it to fail.

    `fail(answer, when=...)` answers matching requests with `answer` instead of forwarding them;
    `hang(when=...)` holds them without an answer (the client's read timeout fires); `lose_answers(when=...)`
    forwards them and drops the answer (a write that landed, then a lost reply); `heal()` removes
    every fault. Each Fault counts its hits, so a test can prove its fault was met before it heals.
    """

    def __init__(self, upstream: str | None = None, host: str = LOOPBACK) -> None:
        self.upstream = upstream
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._healed = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as botocore's and Stripe's pools expect

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = ProxiedRequest(
                    self.command,
                    self.path,
                    {name.lower(): value for name, value in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                fault = proxy._fault_for(request)
                if fault is None:
                    self._reply(proxy._forward(request))
                elif fault.forward:
                    proxy._forward(request)
                    self.close_connection = True  # closed without a reply: the client retries
                elif fault.answer is None:
                    proxy._healed.wait(60)
                    self.close_connection = True
                else:
                    self._reply(fault.answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

            def _reply(self, answer: Answer) -> None:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = QuietHTTPServer((host, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-fault-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail(self, answer: Answer, when: Predicate = everything) -> Fault:
        return self._add(Fault(when, answer))

    def hang(self, when: Predicate = everything) -> Fault:
        return self._add(Fault(when, None))

    def lose_answers(self, when: Predicate = everything, times: int = 1) -> Fault:
        """Forward the first `times` matching requests and drop their answers: the server has acted on
        each (a write landed), the client sees its connection closed and sends the request again."""
        return self._add(Fault(when, None, forward=True, limit=times))

    def heal(self) -> None:
        """Forward everything again; held (hanging) requests are let go without an answer."""
        with self._lock:
            self._faults.clear()
            self._healed.set()

    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self._healed.clear()
            self._faults.append(fault)
        return fault

    def _fault_for(self, request: ProxiedRequest) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.limit is None or fault.hits < fault.limit) and fault.when(request):
                    fault.hits += 1
                    fault.seen.append(request.operation or f"{request.method} {request.path}")
                    return fault
        return None

    def _forward(self, request: ProxiedRequest) -> Answer:
        if self.upstream is None:
            return Answer(502, {"Content-Type": "text/plain"}, b"no upstream")
        target = urllib.parse.urlsplit(self.upstream)
        connection = http.client.HTTPConnection(target.hostname or LOOPBACK, target.port or 80, timeout=30)
        try:
            headers = {name: value for name, value in request.headers.items() if name not in _HOP_BY_HOP}
            connection.request(request.method, request.path, body=request.body or None, headers=headers)
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        finally:
            connection.close()

    def close(self) -> None:
        self.heal()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> HttpFaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

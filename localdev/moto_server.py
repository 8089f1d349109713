"""moto's server, with DynamoDB requests handled one at a time.

Real DynamoDB checks a ConditionExpression and writes in one atomic step; moto checks and
then writes with no lock, so under a threaded server two concurrent conditional writes can
both succeed. The bundle settles its races with conditional writes (alert throttles,
idempotency, IP blocks), so the local stack serialises DynamoDB calls to give them the
semantics they have in AWS. Other services stay concurrent (SQS long polls must not block).

With LOCAL_AWS_CALL_LOG set to a file, every request is also appended there as one JSON line
(the SigV4 access key, the operation's target or query, the body), so the tests can say which
function called what: each function runs with its own access key (localdev/template/environment.py)
as each Lambda function runs with its own role's credentials (tests/support/iam.py reads it).

    python -m localdev.moto_server -H 127.0.0.1 -p 5000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialise_dynamodb(app: WsgiApp) -> WsgiApp:
    lock = threading.Lock()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with lock:
                return list(app(environ, start_response))  # the whole response inside the lock
        return app(environ, start_response)

    return application


# SigV4's "Credential=<access key>/<date>/<region>/<service>/aws4_request".
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/aws4_request")


def record_calls(app: WsgiApp, log_path: str) -> WsgiApp:
    """Append each request (caller's access key, signing service, method, path, X-Amz-Target, query,
    body) to log_path."""
    lock = threading.Lock()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        key = _CREDENTIAL.search(str(environ.get("HTTP_AUTHORIZATION", "")))
        entry = {
            "access_key": key.group(1) if key else "",
            "service": key.group(2) if key else "",
            "host": environ.get("HTTP_HOST", ""),
            "method": environ.get("REQUEST_METHOD", ""),
            "path": environ.get("PATH_INFO", ""),
            "query": environ.get("QUERY_STRING", ""),
            "target": environ.get("HTTP_X_AMZ_TARGET", ""),
            "body": body.decode("utf-8", "replace"),
        }
        line = (json.dumps(entry) + "\n").encode()
        with lock:  # one os.write per line on an O_APPEND file: whole lines when several servers append
            descriptor = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(descriptor, line)
            finally:
                os.close(descriptor)
        return app(environ, start_response)

    return application


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="localdev.moto_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto.server does
    app = serialise_dynamodb(DomainDispatcherApplication(create_backend_app))
    call_log = os.environ.get("LOCAL_AWS_CALL_LOG")
    if call_log:
        app = record_calls(app, call_log)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

"""moto's server, with DynamoDB requests handled one at a time.

Real DynamoDB checks a ConditionExpression and writes in one atomic step; moto checks and
then writes with no lock, so under a threaded server two concurrent conditional writes can
both succeed. The bundle settles its races with conditional writes (alert throttles,
idempotency, IP blocks), so the local stack serialises DynamoDB calls to give them the
semantics they have in AWS. Other services stay concurrent (SQS long polls must not block).

    python -m localdev.moto_server -H 127.0.0.1 -p 5000
"""

from __future__ import annotations

import argparse
import os
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="localdev.moto_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto.server does
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialise_dynamodb(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

"""An HTTP server on a loopback port that records every connection and request it gets.

Used two ways: as a trap (a port local settings point at, which must never be connected to) and
as a stand-in deployed API, reached as an HTTP proxy for a non-loopback URL such as
http://example.invalid, so the tool under test believes it talks to a deployed stack.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (method, path, headers) -> (status, JSON body)
Responder = Callable[[str, str, dict[str, str]], tuple[int, dict[str, Any]]]


@dataclass
class RecordingServer:
    port: int
    connections: list[tuple[str, int]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _refuse(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    return 404, {"error": "nothing here"}


@contextmanager
def recording_server(respond: Responder = _refuse) -> Iterator[RecordingServer]:
    record = RecordingServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def handle_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            record.requests.append((self.command, self.path, headers))
            status, body = respond(self.command, self.path, headers)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = handle_one

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def verify_request(self, request: Any, client_address: Any) -> bool:
            record.connections.append(client_address)
            return True

    server = Server(("127.0.0.1", 0), Handler)
    record.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


__all__ = ["RecordingServer", "recording_server"]

"""A Slack incoming webhook stand-in on loopback: records every post and prints it readably.

`make local` points ALERT_SLACK_WEBHOOK here when .env leaves it empty, so the Slack messages of
the local alerts show up beside the emails and SMS the moto server keeps; tests use it to read
what the dispatcher posted, to make Slack answer an error (`status`), or to make it slow (`delay`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from localdev.net import LOOPBACK, QuietHTTPServer

PATH = "/services/LOCAL/ALERTS/webhook"


def describe(payload: dict[str, Any]) -> str:
    """The text of a Slack message (its fallback text, then each block's text)."""
    lines = [str(payload.get("text", ""))]
    for block in payload.get("blocks") or []:
        text = (block.get("text") or {}).get("text")
        if text:
            lines.append(str(text))
        lines.extend(str(field.get("text", "")).replace("\n", " ") for field in block.get("fields") or [])
        lines.extend(str(element.get("text", "")) for element in block.get("elements") or [])
    return "\n".join(line for line in lines if line)


class SlackCapture:
    def __init__(self, log: Callable[[str], None] | None = None, host: str = LOOPBACK, port: int = 0) -> None:
        self.log = log
        self.status = 200
        self.delay = 0.0
        self.messages: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # time.time() each message arrived, in the order of messages
        self._lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if capture.delay:
                    time.sleep(capture.delay)
                status = capture.status
                if status == 200:
                    capture.record(raw)
                body = b"ok" if status == 200 else b"invalid_payload"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = QuietHTTPServer((host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{PATH}"

    def record(self, raw: bytes) -> None:
        arrived = time.time()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {"text": raw.decode("utf-8", "replace")}
        with self._lock:
            self.messages.append(payload)
            self.arrivals.append(arrived)
        if self.log is not None:
            indented = "\n".join("    " + line for line in describe(payload).splitlines())
            self.log(f"SENT Slack message\n{indented}")

    def texts(self) -> list[str]:
        with self._lock:
            return [describe(message) for message in self.messages]

    def start(self) -> SlackCapture:
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-capture", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> SlackCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

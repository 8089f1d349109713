"""Loopback networking helpers shared by the local servers."""

from __future__ import annotations

import errno
import socket
import sys
import time
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from typing import Any

LOOPBACK = "127.0.0.1"


class PortInUseError(OSError):
    """A port the local stack needs is taken by another process."""

    def __init__(self, host: str, port: int, what: str, env_var: str | None = None) -> None:
        hint = f"; stop the other process or set {env_var} to another port" if env_var else ""
        super().__init__(errno.EADDRINUSE, f"{what}: {host}:{port} is already in use{hint}")
        self.host, self.port, self.what = host, port, what


class QuietHTTPServer(ThreadingHTTPServer):
    """A threading server whose request threads never block shutdown and that does not print a
    traceback when a client (or a killed runtime process) drops its connection."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def check_port_free(host: str, port: int, what: str, env_var: str | None = None) -> None:
    """Raise PortInUseError when something already listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR, as the real servers use: a TIME_WAIT leftover is not "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise PortInUseError(host, port, what, env_var) from None
            raise


def wait_for_http(url: str, timeout: float = 20.0, headers: dict[str, str] | None = None) -> None:
    """Poll url until it answers with any HTTP status (the server is up) or timeout passes."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback http only
        try:
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last = error
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s ({last})")

"""Start a server binary (Prometheus, Alertmanager) on a free loopback port and stop it again.

One loop for both: a free port, the process with its log, `GET /-/ready` until it answers 200 or the
process exits, and another port when the first was taken between the probe and the bind.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from localdev.net import free_port


class ServerDidNotStart(RuntimeError):
    """The binary exited or never answered /-/ready; the message holds the end of each log."""


def http_ready(url: str, timeout: float = 2) -> bool:
    """GET <url>/-/ready answers 200 (Prometheus's and Alertmanager's readiness endpoint)."""
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Terminate, then kill after `timeout`; only this process."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def start_ready(
    command: Callable[[int], Sequence[str]],
    log_path: Callable[[int], Path],
    *,
    name: str,
    timeout: float = 30,
    attempts: int = 3,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[subprocess.Popen[bytes], int, Path]:
    """Run `command(port)` (its output to `log_path(attempt)`) until /-/ready answers; the process
    its port and its log. A port taken meanwhile ("address already in use") tries another, up to `attempts`."""
    failures = []
    for attempt in range(attempts):
        port = free_port()
        log = log_path(attempt)
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(command(port)), stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=dict(env) if env else None
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None and not http_ready(url):
            time.sleep(0.1)
        if process.poll() is None and http_ready(url):
            return process, port, log
        stop_process(process)
        failures.append(log.read_text(encoding="utf-8", errors="replace")[-2000:])
        if "address already in use" not in failures[-1]:
            break
    raise ServerDidNotStart(f"{name} did not become ready:\n" + "\n---\n".join(failures))

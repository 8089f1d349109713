"""Child processes that never outlive the local stack.

Every child runs in its own session (so stopping it also stops whatever it started) and, on Linux,
gets SIGTERM from the kernel when this process dies, even by SIGKILL. PR_SET_PDEATHSIG fires when
the *thread* that forked exits, so children are forked from one long-lived spawner thread instead
of whichever short-lived request thread happened to need them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def set_parent_death_signal() -> None:
        # Runs in the forked child before exec: nothing here may take a lock.
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return set_parent_death_signal


_PREEXEC = _load_prctl()
_requests: queue.Queue[tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]] = queue.Queue()
_spawner: threading.Thread | None = None
_spawner_lock = threading.Lock()


def _spawner_loop() -> None:
    while True:
        start, future = _requests.get()
        try:
            future.set_result(start())
        except BaseException as error:  # handed to the caller's thread
            future.set_exception(error)


def spawn(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    stdout: int | IO[Any] | None = subprocess.DEVNULL,
    stderr: int | IO[Any] | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start a child in its own session that dies with this process."""
    global _spawner  # noqa: PLW0603 - one spawner per process
    with _spawner_lock:
        if _spawner is None or not _spawner.is_alive():
            _spawner = threading.Thread(target=_spawner_loop, name="localdev-spawner", daemon=True)
            _spawner.start()

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            list(args),
            env=dict(env) if env is not None else None,
            cwd=Path(cwd) if cwd is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=_PREEXEC,  # noqa: PLW1509 - set_parent_death_signal only calls prctl
        )

    future: Future[subprocess.Popen[bytes]] = Future()
    _requests.put((start, future))
    return future.result()


def stop_process(process: subprocess.Popen[Any] | None, grace: float = 3.0) -> None:
    """SIGTERM the child's whole process group, SIGKILL what is left after `grace` seconds, reap it."""
    if process is None:
        return
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    # Whatever the child started in its session goes too, even if the child itself already exited.
    _signal_group(process, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace)


def kill_process(process: subprocess.Popen[Any] | None) -> None:
    """SIGKILL at once (a Lambda sandbox that timed out gets no grace)."""
    if process is None:
        return
    _signal_group(process, signal.SIGKILL)
    process.wait()


def _signal_group(process: subprocess.Popen[Any], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)

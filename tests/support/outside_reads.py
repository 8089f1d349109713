"""A clone stands on its own: the test session fails if it opens anything beside the repository.

`OutsideReads.install(root)` adds an audit hook (sys.addaudithook) that records every `open`,
`os.listdir` and `os.scandir` of a path under the repository's parent directory but not inside
the repository (a folder beside the clone, a sibling checkout, a symlink in the tree that leads there),
and, registered as a pytest plugin, fails the session at its end listing each such path.
Paths are resolved (symlinks followed) against the working directory of the moment.

Not flagged: the repository itself (its .venv included), and the machine's own places that may
happen to lie under the parent: the temporary directory, the interpreter's prefixes and
site-packages, system roots (/usr, /etc, ...) and dot-folders of the home directory (caches,
~/.aws). A place that contains the repository is never an exemption, so a repository in /tmp is
still checked. The hook sees this process only: servers and functions the tests start in child
processes are not watched.
"""

from __future__ import annotations

import os
import site
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

EVENTS = frozenset({"open", "os.listdir", "os.scandir"})
SYSTEM_ROOTS = ("/usr", "/etc", "/proc", "/sys", "/dev", "/opt", "/var", "/run", "/lib", "/lib64", "/bin", "/sbin")


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


class OutsideReads:
    def __init__(self, root: Path) -> None:
        self.root = os.path.realpath(root)
        self.parent = str(Path(self.root).parent)
        self.home = os.path.realpath(Path.home())
        candidates = [
            *SYSTEM_ROOTS,
            tempfile.gettempdir(),
            sys.prefix,
            sys.base_prefix,
            sys.exec_prefix,
            sys.base_exec_prefix,
            *site.getsitepackages(),
            site.getusersitepackages(),
        ]
        resolved = {os.path.realpath(candidate) for candidate in candidates}
        # A place that holds the repository would exempt its neighbours too: not an exemption.
        self.exempt = tuple(sorted(path for path in resolved if not _inside(self.root, path)))
        self.seen: dict[str, str] = {}  # path -> the first event that touched it
        self._local = threading.local()

    @classmethod
    def install(cls, root: Path) -> OutsideReads:
        guard = cls(root)
        sys.addaudithook(guard.audit)
        return guard

    def outside(self, path: str) -> bool:
        """Whether a resolved absolute path is beside the repository rather than in it or in the machine's own places."""
        if not _inside(path, self.parent) or _inside(path, self.root):
            return False
        if any(_inside(path, exempt) for exempt in self.exempt):
            return False
        if _inside(path, self.home) and path != self.home:
            first = os.path.relpath(path, self.home).split(os.sep, 1)[0]
            if first.startswith(".") and not _inside(self.root, str(Path(self.home, first))):
                return False  # ~/.cache, ~/.aws, ~/.config ...
        return True

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event not in EVENTS or getattr(self._local, "busy", False):
            return
        self._local.busy = True
        try:
            target = args[0] if args else None
            if target is None and event != "open":
                target = "."
            if target is None or isinstance(target, int):
                return  # a file descriptor: its path was checked when it was opened
            path = os.fsdecode(os.fspath(target))
            resolved = os.path.realpath(Path.cwd() / path)
            if self.outside(resolved) and resolved not in self.seen:
                self.seen[resolved] = event
        except Exception:  # noqa: S110 - an audit hook must never break the call it watches
            pass
        finally:
            self._local.busy = False

    # pytest plugin hooks (tests/conftest.py registers the guard)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.seen and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.seen:
            return
        terminalreporter.write_sep(
            "=", f"{len(self.seen)} path(s) outside the repository were read; a clone must stand on its own", red=True
        )
        for path, event in sorted(self.seen.items()):
            terminalreporter.write_line(f"{event}: {path}")

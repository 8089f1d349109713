"""Fixtures for the monitoring assets (Prometheus rules and configs, Grafana dashboards)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest

from tests.assets.prometheus_server import REPO_ROOT, ensure_prometheus_installed


@pytest.fixture(scope="session")
def promtool() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs promtool (installed by scripts/ensure-prometheus on a fresh machine) from the repo root."""
    ensure_prometheus_installed()
    binary = shutil.which("promtool")
    assert binary is not None

    def run(*args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [binary, *args],
            input=stdin.decode() if stdin is not None else None,
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=timeout,
            check=False,
        )
        return result

    return run

"""`make bench` part 2's library floor: the installed modules a cold start ended with, imported alone."""

from __future__ import annotations

import os
import subprocess

import pytest

from bench.__main__ import ROOT, cold_start, library_floor


def test_a_cold_start_names_its_installed_modules_and_the_floor_imports_them() -> None:
    env = {"PATH": os.environ["PATH"], "POWERTOOLS_LOG_LEVEL": "WARNING"}
    start = cold_start(ROOT / "bench" / "hello_world", ROOT / "events" / "health.json", False, env)
    libraries = start.libraries
    assert start.answer == "HTTP 200" and start.seconds > 0 and start.cpu_seconds > 0
    assert "aws_lambda_powertools.event_handler" in libraries
    # installed modules only: not the function's own app, not the standard library
    assert "app" not in libraries and "json" not in libraries and "asyncio" not in libraries
    assert library_floor(libraries) > 0
    with pytest.raises(subprocess.CalledProcessError):  # every name is imported: one it cannot find fails
        library_floor([*libraries, "no_such_module"])

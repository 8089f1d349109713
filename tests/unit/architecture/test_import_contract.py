"""The library's layers hold, and a change that breaks them fails `make lint`.

Each test copies the library into a temporary folder, plants one import that the architecture
forbids and runs the same commands `make lint` runs (lint-imports with the project's contracts,
scripts/check_import_cycles.py) on the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LIBRARY = ROOT / "shared" / "platform_monitoring"
BIN = Path(sys.executable).parent


def planted_copy(tmp_path: Path, module: str, line: str, *, inside_function: bool = False) -> Path:
    """A copy of the library (and localdev, the contract's other root) with `line` added to `module`."""
    shutil.copytree(LIBRARY, tmp_path / "platform_monitoring", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "localdev", tmp_path / "localdev", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "platform_monitoring" / (module.replace(".", "/") + ".py")
    text = target.read_text()
    if inside_function:
        text += f"\n\ndef _planted() -> None:\n    {line}\n"
    else:
        text = text.replace(
            "from __future__ import annotations\n", f"from __future__ import annotations\n\n{line}\n", 1
        )
    target.write_text(text)
    return tmp_path


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "lint-imports"), "--no-cache"], cwd)


def check_cycles(cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, str(ROOT / "scripts" / "check_import_cycles.py")], cwd)


def test_the_contracts_are_kept_on_the_library_as_it_is(tmp_path: Path) -> None:
    copy = planted_copy(tmp_path, "core.masking", "import json  # harmless")
    result = lint_imports(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout
    assert check_cycles(copy).returncode == 0


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # core is the bottom layer: it may import nothing first-party above it
        ("core.masking", "from platform_monitoring.wiring.alerting import alert", "Library layers"),
        # the four domains are independent of each other
        ("security.monitor", "from platform_monitoring.alerting.service import AlertingService", "Library layers"),
        ("webhooks.processor", "import platform_monitoring.health.service", "Library layers"),
        # observability sits below the domains
        ("observability.metrics", "from platform_monitoring.health.settings import HealthSettings", "Library layers"),
        # the Lambda layer never imports the local development stack
        ("api.responses", "from localdev import net", "Lambda layer without localdev"),
    ],
)
def test_a_planted_forbidden_import_breaks_the_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    result = lint_imports(planted_copy(tmp_path, module, line))
    assert result.returncode != 0
    assert "1 broken" in result.stdout
    assert f"{broken} BROKEN" in result.stdout
    assert f"platform_monitoring.{module}" in result.stdout.split("Broken contracts", 1)[1]


def test_an_upward_import_inside_a_function_is_still_seen(tmp_path: Path) -> None:
    copy = planted_copy(
        tmp_path, "core.config", "from platform_monitoring.observability import metrics", inside_function=True
    )
    assert lint_imports(copy).returncode != 0


def test_a_cycle_held_apart_by_a_function_level_import_is_found(tmp_path: Path) -> None:
    # security.monitor imports security.rules at module level; this closes the loop inside a function
    copy = planted_copy(
        tmp_path, "security.rules", "from platform_monitoring.security import monitor", inside_function=True
    )
    result = check_cycles(copy)
    assert result.returncode == 1
    assert "platform_monitoring.security.monitor <-> platform_monitoring.security.rules" in result.stderr


def test_a_cycle_under_type_checking_is_found(tmp_path: Path) -> None:
    copy = planted_copy(
        tmp_path,
        "core.config",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from platform_monitoring.core.settings import RedisSettings",
    )
    result = check_cycles(copy)
    assert result.returncode == 1
    assert "platform_monitoring.core.config <-> platform_monitoring.core.settings" in result.stderr

"""`pip install .` gives a working library: the wheel, built from a clean copy of the project and
installed into a fresh venv, loads its alert rules and lists its migrations with no repository
beside it (tests/packaging/probe.py runs there, `python -I`).

Fast and offline: the wheel builds with this venv's setuptools (--no-build-isolation) and installs
with --no-deps --no-index; the fresh venv sees this venv's site-packages (the locked versions of
the declared dependencies) after its own, through a .pth line, and the probe checks that every
declared dependency is satisfied at its pinned version.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("probe.py")
pytestmark = pytest.mark.packaging


def run(*args: str | Path, cwd: Path) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run([str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{args}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout


def clean_copy(target: Path) -> Path:
    """The project as `pip install .` of a fresh clone sees it: its top-level files and shared/, no build leftovers."""
    target.mkdir()
    for path in ROOT.iterdir():
        if path.is_file():
            shutil.copy2(path, target / path.name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(ROOT / "shared", target / "shared", ignore=ignore)
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = clean_copy(work / "source")
    started = time.monotonic()
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        work / "dist",
        ".",
        cwd=source,
    )
    print(f"wheel built in {time.monotonic() - started:.1f}s")
    (built,) = (work / "dist").glob("askproai_monitoring-*.whl")
    return built


@pytest.fixture(scope="module")
def probe(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("venv")
    venv = work / "venv"
    started = time.monotonic()
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel, cwd=work)
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=work).strip())
    # After the venv's own site-packages: the dependencies, never this project (its editable .pth is not read there).
    (purelib / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    outside = work / "elsewhere"  # not the repository: nothing of the project's tree is on the path
    outside.mkdir()
    result: dict[str, Any] = json.loads(run(python, "-I", PROBE, cwd=outside))
    print(f"fresh venv, install and probe in {time.monotonic() - started:.1f}s")
    result["venv"] = str(venv)
    return result


def test_wheel_holds_the_library_its_data_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert {entry for entry in top if not entry.endswith(".dist-info")} == {"platform_monitoring"}, top
    assert any(name.endswith("/alert_rules.json") for name in names), names
    assert any("/migrations/" in name and name.endswith(".sql") for name in names), names
    modules = [name for name in names if name.endswith(".py")]
    packages = {name.rsplit("/", 1)[0] for name in modules}
    missing_init = sorted(package for package in packages if f"{package}/__init__.py" not in names)
    assert not missing_init, f"modules in folders that are not packages: {missing_init}"


def test_installed_library_comes_from_the_fresh_venv(probe: dict[str, Any]) -> None:
    assert Path(probe["library"]).is_relative_to(probe["venv"]), probe["library"]
    assert not Path(probe["library"]).is_relative_to(ROOT)
    assert probe["localdev"] is False, "localdev is importable from the installed wheel"


def test_declared_dependencies_are_the_layers_and_all_met(probe: dict[str, Any]) -> None:
    declared = {requirement.split("==")[0].lower() for requirement in probe["requires"]}
    layer = {
        line.split("==")[0].lower()
        for line in (ROOT / "shared" / "requirements.in").read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith("#")
    }
    assert layer <= declared, layer - declared
    assert "boto3" in declared
    assert probe["unmet"] == []


def test_alert_rule_lookup_from_the_installed_package(probe: dict[str, Any]) -> None:
    assert probe["rule"] == {"type": "payment_failure", "threshold": 3.0, "window_seconds": 300}
    assert "security_breach_attempt" in probe["rule_types"]


def test_migration_dry_run_from_the_installed_package(probe: dict[str, Any]) -> None:
    assert [migration["name"] for migration in probe["migrations"]][:1] == ["001_security_logs.sql"]
    for migration in probe["migrations"]:
        assert Path(migration["path"]).is_relative_to(probe["venv"]), migration["path"]
        assert migration["statements"], f"{migration['name']} has no statements"
    first = probe["migrations"][0]["statements"]
    assert any("CREATE TABLE IF NOT EXISTS security_logs" in statement for statement in first), first

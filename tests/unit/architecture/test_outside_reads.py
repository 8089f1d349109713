"""The self-containment check can fail: a pytest session in a subprocess, in a project of its
own under tmp_path with a neighbour folder beside it, fails when it reads that neighbour and
passes when it reads only its own tree, temporary files and the interpreter's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.outside_reads import OutsideReads

ROOT = Path(__file__).resolve().parents[3]

CONFTEST = """
from pathlib import Path

from tests.support.outside_reads import OutsideReads

GUARD = OutsideReads.install(Path(__file__).resolve().parent)


def pytest_configure(config):
    config.pluginmanager.register(GUARD, "outside-reads")
"""

READS_THE_NEIGHBOUR = """
import os
from pathlib import Path


def test_reads_a_fixture_beside_the_repository():
    assert Path("../neighbour/fixtures.json").read_text() == "{}"


def test_lists_the_neighbour_and_follows_a_symlink_out():
    assert os.listdir(Path(__file__).resolve().parents[2] / "neighbour")
    assert (Path(__file__).resolve().parent / "link.json").read_text() == "[]"
"""

READS_ONLY_ITS_OWN = """
import json
import sys
import tempfile
from pathlib import Path


def test_reads_its_tree_temporary_files_and_the_interpreter():
    assert Path(__file__).with_name("data.json").read_text() == "{}"
    with tempfile.NamedTemporaryFile("w+", suffix=".json") as handle:
        handle.write("[]")
        handle.flush()
        assert json.loads(Path(handle.name).read_text()) == []
    assert (Path(sys.base_prefix) / "lib").is_dir()
    assert sorted(Path(sys.base_prefix, "lib").iterdir())
"""


def session(tmp_path: Path, test_source: str) -> subprocess.CompletedProcess[str]:
    project = tmp_path / "outer" / "project"
    (project / "checks").mkdir(parents=True)
    neighbour = tmp_path / "outer" / "neighbour"
    neighbour.mkdir()
    (neighbour / "fixtures.json").write_text("{}")
    (neighbour / "other.json").write_text("[]")
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    (project / "conftest.py").write_text(CONFTEST)
    (project / "checks" / "data.json").write_text("{}")
    (project / "checks" / "link.json").symlink_to(neighbour / "other.json")
    (project / "checks" / "test_reads.py").write_text(test_source)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # the guard alone: fast
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "checks"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_reading_beside_the_repository_fails_the_session_naming_each_path(tmp_path: Path) -> None:
    result = session(tmp_path, READS_THE_NEIGHBOUR)
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "2 passed" in output  # the tests themselves passed: the check is what failed the run
    assert "path(s) outside the repository were read" in output, output
    neighbour = (tmp_path / "outer" / "neighbour").resolve()
    assert f"open: {neighbour / 'fixtures.json'}" in output
    assert f"os.listdir: {neighbour}" in output
    assert f"open: {neighbour / 'other.json'}" in output  # through the symlink in the tree


def test_reading_only_the_tree_temp_files_and_the_interpreter_passes(tmp_path: Path) -> None:
    result = session(tmp_path, READS_ONLY_ITS_OWN)
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.OK, output
    assert "outside the repository" not in output


def test_what_counts_as_outside(tmp_path: Path) -> None:
    root = tmp_path / "work" / "repo"
    root.mkdir(parents=True)
    guard = OutsideReads(root)
    parent = os.path.realpath(root.parent)
    assert guard.outside(str(Path(parent, "shared", "fixtures3.json")))
    assert guard.outside(parent)  # listing the folder the clone sits in
    assert not guard.outside(str(root.resolve() / ".venv" / "lib" / "x.py"))
    assert not guard.outside(os.path.realpath(root))
    assert not guard.outside("/usr/lib/python3/dist-packages/x.py")  # not under the parent at all
    # The repository's own temporary folder (tmp_path) holds it, so it exempts nothing here.
    assert os.path.realpath(tmp_path) not in guard.exempt

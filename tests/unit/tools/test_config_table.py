"""The README's configuration table is the settings code's: a variable read without regenerating it
fails `make lint` (scripts/config_table.py --check), and one read without a doc fails the generator."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from platform_monitoring.core.config import EnvSource, env_reader
from platform_monitoring.health.settings import HealthSettings

from tests.support.functions import ROOT

spec = importlib.util.spec_from_file_location("config_table", ROOT / "scripts" / "config_table.py")
assert spec and spec.loader
config_table = importlib.util.module_from_spec(spec)
sys.modules["config_table"] = config_table  # its dataclasses look their module up
spec.loader.exec_module(config_table)


@pytest.fixture
def readme(tmp_path: Path) -> Path:
    copy = tmp_path / "README.md"
    shutil.copyfile(ROOT / "README.md", copy)
    return copy


def read_also(monkeypatch: pytest.MonkeyPatch, name: str, doc: str) -> None:
    """HealthSettings reading one more variable, as a change to health/settings.py would."""
    original = HealthSettings.from_env.__func__  # type: ignore[attr-defined]

    def from_env(cls: type[HealthSettings], environ: EnvSource = None) -> Any:
        env = env_reader(environ)
        env.integer(name, 7, 1, doc=doc)
        return original(cls, env)

    monkeypatch.setattr(HealthSettings, "from_env", classmethod(from_env))


def test_the_readme_table_is_current(readme: Path) -> None:
    assert config_table.main(["--check"], readme_path=readme) == 0


def test_a_variable_added_without_regenerating_fails_the_check(
    readme: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    read_also(monkeypatch, "HEALTH_NEW_THRESHOLD", "a threshold added to the health check")

    assert config_table.main(["--check"], readme_path=readme) == 1
    assert "configuration table is stale" in capsys.readouterr().err

    assert config_table.main([], readme_path=readme) == 0
    row = next(line for line in readme.read_text().splitlines() if "`HEALTH_NEW_THRESHOLD`" in line)
    assert row == (
        "| `HEALTH_NEW_THRESHOLD` | Health, ScheduledChecks | `7` | no "
        "| a threshold added to the health check (integer, at least 1) |"
    )
    assert config_table.main(["--check"], readme_path=readme) == 0


def test_a_variable_read_without_a_doc_is_refused(readme: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read_also(monkeypatch, "HEALTH_UNEXPLAINED", "")

    with pytest.raises(SystemExit, match="no doc= where these are read: HEALTH_UNEXPLAINED"):
        config_table.main(["--check"], readme_path=readme)


def test_required_variables_come_from_the_settings_errors() -> None:
    rows, _ = config_table.rows(ROOT / "template.yaml")
    required = {row.read.name: row.required_by for row in rows if row.required_by}

    assert required["IDEMPOTENCY_TABLE"] == ["WebhookProcessorFunction", "StripeReconciliationFunction"]
    assert "EventsFunction" not in required["SECURITY_BLOCKS_TABLE"]  # it reads the tables, never builds on them
    assert "IpGuardFunction" in required["SECURITY_BLOCKS_TABLE"]
    assert "HEALTH_CHECK_SECRET" not in required  # unset closes the endpoint, it does not stop the function

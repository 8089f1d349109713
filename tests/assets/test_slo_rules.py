"""The SLO data (prometheus/slos.yaml) and the rules scripts/generate_slo_rules.py writes from it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.assets.promql import REPO_ROOT, RULES_DIR

# The Google SRE workbook's windows and burn rates, as the issue asks for them.
EXPECTED_PAIRS = {
    "page": ("critical", [("1h", "5m", 14.4), ("6h", "30m", 6.0)]),
    "ticket": ("warning", [("1d", "2h", 3.0), ("3d", "6h", 1.0)]),
}


def _generator() -> ModuleType:
    path = REPO_ROOT / "scripts" / "generate_slo_rules.py"
    spec = importlib.util.spec_from_file_location("generate_slo_rules", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


GENERATOR = _generator()
CONFIG = GENERATOR.load()
RULES = yaml.safe_load((RULES_DIR / "slos.yml").read_text(encoding="utf-8"))


def test_committed_rules_are_what_the_generator_writes() -> None:
    assert (RULES_DIR / "slos.yml").read_text(encoding="utf-8") == GENERATOR.render()
    assert GENERATOR.main(["--check"]) == 0


def test_check_mode_fails_on_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "slos.yml"
    stale.write_text(GENERATOR.render().replace("14.4", "15"), encoding="utf-8")
    monkeypatch.setattr(GENERATOR, "RULES_FILE", stale)
    monkeypatch.setattr(GENERATOR, "REPO_ROOT", tmp_path)
    assert GENERATOR.main(["--check"]) == 1
    assert GENERATOR.main([]) == 0
    assert GENERATOR.main(["--check"]) == 0


def test_the_three_slos_and_the_workbooks_windows() -> None:
    assert [slo.name for slo in CONFIG.slos] == ["webhook_processing", "api_availability", "api_latency"]
    assert CONFIG.period == "30d"
    policies = {p.kind: (p.severity, [(w.long, w.short, w.factor) for w in p.windows]) for p in CONFIG.policies}
    assert policies == EXPECTED_PAIRS
    assert CONFIG.windows == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]


def test_every_slo_records_each_window_its_period_and_its_budget_with_job_kept() -> None:
    for slo in CONFIG.slos:
        (group,) = [g for g in RULES["groups"] if g["name"] == f"askproai-slo-{slo.name}"]
        recorded = {rule["record"]: rule for rule in group["rules"] if "record" in rule}
        expected = {f"slo:sli_error:ratio_rate{w}" for w in [*CONFIG.windows, "30d"]}
        assert set(recorded) == expected | {"slo:error_budget_remaining:ratio"}
        for name, rule in recorded.items():
            assert rule["labels"] == {"slo": slo.name}, name
        assert "sum by (job)" in recorded["slo:sli_error:ratio_rate1h"]["expr"]
        # The page reads this evaluation's ratios: the alerts come after the recording rules.
        kinds = ["record" if "record" in rule else "alert" for rule in group["rules"]]
        assert kinds == sorted(kinds, key=lambda kind: kind == "alert")


def test_every_slo_has_a_page_and_a_ticket_alert_with_a_runbook() -> None:
    alerts = {rule["alert"]: rule for group in RULES["groups"] for rule in group["rules"] if "alert" in rule}
    assert len(alerts) == 2 * len(CONFIG.slos)
    runbook = REPO_ROOT / "docs" / "runbooks" / f"{GENERATOR.ALERT_TYPE}.md"
    assert runbook.is_file()
    for slo in CONFIG.slos:
        for kind, (severity, pairs) in EXPECTED_PAIRS.items():
            rule = alerts[f"AskProAI{slo.camel}BudgetBurn{kind.capitalize()}"]
            assert rule["labels"] == {
                "severity": severity,
                "alert_type": "slo_budget_burn",
                "slo": slo.name,
                "slo_alert": kind,
            }
            assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
            assert rule["annotations"]["runbook_url"].endswith("/docs/runbooks/slo_budget_burn.md")
            budget = f"{slo.error_budget:g}"
            for long, short, factor in pairs:
                for window in (long, short):
                    assert (
                        f'slo:sli_error:ratio_rate{window}{{slo="{slo.name}"}} / {budget} > {factor:g}' in rule["expr"]
                    )


@pytest.mark.parametrize(
    ("sli", "objective", "problem"),
    [
        ({"total": "a_total", "errors": "b_total", "good": "c_total"}, 0.99, "one of `errors` or `good`"),
        ({"total": "a_total"}, 0.99, "one of `errors` or `good`"),
        ({"total": "a_total", "errors": "b_total"}, 99.9, "between 0 and 1"),
    ],
)
def test_load_refuses_a_malformed_slo(tmp_path: Path, sli: dict[str, str], objective: float, problem: str) -> None:
    doc = yaml.safe_load((REPO_ROOT / "prometheus" / "slos.yaml").read_text(encoding="utf-8"))
    doc["slos"] = [{"name": "x", "title": "X", "description": "x", "objective": objective, "sli": sli}]
    path = tmp_path / "slos.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        GENERATOR.load(path)

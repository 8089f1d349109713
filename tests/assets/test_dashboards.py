"""The Grafana dashboards and provisioning files: generated, importable, and showing the guide's panels."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.assets.promql import DASHBOARD_DIR, REPO_ROOT, all_panels, load_dashboards

GRAFANA_DIR = REPO_ROOT / "grafana"
DS_REF = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
# The guide's "Grafana Dashboards" section: each listed panel, as words a panel title must contain.
GUIDE_PANELS = {
    "system-overview.json": (
        "AskProAI / System Overview",
        ["request rate", "error rate", "response times", "queue sizes", "active users", "memory", "up"],
    ),
    "stripe-integration.json": (
        "AskProAI / Stripe Integration",
        ["payment success rate", "webhook processing time", "failed payments", "dispute rate", "revenue"],
    ),
    "customer-portal.json": (
        "AskProAI / Customer Portal",
        ["registration rate", "login frequency", "page load times", "user actions", "errors"],
    ),
    "security.json": (
        "AskProAI / Security",
        ["failed login attempts", "blocked ips", "rate limit violations", "security events by type", "per hour"],
    ),
    # Not the guide's: the SLOs of prometheus/slos.yaml (docs/slos.md).
    "slos.json": ("AskProAI / SLOs", ["error budget left", "burn rate", "sli over"]),
}
DASHBOARDS = load_dashboards()


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_dashboards", GRAFANA_DIR / "generate_dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_dashboards_are_what_the_generator_writes() -> None:
    rendered = _generator().render()
    committed = {path.name: path.read_text(encoding="utf-8") for path in DASHBOARD_DIR.glob("*.json")}
    assert set(rendered) == set(committed)
    for name, text in rendered.items():
        assert committed[name] == text, f"{name} is stale: run .venv/bin/python grafana/generate_dashboards.py"


def test_the_guides_four_dashboards_and_the_slos_exist_with_their_panels() -> None:
    assert set(DASHBOARDS) == set(GUIDE_PANELS)
    for name, (title, topics) in GUIDE_PANELS.items():
        dashboard = DASHBOARDS[name]
        assert dashboard["title"] == title
        titles = [panel["title"].lower() for panel in all_panels(dashboard) if panel["type"] != "row"]
        for topic in topics:
            found = any(t == topic or (len(topic) > 3 and topic in t) for t in titles)
            assert found, f"{name}: no panel about {topic!r} in {titles}"


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_is_importable_json(name: str) -> None:
    dashboard: dict[str, Any] = DASHBOARDS[name]
    assert dashboard["schemaVersion"] == 39
    assert dashboard["id"] is None
    assert dashboard["uid"].startswith("askproai-") and len(dashboard["uid"]) <= 40
    assert "__inputs" not in dashboard  # the datasource is a variable: no import-time mapping needed
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert variables["job"]["datasource"] == DS_REF

    panels = list(all_panels(dashboard))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    occupied: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat"}
        assert panel["datasource"] == DS_REF, panel["title"]
        assert panel["description"], f"{panel['title']} needs a description"
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DS_REF
            assert target["expr"].strip()
            assert 'job=~"$job"' in target["expr"], f"{panel['title']}: every selector filters on $job"


def test_provisioning_files() -> None:
    datasources = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert datasources["apiVersion"] == 1
    (prometheus,) = datasources["datasources"]
    assert prometheus["type"] == "prometheus"
    assert prometheus["uid"] == "prometheus"
    assert prometheus["isDefault"] is True
    providers = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "askproai.yml").read_text())
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert Path(provider["options"]["path"]).is_absolute()

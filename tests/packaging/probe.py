"""Run by the wheel test with the fresh venv's Python (`python -I probe.py`): what an installed
platform_monitoring can do with no repository beside it. Prints one JSON object.

NAMES is the one place that says where the installed library keeps what is called here. The
library is being split into subpackages: each entry lists candidate homes, newest layout first,
and the first that imports wins; when a name moves, add its new home at the front.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

NAMES: dict[str, list[str]] = {
    "RuleSet": ["platform_monitoring.alerting.rules:RuleSet", "platform_monitoring.alert_rules:RuleSet"],
    "migration_files": [
        "platform_monitoring.tools.migrate:migration_files",
        "platform_monitoring.migrate:migration_files",
    ],
    "statements": ["platform_monitoring.tools.migrate:statements", "platform_monitoring.migrate:statements"],
}


def lookup(role: str) -> Any:
    tried = []
    for candidate in NAMES[role]:
        module_name, _, attribute = candidate.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            tried.append(f"{candidate} ({error})")
            continue
        if hasattr(module, attribute):
            return getattr(module, attribute)
        tried.append(f"{candidate} (no attribute {attribute})")
    raise LookupError(f"{role} not found; tried {'; '.join(tried)}: update NAMES in {Path(__file__).name}")


def unmet_requirements() -> list[str]:
    """Requires-Dist entries (name==version) that the environment does not satisfy."""
    unmet = []
    for requirement in importlib.metadata.requires("askproai-monitoring") or []:
        match = re.match(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)", requirement)
        if match is None:
            unmet.append(f"{requirement} (not an exact pin)")
            continue
        name, version = match.groups()
        try:
            found = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found = None
        if found != version:
            unmet.append(f"{requirement} (found {found})")
    return unmet


def main() -> None:
    import platform_monitoring

    rules = lookup("RuleSet").load()
    rule = rules["payment_failure"]
    migrations = [
        {"name": path.name, "path": str(path), "statements": lookup("statements")(path.read_text(encoding="utf-8"))}
        for path in lookup("migration_files")()
    ]
    print(
        json.dumps(
            {
                "library": platform_monitoring.__file__,
                "prefix": sys.prefix,
                "rule": {"type": rule.type, "threshold": rule.threshold, "window_seconds": rule.window_seconds},
                "rule_types": sorted(rules),
                "migrations": migrations,
                "requires": importlib.metadata.requires("askproai-monitoring") or [],
                "unmet": unmet_requirements(),
                "localdev": importlib.util.find_spec("localdev") is not None,
            }
        )
    )


if __name__ == "__main__":
    main()

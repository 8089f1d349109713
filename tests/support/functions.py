"""Load a function's app.py the way Lambda does: a fresh cold start under a given environment."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


# Dummy AWS credentials and no Sentry: a function's cold start in a unit test reaches no network.
OFFLINE_ENV: dict[str, str | None] = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "SENTRY_LARAVEL_DSN": None,
    "SENTRY_DSN": None,
}


def load_event(name: str) -> dict[str, Any]:
    """An event from events/, the same file `sam local invoke -e` and `make invoke` use."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


@contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def cold_start(folder: str, env: Mapping[str, str | None]) -> ModuleType:
    """Import functions/<folder>/app.py afresh with env set, as a new Lambda instance would."""
    path = ROOT / "functions" / folder / "app.py"
    name = f"functions.{folder}.app"
    sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    with environment(env):
        spec.loader.exec_module(module)
    sys.modules[name] = module
    return module

"""A real Alertmanager (Debian's `prometheus-alertmanager`) on a free loopback port, for tests and bench.

Its config is rendered from the shipped prometheus/alertmanager.yml: the same route, receiver,
timings and bearer `credentials_file`, with the webhook URL pointed at a local stack (or any
receiver), the secret written to a 0600 file and, where a test says why, other timings. Clustering
is off (`--cluster.listen-address=`), so it listens on the one loopback port only.

    with running_alertmanager(render_alertmanager_config(workdir, url, secret), workdir) as am:
        am.post_alerts([{"labels": {"alertname": "X"}}])
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.servers import http_ready, start_ready, stop_process

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "prometheus" / "alertmanager.yml"
BINARY = "prometheus-alertmanager"  # Debian's name for the alertmanager binary


def shipped_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SHIPPED_CONFIG.read_text(encoding="utf-8"))
    return loaded


def shipped_timings() -> dict[str, str]:
    route = shipped_config()["route"]
    return {name: str(route[name]) for name in ("group_wait", "group_interval", "repeat_interval")}


def render_alertmanager_config(
    workdir: Path, url: str, secret: str, *, timings: Mapping[str, str] | None = None, sub_routes: bool = True
) -> Path:
    """<workdir>/alertmanager.yml: the shipped config with its webhook at `url`, `secret` in a file;
    sub_routes False drops the route that keeps the bundle's own alert types from paging twice."""
    config = shipped_config()
    if not sub_routes:
        config["route"].pop("routes", None)
    secrets = workdir / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    token = secrets / "alertmanager-webhook-secret"
    token.write_text(secret, encoding="utf-8")
    token.chmod(0o600)
    [receiver] = [receiver for receiver in config["receivers"] if receiver["name"] == config["route"]["receiver"]]
    [webhook] = receiver["webhook_configs"]
    webhook["url"] = url
    webhook["http_config"]["authorization"]["credentials_file"] = str(token)
    config["route"].update(timings or {})
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Alertmanager:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """POST /api/v2/alerts, as Prometheus sends them."""
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(list(alerts)).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def ready(self) -> bool:
        return http_ready(self.url)


def alertmanager_installed() -> bool:
    return shutil.which(BINARY) is not None


@contextlib.contextmanager
def running_alertmanager(config: Path, workdir: Path, *, timeout: float = 30) -> Iterator[Alertmanager]:
    """Start Alertmanager with `config` (storage in workdir); stop it (and only it) afterwards."""
    log_path = workdir / "alertmanager.log"
    storage = workdir / "alertmanager-data"
    storage.mkdir(parents=True, exist_ok=True)
    process, port, _ = start_ready(
        lambda port: [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ],
        lambda attempt: log_path,
        name="Alertmanager",
        timeout=timeout,
    )
    manager = Alertmanager(process, port, log_path)
    try:
        yield manager
    finally:
        stop_process(process)

"""Start a real Prometheus server (Debian's `prometheus` binary) for tests, and talk to it.

Reusable for any scrape target: the synthetic exposition in these tests, the local stack's
GET /api/metrics, or a deployed stage. The config is rendered from prometheus/local.yml (its
global settings, rule files and the shape of its scrape config, bearer `credentials_file`
included) with the targets, intervals, a free loopback port and a temporary data directory
filled in. Nothing depends on a system Prometheus service or on a fixed port.

    with running_prometheus([ScrapeTarget("askproai-local", "127.0.0.1:3000", bearer_token=secret)],
                            tmp_path) as prom:
        prom.wait_for_targets(timeout=20)
        prom.query("askproai_up")
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.support.servers import ServerDidNotStart, start_ready, stop_process
from tests.support.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO_ROOT / "prometheus"
LOCAL_CONFIG = PROMETHEUS_DIR / "local.yml"
DEPLOYED_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
ENSURE_PROMETHEUS = REPO_ROOT / "scripts" / "ensure-prometheus"

T = TypeVar("T")


class PrometheusError(RuntimeError):
    """Prometheus did not start, or answered a query with an error."""


@dataclass(frozen=True)
class ScrapeTarget:
    """One scrape job with one target. `address` is host:port; the bearer token goes to a file."""

    job: str
    address: str
    metrics_path: str = "/api/metrics"
    scheme: str = "http"
    bearer_token: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    insecure_skip_verify: bool = False


def ensure_prometheus_installed(timeout: float = 300) -> None:
    """Run scripts/ensure-prometheus (installs the Debian packages when a binary is missing)."""
    result = subprocess.run([str(ENSURE_PROMETHEUS)], capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise PrometheusError(f"scripts/ensure-prometheus failed ({result.returncode}): {result.stderr.strip()}")
    for tool in ("prometheus", "promtool", "prometheus-alertmanager"):
        if shutil.which(tool) is None:
            raise PrometheusError(f"{tool} is not on PATH after scripts/ensure-prometheus")


def render_rule_files(workdir: Path, interval: str | None) -> list[str]:
    """Copy the repository's rule files; with `interval`, every group is evaluated that often."""
    out = []
    rules_out = workdir / "rules"
    rules_out.mkdir(parents=True, exist_ok=True)
    for source in sorted(RULES_DIR.glob("*.yml")):
        doc = yaml.safe_load(source.read_text(encoding="utf-8"))
        if interval is not None:
            for group in doc.get("groups", []):
                group["interval"] = interval
        target = rules_out / source.name
        target.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        out.append(str(target))
    return out


def render_config(
    targets: Sequence[ScrapeTarget],
    workdir: Path,
    *,
    scrape_interval: str = "1s",
    scrape_timeout: str | None = None,
    evaluation_interval: str = "1s",
    rule_interval: str | None = "1s",
    base_config: Path = LOCAL_CONFIG,
    alertmanager: str | None = None,
) -> Path:
    """Write <workdir>/prometheus.yml from `base_config` with `targets`; bearer tokens to 0600 files;
    with `alertmanager` (host:port), the firing alerts are sent there."""
    base = yaml.safe_load(base_config.read_text(encoding="utf-8"))
    template = base["scrape_configs"][0]
    secrets = workdir / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    scrape_configs = []
    for index, tgt in enumerate(targets):
        job: dict[str, Any] = {
            key: value for key, value in template.items() if key not in {"static_configs", "authorization"}
        }
        job.update(job_name=tgt.job, scheme=tgt.scheme, metrics_path=tgt.metrics_path)
        job["scrape_interval"] = scrape_interval
        job["scrape_timeout"] = scrape_timeout or scrape_interval
        if tgt.bearer_token is not None:
            token_file = secrets / f"{index}-{tgt.job}.token"
            token_file.write_text(tgt.bearer_token, encoding="utf-8")
            token_file.chmod(0o600)
            job["authorization"] = {"type": "Bearer", "credentials_file": str(token_file)}
        if tgt.insecure_skip_verify:
            job["tls_config"] = {"insecure_skip_verify": True}
        job["static_configs"] = [{"targets": [tgt.address], "labels": dict(tgt.labels)}]
        scrape_configs.append(job)
    config = {
        "global": {
            **base.get("global", {}),
            "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_timeout or scrape_interval,
            "evaluation_interval": evaluation_interval,
        },
        "rule_files": render_rule_files(workdir, rule_interval),
        "scrape_configs": scrape_configs,
    }
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class PrometheusServer:
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def api(self, path: str, params: Mapping[str, str] | None = None, timeout: float = 10) -> Any:
        """GET /api/v1/<path>; returns `data`, raises PrometheusError on an error answer."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"{self.url}/api/v1/{path}{query}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
            raise PrometheusError(f"{path} {dict(params or {})}: {exc.code} {body.get('error', body)}") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {dict(params or {})}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the result list (vector) or [scalar] / [string]. Errors raise PrometheusError."""
        data = self.api("query", {"query": expr})
        if data["resultType"] in {"scalar", "string"}:
            return [{"value": data["result"]}]
        return list(data["result"])

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets", {"state": "active"})["activeTargets"])

    def wait_for_targets(
        self, *, timeout: float = 20, jobs: Sequence[str] | None = None, scrapes: int = 1
    ) -> list[dict[str, Any]]:
        """Wait until every (chosen) target has been scraped `scrapes` times; return the targets."""
        seen: dict[str, set[str]] = {}

        def ready() -> list[dict[str, Any]] | None:
            active = [t for t in self.targets() if jobs is None or t["labels"]["job"] in jobs]
            if not active:
                return None
            for tgt in active:
                seen.setdefault(tgt["scrapeUrl"], set())
                if tgt["lastScrape"] and not tgt["lastScrape"].startswith("0001-"):
                    seen[tgt["scrapeUrl"]].add(tgt["lastScrape"])
            if all(len(seen[t["scrapeUrl"]]) >= scrapes for t in active):
                return active
            return None

        return self.wait_for(ready, timeout=timeout, interval=0.25, what=f"{scrapes} scrape(s) of {jobs or 'all'}")

    def wait_for(self, check: Callable[[], T | None], *, timeout: float, interval: float = 0.2, what: str = "") -> T:
        """Call `check` until it returns something; an error answer or a refused connection counts as
        not yet. PrometheusError after `timeout`."""
        message = f"timed out after {timeout}s waiting for {what or check}"
        return wait_until(check, timeout, interval, message, retrying=(PrometheusError, OSError), error=PrometheusError)

    def rule_groups(self) -> list[dict[str, Any]]:
        return list(self.api("rules")["groups"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("alerts")["alerts"])

    def stop(self, timeout: float = 10) -> None:
        stop_process(self.process, timeout)


def start_prometheus(
    targets: Sequence[ScrapeTarget],
    workdir: Path,
    *,
    scrape_interval: str = "1s",
    scrape_timeout: str | None = None,
    evaluation_interval: str = "1s",
    rule_interval: str | None = "1s",
    startup_timeout: float = 30,
    binary: str = "prometheus",
    alertmanager: str | None = None,
) -> PrometheusServer:
    """Start Prometheus on a free 127.0.0.1 port, data in <workdir>/data; wait until it is ready.

    Tries three ports, in case another process takes the free port between the probe and the bind.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = render_config(
        targets,
        workdir,
        scrape_interval=scrape_interval,
        scrape_timeout=scrape_timeout,
        evaluation_interval=evaluation_interval,
        rule_interval=rule_interval,
        alertmanager=alertmanager,
    )
    try:
        process, port, log_path = start_ready(
            lambda port: [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            lambda attempt: workdir / f"prometheus-{attempt}.log",
            name="Prometheus",
            timeout=startup_timeout,
            env={**os.environ, "GOMAXPROCS": "2"},
            cwd=workdir,
        )
    except ServerDidNotStart as exc:
        raise PrometheusError(str(exc)) from exc
    return PrometheusServer(process, port, workdir, log_path)


@contextlib.contextmanager
def running_prometheus(targets: Sequence[ScrapeTarget], workdir: Path, **kwargs: Any) -> Iterator[PrometheusServer]:
    """start_prometheus as a context manager: the server is always stopped on exit."""
    server = start_prometheus(targets, workdir, **kwargs)
    try:
        yield server
    finally:
        server.stop()

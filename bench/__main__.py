"""`make bench`: figures measured within one run, as ratios (this machine is shared and noisy).

1. The health endpoint's total time against its slowest check, with six checks of known
   delays, run as the handler runs them (concurrently) and one after another.
2. Each function's cold start (a fresh process importing its handler and answering its
   first event) beside a naive baseline that imports every library of the bundle first, and each
   API-facing one beside a Powertools hello-world function (bench/hello_world) started alike.
3. A scrape of 1k, 10k and 100k series in the Redis metric store beside generate_latest of the
   same series in memory, and the Redis round trips per scrape and per invocation's writes
   (bench/metrics_bench.py; Redis database 15, BENCH_REDIS_URL to change it).
4. The Stripe webhook path: SQS, DynamoDB and Redis requests per ingested event and per processed
   batch, and the ingest handler's warm time without I/O (bench/webhooks_bench.py; Redis database 11).
5. Cost per event: SQS, DynamoDB, SNS and Redis requests per event kind, counted on the wire,
   Lambda milliseconds, and dollars per million events at AWS's public prices (bench/cost_bench.py).
6. Alerting: DynamoDB round trips per alert() decision (below the threshold, firing, throttled)
   and per scheduled run, counted as botocore sends them, and 50 concurrent alert() calls
   (bench/alerting_bench.py; a moto server on a free port).
7. Security: DynamoDB round trips per recorded event and per authorizer decision, and 40
   concurrent failed logins from one IP blocking it once (bench/security_bench.py).
8. Stripe reconciliation: Events API requests per run at 0, 100 and 1,000 missed events and
   events recovered per second (bench/reconciliation_bench.py; localstripe and a moto server).
9. Time to page: the third failed payment webhook's 200 to the SNS publication and to each
   channel's send on the local stack (20 trials), beside the same failures through the bundle's
   Prometheus rule, a real Prometheus and a real Alertmanager with the shipped intervals and timings
   (3 trials: each takes a scrape, an evaluation and group_wait), and their ratio (bench/time_to_page.py).
10. Load: bounded bursts of signed webhooks and platform events from several processes against the
   local stack; ingest requests/s and p50/p95/p99, end-to-end events/s, and proof that nothing was
   lost or counted twice (bench/load_bench.py, also `make bench-load`; Redis database 6, the MySQL
   database askproai_load_bench; sizes from LOAD_* variables). A disagreement fails `make bench`.

It ends with one `summary: <figure> | <value> | <goal> | within|outside` line per figure (bench/summary.py).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platform_monitoring.health.service import CheckOutcome, CheckStatus, HealthCheckService

ROOT = Path(__file__).resolve().parents[1]
DELAYS = (0.05, 0.08, 0.11, 0.14, 0.17, 0.20)  # seconds; the slowest is 200 ms
ROUNDS = 7


class DelayedCheck:
    def __init__(self, name: str, delay: float) -> None:
        self.name, self.delay, self.critical = name, delay, True

    def run(self, timeout: float) -> CheckOutcome:
        time.sleep(self.delay)
        return CheckOutcome(CheckStatus.OK, f"slept {self.delay * 1000:.0f} ms")


def bench_health() -> None:
    names = ("database", "redis", "stripe_api", "queues", "disk", "memory")
    checks = [DelayedCheck(name, delay) for name, delay in zip(names, DELAYS, strict=True)]
    slowest = max(DELAYS)
    health = _load_health_function()
    from tests.support.lambda_context import FakeLambdaContext  # the loader put the repository on sys.path

    health.service = HealthCheckService(checks, timeout=2.0)
    event = json.loads((ROOT / "events" / "health.json").read_text())
    event["headers"]["X-Health-Check-Secret"] = os.environ["HEALTH_CHECK_SECRET"]

    concurrent, sequential = [], []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = health.lambda_handler(event, FakeLambdaContext())
        concurrent.append(time.perf_counter() - started)
        assert response["statusCode"] == 200, response
        started = time.perf_counter()
        for check in checks:
            check.run(2.0)
        sequential.append(time.perf_counter() - started)
    c, s = statistics.median(concurrent), statistics.median(sequential)
    print("Health endpoint, six checks with delays " + ", ".join(f"{d * 1000:.0f}" for d in DELAYS) + " ms")
    print(f"  slowest check                 {slowest * 1000:8.1f} ms   1.00x")
    print(f"  handler, concurrent (median)  {c * 1000:8.1f} ms   {c / slowest:.2f}x the slowest check")
    print(f"  one after another (median)    {s * 1000:8.1f} ms   {s / slowest:.2f}x the slowest check")
    verdict = "within" if c / slowest <= 1.2 else "OVER"
    print(f"  concurrent run is {verdict} the 1.2x target")


NAIVE_IMPORTS = (
    "import boto3, botocore, stripe, redis, pymysql, sentry_sdk, json, concurrent.futures;"
    "import aws_lambda_powertools, aws_lambda_powertools.utilities.parameters;"
    "import aws_lambda_powertools.utilities.idempotency, aws_lambda_powertools.utilities.batch;"
    "import aws_lambda_powertools.event_handler, aws_lambda_powertools.tracing;"
    "from sentry_sdk.integrations.aws_lambda import AwsLambdaIntegration;"
    "boto3.client('sqs'); boto3.client('dynamodb'); boto3.client('sns'); boto3.client('ses');"
)

# The cold-start process sees only what a deployed function has: the layer's packages
# (shared/requirements.txt) and the Lambda runtime's (requirements-runtime.txt). The development
# venv it runs in has more, and some libraries take what they find: stripe imports aiohttp for its
# async client when it is installed (about 150 ms here), botocore awscrt (boto3[crt], the stubs' extra).
# Every other distribution's modules are refused as if not installed (a meta path finder).
LAMBDA_LOCKS = (ROOT / "shared" / "requirements.txt", ROOT / "requirements-runtime.txt")
PROJECT_MODULES = {"platform_monitoring", "localdev", "tests", "bench", "app"}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def not_in_lambda() -> list[str]:
    """Top-level modules installed here that belong to no distribution of the Lambda's locks."""
    import importlib.metadata

    allowed = {
        _normalized(line.split("==", 1)[0])
        for lock in LAMBDA_LOCKS
        for line in lock.read_text(encoding="utf-8").splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }
    return sorted(
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if module not in PROJECT_MODULES and not any(_normalized(dist) in allowed for dist in dists)
    )


# Both scripts below start by refusing what a deployed function would not find (_blocked()).
NOT_IN_LAMBDA = """
import importlib, importlib.abc, json, sys, time
class NotInLambda(importlib.abc.MetaPathFinder):
    blocked = frozenset({blocked!r})
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the Lambda's packages)", name=name)
        return None
sys.meta_path.insert(0, NotInLambda())
"""

COLD_START = (
    NOT_IN_LAMBDA
    + """started, cpu_started = time.perf_counter(), time.process_time()
{naive}
sys.path.insert(0, {code!r})
import app
class Context:
    function_name = 'Bench'; aws_request_id = 'bench'; memory_limit_in_mb = 512
    invoked_function_arn = 'arn:aws:lambda:us-east-1:123456789012:function:Bench'
    def get_remaining_time_in_millis(self): return 10000
event = json.load(open({event!r}))
response = app.lambda_handler(event, Context())
seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
if isinstance(response, dict) and "statusCode" in response:
    answer = f"HTTP {{response['statusCode']}}"
elif isinstance(response, dict) and "batchItemFailures" in response:
    answer = f"{{len(response['batchItemFailures'])}} batch item failure(s)"
else:
    answer = "returned"
import sysconfig  # after the clock: which installed modules the function ended with (its library floor)
installed = tuple({{sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}})
libraries = sorted(name for name, module in list(sys.modules.items())
                   if (getattr(module, "__file__", None) or "").startswith(installed))
print(json.dumps({{"seconds": seconds, "cpu_seconds": cpu_seconds, "answer": answer, "libraries": libraries}}))
"""
)

# The library floor: a fresh process importing exactly the installed modules a function ended with
# (its third-party libraries, lazily loaded ones included), nothing of the bundle, no event. What a
# function takes beyond it is the bundle's own: its modules, building its clients, its first event.
LIBRARY_FLOOR = (
    NOT_IN_LAMBDA
    + """started = time.perf_counter()
for name in {libraries!r}:
    importlib.import_module(name)
print(json.dumps({{"seconds": time.perf_counter() - started}}))
"""
)

# The first AWS client of a process, built by botocore's stock loader and by the bundle's
# (core/clients.py: told which services exist, and JSON decoded without OrderedDict).
FIRST_CLIENT = """
import json, os, time
os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
import botocore.session
from platform_monitoring.core import clients
started = time.perf_counter()
if {stock!r}:
    botocore.session.get_session().create_client("sqs")
else:
    clients.sqs_client(1.0)
print(json.dumps({{"seconds": time.perf_counter() - started}}))
"""


def _timed(script: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@dataclass(frozen=True)
class Start:
    """One cold start: wall seconds to the first answer, the CPU seconds it used (when the two agree,
    the start is CPU-bound: on Lambda its memory size, which sets its CPU share, scales it), its
    answer, and the installed modules the process ended with."""

    seconds: float
    cpu_seconds: float
    answer: str
    libraries: list[str]


def cold_start(code: Path, event: Path, naive: bool, env: dict[str, str]) -> Start:
    script = COLD_START.format(
        naive=NAIVE_IMPORTS if naive else "", code=str(code), event=str(event), blocked=_blocked()
    )
    result = _timed(script, env)
    return Start(float(result["seconds"]), float(result["cpu_seconds"]), str(result["answer"]), result["libraries"])


def library_floor(libraries: list[str]) -> float:
    return float(
        _timed(LIBRARY_FLOOR.format(libraries=libraries, blocked=_blocked()), {"PATH": os.environ["PATH"]})["seconds"]
    )


def first_client(stock: bool) -> float:
    return float(_timed(FIRST_CLIENT.format(stock=stock), {"PATH": os.environ["PATH"]})["seconds"])


@functools.cache
def _blocked() -> list[str]:
    return not_in_lambda()


# Each function with the sample event it answers first (events/, as `make invoke` uses them).
FUNCTION_EVENTS = {
    "HealthFunction": ("health", "health.json"),
    "MetricsFunction": ("metrics", "metrics.json"),
    "StripeWebhookFunction": ("stripe_webhook", "stripe_webhook_payment_failed.json"),
    "WebhookProcessorFunction": ("webhook_processor", "webhook_processor_batch.json"),
    "AlertsApiFunction": ("alerts_api", "alerts_list.json"),
    "AlertDispatcherFunction": ("alert_dispatcher", "alert_dispatcher.json"),
    "ScheduledChecksFunction": ("scheduled_checks", "scheduled_checks.json"),
}


# Functions behind API Gateway: their cold start is a caller's latency, so each is held to 4x a
# Powertools hello-world function's (bench/hello_world) measured in the same run.
API_FACING = ("HealthFunction", "MetricsFunction", "StripeWebhookFunction", "AlertsApiFunction")
HELLO_WORLD_GOAL = 4.0
NAIVE_GOALS = {"MetricsFunction": 0.35}  # the others: 0.7
NAIVE_GOAL = 0.7
STARTS = 7  # per function and kind; the same code's median moves by 10-20% between runs here


def bench_cold_starts(shell: dict[str, str]) -> None:
    """Against a local stack's moto server and localstripe, with each function's template environment."""
    from bench import summary
    from localdev.stack import LocalStack

    print(
        f"Cold start: fresh process, import the handler, answer the first event (median of {STARTS}, one untimed first)"
    )
    print("  (moto server, localstripe, Redis and MySQL on loopback; each function's environment from the template;")
    print(f"  only the layer's and the Lambda runtime's packages importable: {len(_blocked())} other modules refused)")
    quiet: Any = lambda line: None  # noqa: E731
    with (
        LocalStack.on_free_ports(environ=shell, schedules=False, event_sources=False, log=quiet) as stack,
        tempfile.TemporaryDirectory(prefix="bench-cold-start-") as scratch,
    ):
        hello_env = {"PATH": os.environ["PATH"], "POWERTOOLS_LOG_LEVEL": "WARNING"}
        hello_code, hello_event = ROOT / "bench" / "hello_world", ROOT / "events" / "health.json"
        hellos = [cold_start(hello_code, hello_event, False, hello_env) for _ in range(5)]
        hello = statistics.median(start.seconds for start in hellos)
        hello_cpu = statistics.median(start.cpu_seconds for start in hellos)
        print(
            f"  {'Powertools hello-world':<25} {hello * 1000:7.1f} ms  (cpu {hello_cpu * 1000:.0f} ms;"
            " Logger + REST resolver: the yardstick)"
        )
        stock, known = (statistics.median(first_client(kind) for _ in range(5)) for kind in (True, False))
        print(
            f"  first AWS client: botocore's stock loader {stock * 1000:.1f} ms,"
            f" the bundle's (services known, plain JSON) {known * 1000:.1f} ms, {known / stock:.2f}x"
        )
        for logical_id, (folder, event_name) in FUNCTION_EVENTS.items():
            env = {"PATH": os.environ["PATH"], **stack.environment(logical_id), "LOG_LEVEL_MONITORING": "warning"}
            code, event = ROOT / "functions" / folder, _first_event(ROOT / "events" / event_name, env, scratch)
            # One untimed start first: moto server loads a service's backend at its first request, and
            # AWS has no such first request. Then ours and the naive one in turns, so drift hits both.
            cold_start(code, event, False, env)
            ours, naive = [], []
            for _ in range(STARTS):
                ours.append(cold_start(code, event, False, env))
                naive.append(cold_start(code, event, True, env))
            floor = statistics.median(library_floor(ours[0].libraries) for _ in range(5))
            o, n = (statistics.median(start.seconds for start in starts) for starts in (ours, naive))
            oc, nc = (statistics.median(start.cpu_seconds for start in starts) for starts in (ours, naive))
            print(
                f"  {logical_id:<25} {o * 1000:7.1f} ms  naive baseline {n * 1000:7.1f} ms  ratio {o / n:.2f}"
                f"   {o / hello:.2f}x hello-world   (answer: {ours[0].answer})"
            )
            print(
                f"  {'':<25} cpu {oc * 1000:6.1f} ms  naive {nc * 1000:6.1f} ms  ratio {oc / nc:.2f}"
                f"   {oc / hello_cpu:.2f}x hello-world's cpu"
            )
            print(
                f"  {'':<25} library floor {floor * 1000:6.1f} ms ({floor / hello:.2f}x hello-world,"
                f" {floor / n:.2f} of naive): {len(ours[0].libraries)} installed modules;"
                f" the bundle's own code and first event {(o - floor) * 1000:.0f} ms"
            )
            goal = NAIVE_GOALS.get(logical_id, NAIVE_GOAL)
            summary.record(f"cold start {logical_id} vs naive imports", f"{o / n:.2f}", f"<= {goal}", o / n <= goal)
            if logical_id in API_FACING:
                summary.record(
                    f"cold start {logical_id} vs hello-world",
                    f"{o / hello:.2f}x",
                    f"<= {HELLO_WORLD_GOAL:g}x",
                    o / hello <= HELLO_WORLD_GOAL,
                )


def _first_event(path: Path, env: dict[str, str], scratch: str) -> Path:
    """The sample event as the function's first: a Stripe webhook signed now with the stack's secret
    (the sample's signature is long expired, and a refused webhook is not the usual first request)."""
    event = json.loads(path.read_text(encoding="utf-8"))
    if "stripe" not in str(event.get("path", "")):
        return path
    from localdev.stripe_sign import first_secret, resign

    signed = Path(scratch) / path.name
    signed.write_text(json.dumps(resign(event, first_secret(env["STRIPE_WEBHOOK_SECRET"]), new_id=True)), "utf-8")
    return signed


def _load_health_function() -> Any:
    sys.path.insert(0, str(ROOT))
    from tests.support.functions import cold_start as load

    return load("health", {"LOG_LEVEL_MONITORING": "warning"})


def bench_webhooks() -> None:
    from bench.webhooks_bench import bench_webhooks as run

    run()


def part(number: int, what: str) -> None:
    """Say which part starts (stderr, so the figures on stdout stay a clean report)."""
    print(f"==> bench {number}/{len(BENCH_PARTS)}: {what}", file=sys.stderr, flush=True)


def _run_part(target: str | Callable[[dict[str, str]], None], shell: dict[str, str]) -> None:
    """A part is this module's function of the shell, or "module:function" of a part module, imported
    only when its part runs (each brings its own servers' clients)."""
    if callable(target):
        target(shell)
        return
    module, function = target.split(":")
    getattr(importlib.import_module(module), function)()


# (what it measures, how): in the order `make bench` runs them; BENCH_PARTS="2 9" runs some only.
# The load run is last: it exits non-zero when something was lost or double counted.
BENCH_PARTS: dict[int, tuple[str, str | Callable[[dict[str, str]], None]]] = {
    1: ("the health endpoint's six checks, concurrently and one after another", lambda shell: bench_health()),
    2: ("cold starts of every function (a local stack, 10 fresh processes per function)", bench_cold_starts),
    3: ("metric store scrapes of 1k, 10k and 100k series", "bench.metrics_bench:bench_metric_store"),
    4: ("the Stripe webhook path's requests per event and batch", lambda shell: bench_webhooks()),
    5: ("requests and cost per event kind, counted on the wire", "bench.cost_bench:bench_costs"),
    6: ("alerting round trips and 50 concurrent alert() calls", "bench.alerting_bench:bench_alerting"),
    7: ("security round trips and 40 concurrent failed logins", "bench.security_bench:bench_security"),
    8: ("Stripe reconciliation at 0, 100 and 1,000 missed events", "bench.reconciliation_bench:bench_reconciliation"),
    9: (
        "time to page: the bundle on the local stack, then Prometheus and Alertmanager",
        "bench.time_to_page:bench_time_to_page",
    ),
    10: ("the load run (progress below, as it goes)", "bench.load_bench:bench_load"),
}


def chosen_parts(value: str | None) -> list[int]:
    """BENCH_PARTS ("2 9", "2,9"; unset or empty: every part), in the run's order."""
    if not value or not value.strip():
        return sorted(BENCH_PARTS)
    wanted = {int(item) for item in re.split(r"[\s,]+", value.strip()) if item}
    unknown = wanted - set(BENCH_PARTS)
    if unknown:
        raise SystemExit(f"BENCH_PARTS: no part {', '.join(map(str, sorted(unknown)))} (1 to {len(BENCH_PARTS)})")
    return sorted(wanted)


def main() -> None:
    from localdev.template import load_dotenv

    shell = dict(os.environ)  # what the user set; the local stack reads .env itself
    for key, value in load_dotenv(ROOT / ".env").items():
        os.environ.setdefault(key, value)
    from bench.summary import print_summary

    try:
        for number in chosen_parts(os.environ.get("BENCH_PARTS")):
            what, target = BENCH_PARTS[number]
            part(number, what)
            _run_part(target, shell)
            print()
    finally:
        print_summary()


if __name__ == "__main__":
    main()

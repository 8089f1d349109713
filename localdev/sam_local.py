"""`python -m localdev.sam_local` (`make sam-local`): the real `sam local invoke` and `start-api`.

For every function of template.yaml and every file of events/ that belongs to it (by its route,
queue, topic, schedule or authorizer), runs `sam local invoke` on the `sam build` artifact, in a
Lambda container, against the local stack's moto server and localstripe (started here on free
ports) and the Redis and MySQL of REDIS_URL / DB_* (started when they do not answer, stopped again
afterwards). Each answer is judged by the JSON SAM prints (SAM exits 0 even when the function
failed): the status code and body shape the built-artifact tests expect. Then `sam local
start-api` on a free port gets one request per route.

One line per event (function, event file, answer, seconds), then `N passed, M failed`; the exit
status is 1 when anything failed.

The container engine and the base image come from localdev/sam_engine.py (Docker as it is, or
Debian's docker.io with no bridge network and a locally built base image).

`python -m localdev.sam_local prepare` only makes the engine and the base image ready (installs
Debian's docker.io, builds the image, then stops the dockerd it started): `make test` runs it in the
background while pytest runs, so a fresh machine's few minutes of install and build overlap the
suite instead of adding to it.

`python -m localdev.sam_local env` only writes the env-vars file (and the template SAM reads it
with) for the running `make local` stack, or from .env and the shell when none runs, for your own
`sam local invoke` / `start-api` (README, "sam local").
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, redirect_stderr
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from localdev.apigw import authorizers_from_template, routes_from_template
from localdev.net import LOOPBACK, free_port
from localdev.sam_engine import BASE_IMAGE, Engine, EngineError, ensure_base_image
from localdev.stack import PROJECT_ROOT, LocalStack
from localdev.template import Template, functions, load_template

STATE_DIR = Path(".local") / "sam"
ENV_FILE = STATE_DIR / "env.json"
TEMPLATE_FILE = STATE_DIR / "template.json"
BUILD_DIR = Path(".aws-sam") / "build"
INVOKE_TIMEOUT = 180.0
LOCAL_MIN_TIMEOUT = 30  # seconds; see sam_template
# Set by SAM itself for every function; an env-vars entry would only shadow them.
SAM_OWNED = ("AWS_LAMBDA_", "AWS_EXECUTION_ENV")
# Keep a developer's own AWS profile and keys away from SAM and the functions.
SAM_PROCESS_ENV = {
    "SAM_CLI_TELEMETRY": "0",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_MAX_ATTEMPTS": "1",
}

Log = Callable[[str], None]


def _log(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# Which function an event belongs to
# ---------------------------------------------------------------------------


def _name_in_arn(arn: Any) -> str:
    return str(arn or "").rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def _route_matches(pattern: str, method: str, event: Mapping[str, Any]) -> bool:
    wanted = str(event.get("httpMethod", "")).upper()
    return pattern == event.get("resource") and method in ("ANY", wanted)


def _record_owner(template: Template, event: Mapping[str, Any]) -> str | None:
    """The function subscribed to the queue or topic of an SQS/SNS event, or to the schedule of a
    scheduled event (its rule's name holds the function's logical id)."""
    records = event.get("Records") or []
    first = records[0] if records and isinstance(records[0], Mapping) else {}
    source = first.get("eventSource") or first.get("EventSource")
    queue = _name_in_arn(first.get("eventSourceARN")) if source == "aws:sqs" else None
    topic = _name_in_arn((first.get("Sns") or {}).get("TopicArn")) if source == "aws:sns" else None
    rules = [_name_in_arn(arn) for arn in event.get("resources") or []] if event.get("source") == "aws.events" else []
    for spec in functions(template):
        if queue in {e.queue for e in spec.sqs_events} or topic in {e.topic for e in spec.sns_events}:
            return spec.logical_id
        if spec.schedule_events and any(spec.logical_id in rule for rule in rules):
            return spec.logical_id
        # A schedule with an Input sends that JSON instead of the Scheduled Event (ReportsFunction's reports).
        if any(schedule.input and json.loads(schedule.input) == dict(event) for schedule in spec.schedule_events):
            return spec.logical_id
    return None


def owner_of(template: Template, event: Mapping[str, Any]) -> str | None:
    """The logical id of the function that receives this event in the deployed stack, if any."""
    if event.get("type") == "REQUEST" and "methodArn" in event:
        authorizers, default = authorizers_from_template(template)
        chosen = authorizers.get(default or "") or next(iter(authorizers.values()), None)
        return chosen.function if chosen else None
    if "httpMethod" in event:
        routes = routes_from_template(template)
        return next((route.function for route in routes if _route_matches(route.path, route.method, event)), None)
    return _record_owner(template, event)


@dataclass(frozen=True)
class Case:
    function: str | None  # None: no function of the template receives this event
    event: Path


def cases(template: Template, events_dir: Path) -> list[Case]:
    """Every events/ file with the function it belongs to, in file-name order."""
    found = []
    for path in sorted(events_dir.glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        found.append(Case(owner_of(template, event) if isinstance(event, Mapping) else None, path))
    return found


# ---------------------------------------------------------------------------
# What SAM printed, and whether it is the answer we expect
# ---------------------------------------------------------------------------


class Verdict:
    def __init__(self, ok: bool, answer: str) -> None:
        self.ok = ok
        self.answer = answer


def sam_answer(stdout: str) -> Any:
    """The function's answer: the last line of SAM's stdout that is JSON (None when there is none)."""
    for raw in reversed(stdout.strip().splitlines()):
        line = raw.strip()
        if not line:
            continue
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def _body(answer: Mapping[str, Any]) -> Any:
    try:
        return json.loads(answer.get("body") or "null")
    except ValueError:
        return answer.get("body")


def _keys(value: Any) -> str:
    return "{" + ", ".join(sorted(value)) + "}" if isinstance(value, Mapping) else type(value).__name__


Check = Callable[[Any], str | None]  # the answer -> what is wrong with it, or None


def http_answer(status: int, body: Check | None = None) -> Check:
    """An API Gateway proxy answer with this status and (optionally) a body that passes `body`."""

    def check(answer: Any) -> str | None:
        if not isinstance(answer, Mapping) or "statusCode" not in answer:
            return f"not an API Gateway proxy answer: {_keys(answer)}"
        if answer["statusCode"] != status:
            return f"status {answer['statusCode']}, expected {status}: {str(answer.get('body'))[:200]}"
        return body(_body(answer)) if body else None

    return check


def json_keys(*names: str, **values: Any) -> Check:
    """A JSON object with at least these keys, and these values where given."""

    def check(body: Any) -> str | None:
        if not isinstance(body, Mapping):
            return f"body is {type(body).__name__}, expected a JSON object"
        missing = [name for name in (*names, *values) if name not in body]
        if missing:
            return f"body lacks {', '.join(missing)}: {_keys(body)}"
        wrong = {key: body[key] for key, value in values.items() if body[key] != value}
        return f"body has {wrong}, expected {values}" if wrong else None

    return check


HEALTH_CHECKS = ["database", "redis", "stripe_api", "queues", "disk", "memory"]


def healthy(body: Any) -> str | None:
    problem = json_keys("checks", status="healthy")(body)
    if problem:
        return problem
    names = [check.get("name") for check in body["checks"]]
    return None if names == HEALTH_CHECKS else f"checks {names}, expected {HEALTH_CHECKS}"


DEPENDENCY_CHECKS = ["database:responseTime", "redis:responseTime", "stripe_api:responseTime", "queues:messages"]


def ready_in_health_json(body: Any) -> str | None:
    """Readiness in the draft's application/health+json: pass, with the four dependency checks."""
    problem = json_keys("checks", status="pass")(body)
    if problem:
        return problem
    keys = list(body["checks"])
    return None if keys == DEPENDENCY_CHECKS else f"checks {keys}, expected {DEPENDENCY_CHECKS}"


def prometheus_text(body: Any) -> str | None:
    text = str(body)
    return None if "# TYPE " in text and "# HELP " in text else f"not Prometheus text: {text[:120]!r}"


def batch_failures(expected: Callable[[Mapping[str, Any]], list[str]]) -> Callable[[Mapping[str, Any]], Check]:
    """An SQS batch answer reporting exactly the messages `expected(event)` names as failed."""

    def for_event(event: Mapping[str, Any]) -> Check:
        wanted = [{"itemIdentifier": message_id} for message_id in expected(event)]

        def check(answer: Any) -> str | None:
            if answer != {"batchItemFailures": wanted}:
                return f"answer {json.dumps(answer)[:200]}, expected {{'batchItemFailures': {wanted}}}"
            return None

        return check

    return for_event


def _poison(event: Mapping[str, Any]) -> list[str]:
    # The sample batch holds one message that is not a Stripe event (test_built_artifact.py).
    return [record["messageId"] for record in event["Records"] if not str(record["body"]).startswith("{\n")]


def allow_policy(answer: Any) -> str | None:
    if not isinstance(answer, Mapping) or "policyDocument" not in answer:
        return f"not an authorizer answer: {_keys(answer)}"
    effects = [statement.get("Effect") for statement in answer["policyDocument"].get("Statement", [])]
    return None if effects == ["Allow"] else f"policy effects {effects}, expected ['Allow']"


def delivered(event: Mapping[str, Any]) -> Check:
    """AlertDispatcherFunction's answer: every SNS notification delivered to at least one target, none
    failed (a failed target raises, so that Lambda retries it)."""

    def check(answer: Any) -> str | None:
        notifications = answer.get("notifications") if isinstance(answer, Mapping) else None
        if not isinstance(notifications, list) or len(notifications) != len(event["Records"]):
            return f"answer {json.dumps(answer)[:200]}, expected one notification per record"
        statuses = [status for item in notifications for status in (item.get("results") or {}).values()]
        if "sent" not in statuses or not set(statuses) <= {"sent", "skipped", "already_sent"}:
            return f"delivery statuses {statuses}, expected sent (or skipped) only"
        return None

    return check


def _fixed(check: Check) -> Callable[[Mapping[str, Any]], Check]:
    return lambda event: check


# events/ file -> the check of its answer (given the event SAM was sent). A new events/ file
# without an entry here fails, so none goes unchecked.
EXPECTATIONS: dict[str, Callable[[Mapping[str, Any]], Check]] = {
    "health.json": _fixed(http_answer(200, healthy)),
    "health_live.json": _fixed(http_answer(200, json_keys("checks", status="pass"))),
    "health_ready.json": _fixed(http_answer(200, ready_in_health_json)),
    "metrics.json": _fixed(http_answer(200, prometheus_text)),
    "alerts_list.json": _fixed(http_answer(200, json_keys("alerts"))),
    "alerts_ack.json": _fixed(http_answer(404, json_keys("error"))),
    "alerts_resolve.json": _fixed(http_answer(404, json_keys("error"))),
    "alerts_silence.json": _fixed(http_answer(201, json_keys("silence"))),
    "ip_guard_request.json": _fixed(allow_policy),
    "scheduled_checks.json": _fixed(json_keys("health")),
    "reports_daily_critical.json": _fixed(json_keys("report", "subject", "sent")),
    "reports_weekly_security.json": _fixed(json_keys("report", "subject", "sent")),
    "reports_monthly_performance.json": _fixed(json_keys("report", "subject", "sent")),
    "waf_ip_set_updater.json": _fixed(json_keys(enabled=True)),
    "security_events_sqs.json": batch_failures(lambda event: []),
    "alert_dispatcher.json": delivered,
    "webhook_processor_batch.json": batch_failures(_poison),
    # every Stripe sample, re-signed now (signed at a fixed time, they are past Stripe's tolerance)
    **{
        name: _fixed(http_answer(200, json_keys(received=True)))
        for name in (
            "stripe_webhook_charge_refunded.json",
            "stripe_webhook_dispute_created.json",
            "stripe_webhook_invoice_payment_failed.json",
            "stripe_webhook_payment_failed.json",
            "stripe_webhook_payment_intent_succeeded.json",
            "stripe_webhook_subscription_created.json",
            "stripe_webhook_unknown_type.json",
        )
    },
}


def judge(event_name: str, event: Mapping[str, Any], stdout: str) -> Verdict:
    """Whether SAM's output holds the answer expected for this event; a one-line summary of it."""
    answer = sam_answer(stdout)
    if answer is None:
        return Verdict(False, "no answer (SAM printed no JSON)")
    if isinstance(answer, Mapping) and "errorType" in answer:
        return Verdict(False, f"{answer['errorType']}: {str(answer.get('errorMessage'))[:160]}")
    expectation = EXPECTATIONS.get(event_name)
    if expectation is None:
        return Verdict(False, f"no expectation for events/{event_name} in localdev/sam_local.py")
    problem = expectation(event)(answer)
    return Verdict(problem is None, problem or summary(answer))


def summary(answer: Any) -> str:
    if isinstance(answer, Mapping) and "statusCode" in answer:
        body = _body(answer)
        return f"{answer['statusCode']} {_keys(body) if isinstance(body, Mapping) else 'text'}"
    if isinstance(answer, Mapping) and "batchItemFailures" in answer:
        return f"batchItemFailures: {len(answer['batchItemFailures'])}"
    if isinstance(answer, Mapping) and isinstance(answer.get("notifications"), list):
        results = [item.get("results") or {} for item in answer["notifications"]]
        return "notifications: " + "; ".join(", ".join(f"{t} {s}" for t, s in r.items()) for r in results)
    if isinstance(answer, Mapping) and "policyDocument" in answer:
        return "policy " + ",".join(s.get("Effect", "?") for s in answer["policyDocument"].get("Statement", []))
    return _keys(answer) if answer is not None else "null"


# ---------------------------------------------------------------------------
# The env-vars file and the template SAM reads it with
# ---------------------------------------------------------------------------


def env_vars(environments: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """SAM's --env-vars document: each function's local environment, minus what SAM sets itself."""
    return {
        logical_id: {key: value for key, value in sorted(env.items()) if not key.startswith(SAM_OWNED)}
        for logical_id, env in environments.items()
    }


def declared(template: Mapping[str, Any], logical_id: str) -> set[str]:
    """The variables the template declares for a function (its own and Globals')."""
    globals_ = ((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}
    props = template["Resources"][logical_id].get("Properties") or {}
    return set(globals_.get("Variables") or {}) | set((props.get("Environment") or {}).get("Variables") or {})


def sam_template(built: Mapping[str, Any], build_dir: Path, values: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """The built template as `sam local` should read it with our env-vars file.

    SAM passes a function only the variables its template declares; the env-vars file can change
    their values but not add any. AWS_ENDPOINT_URL and STRIPE_API_BASE are nowhere in the template
    (in AWS they must stay unset), so without this a function would call real AWS and Stripe. This
    copy declares, per function, every variable the env-vars file gives it (empty; SAM fills in the
    file's value), and makes the code paths absolute so the copy can live outside the build dir.

    It also gives each function at least LOCAL_MIN_TIMEOUT seconds: SAM's emulator counts a cold
    container's init (the imports) inside the function's timeout, where Lambda gives init its own
    10 s, so on a loaded machine IpGuard's 3 s ran out before its handler was called. The
    template's own timeouts are checked by the unit tests, not here.
    """
    template: dict[str, Any] = json.loads(json.dumps(built))
    global_timeout = ((template.get("Globals") or {}).get("Function") or {}).get("Timeout", 3)
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = str((build_dir / props[key]).resolve())
        if resource.get("Type") == "AWS::Serverless::Function":
            timeout = props.get("Timeout", global_timeout)
            if isinstance(timeout, int) and timeout < LOCAL_MIN_TIMEOUT:
                props["Timeout"] = LOCAL_MIN_TIMEOUT
        if resource.get("Type") == "AWS::Serverless::Function" and logical_id in values:
            extra = sorted(set(values[logical_id]) - declared(built, logical_id))
            if extra:
                variables = props.setdefault("Environment", {}).setdefault("Variables", {})
                variables.update(dict.fromkeys(extra, ""))
    return template


def write_private(path: Path, document: Any) -> None:
    """A JSON file only its owner can read (it holds the local secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        json.dump(document, stream, indent=2)
        stream.write("\n")


def write_sam_files(root: Path, environments: Mapping[str, Mapping[str, str]]) -> tuple[Path, Path]:
    """.local/sam/env.json and .local/sam/template.json for the functions' environments."""
    build_dir = root / BUILD_DIR
    built_path = build_dir / "template.yaml"
    if not built_path.exists():
        raise SystemExit(f"{built_path} does not exist: run `make build` (sam build) first")
    values = env_vars(environments)
    write_private(root / ENV_FILE, values)
    write_private(root / TEMPLATE_FILE, sam_template(load_template(built_path), build_dir, values))
    return root / TEMPLATE_FILE, root / ENV_FILE


# ---------------------------------------------------------------------------
# Redis and MySQL: started when they do not answer, stopped again when we started them
# ---------------------------------------------------------------------------


def _answers(command: Sequence[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


SERVICES = {
    "redis": (
        ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"],
        ["redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"],
    ),
    "mysql": (
        ["mysqladmin", "--protocol=tcp", "-h", "127.0.0.1", "-P", "3306", "-uroot", "status"],
        ["mysqladmin", "--protocol=tcp", "-h", "127.0.0.1", "-P", "3306", "-uroot", "shutdown"],
    ),
}


@contextmanager
def services(root: Path, log: Log) -> Iterator[None]:
    down = [name for name, (probe, _) in SERVICES.items() if not _answers(probe)]
    if down:
        log(f"services: starting {', '.join(down)} (scripts/ensure-services)")
        subprocess.run([str(root / "scripts" / "ensure-services")], check=False)
    try:
        yield
    finally:
        for name in down:
            log(f"services: stopping {name} (started for this run)")
            subprocess.run(SERVICES[name][1], capture_output=True, check=False)


# ---------------------------------------------------------------------------
# sam local invoke
# ---------------------------------------------------------------------------


@dataclass
class Outcome:
    function: str
    event: str
    verdict: Verdict
    seconds: float

    def line(self) -> str:
        mark = "ok  " if self.verdict.ok else "FAIL"
        return f"{mark} {self.function:32} {self.event:52} {self.verdict.answer[:70]:70} {self.seconds:5.1f}s"


class SamRunner:
    def __init__(
        self, root: Path, template: Path, env_file: Path, *, env: Mapping[str, str], skip_pull: bool, log: Log
    ) -> None:
        self.root = root
        self.template = template
        self.env_file = env_file
        self.env = dict(env)
        self.skip_pull = skip_pull
        self.log = log
        self.sam = str(Path(sys.executable).with_name("sam"))
        if not Path(self.sam).exists():
            self.sam = shutil.which("sam") or "sam"

    def common(self) -> list[str]:
        flags = ["--template", str(self.template), "--env-vars", str(self.env_file), "--container-host", LOOPBACK]
        return [*flags, "--skip-pull-image"] if self.skip_pull else flags

    def invoke(self, function: str, event_file: Path, log_file: Path) -> tuple[str, float]:
        """SAM's stdout (also kept beside its stderr, in log_file with .out) and the seconds it took."""
        command = [self.sam, "local", "invoke", function, "--event", str(event_file), *self.common()]
        started = time.monotonic()
        with log_file.open("w", encoding="utf-8") as stderr:
            try:
                result = subprocess.run(
                    command,
                    cwd=self.root,
                    env=self.env,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    timeout=INVOKE_TIMEOUT,
                    check=False,
                )
                stdout = result.stdout
            except subprocess.TimeoutExpired as error:
                stdout = error.stdout.decode() if isinstance(error.stdout, bytes) else str(error.stdout or "")
        log_file.with_suffix(".out").write_text(stdout, encoding="utf-8")
        return stdout, time.monotonic() - started


def prepared_event(case: Case, environments: Mapping[str, Mapping[str, str]], scratch: Path) -> tuple[Path, Any]:
    """The event file SAM gets: the sample itself, or a Stripe sample signed now with the local secret."""
    event = json.loads(case.event.read_text(encoding="utf-8"))
    headers = event.get("headers") if isinstance(event, dict) else None
    if not (isinstance(headers, dict) and any(name.lower() == "stripe-signature" for name in headers)):
        return case.event, event
    from localdev.stripe_sign import resign  # noqa: PLC0415 - imports stripe only when needed

    secret = environments.get(case.function or "", {}).get("STRIPE_WEBHOOK_SECRET", "").split(",")[0]
    event = resign(event, secret, new_id=True)
    path = scratch / case.event.name
    path.write_text(json.dumps(event), encoding="utf-8")
    return path, event


# Events whose expectation needs a state the others change: the alerts API's samples expect no
# active payment_failure alert (404), which the webhook batch and the scheduled checks may raise.
FIRST = ("alerts_",)


def phases(found: Sequence[Case]) -> list[list[Case]]:
    """The cases in the order their expectations need: FIRST's, then the rest (each phase may run in parallel)."""
    first = [case for case in found if case.event.name.startswith(FIRST)]
    rest = [case for case in found if not case.event.name.startswith(FIRST)]
    return [phase for phase in (first, rest) if phase]


def run_case(runner: SamRunner, case: Case, environments: Mapping[str, Mapping[str, str]]) -> Outcome:
    name = case.event.name
    if case.function is None:
        return Outcome("-", f"events/{name}", Verdict(False, "no function of template.yaml receives it"), 0.0)
    scratch = runner.root / STATE_DIR / "events"
    event_file, event = prepared_event(case, environments, scratch)
    log_name = STATE_DIR / "logs" / f"{case.event.stem}.log"
    stdout, seconds = runner.invoke(case.function, event_file, runner.root / log_name)
    retried = False
    if sam_answer(stdout) is None:
        # The container never answered (seen once: IpGuard's 3 s timeout spent starting the container
        # while other invokes built theirs). Once more: a function that cannot answer fails again.
        retried = True
        stdout, more = runner.invoke(case.function, event_file, runner.root / log_name)
        seconds += more
    verdict = judge(name, event, stdout)
    if retried:
        verdict.answer += " (answered on the second try)" if verdict.ok else " (twice)"
    if not verdict.ok:
        verdict.answer += f" (log: {log_name})"
    return Outcome(case.function, f"events/{name}", verdict, seconds)


def run_invokes(
    runner: SamRunner, found: Sequence[Case], environments: Mapping[str, Mapping[str, str]], log: Log, jobs: int = 1
) -> list[Outcome]:
    """`sam local invoke` for every case, `jobs` at a time (concurrent invokes of one image share
    SAM's image build); lines in the cases' order."""
    for folder in ("events", "logs"):
        (runner.root / STATE_DIR / folder).mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for phase in phases(found):
            for outcome in pool.map(lambda case: run_case(runner, case, environments), phase):
                outcomes.append(outcome)
                log(outcome.line())
    return outcomes


# ---------------------------------------------------------------------------
# sam local start-api
# ---------------------------------------------------------------------------

# SAM's answer for a route behind the IpGuard authorizer: its local request context carries no
# identity.sourceIp (the authorizer's identity source), so SAM refuses before any function runs.
SAM_UNAUTHORIZED = {"message": "Unauthorized"}


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    status: int
    check: Callable[[Any], str | None] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None


def api_requests(template: Template, secrets: Mapping[str, str]) -> list[ApiRequest]:
    """One request per route of the template: what SAM answers for it."""
    alerts = (("X-Alerts-Secret", secrets.get("ALERTS_API_SECRET", "")),)
    admin = (("X-Alerts-Admin-Secret", secrets.get("ALERTS_ADMIN_SECRET", "")),)  # blocks and unblocks
    blocks = "/api/security/blocks/203.0.113.9"
    requests: list[ApiRequest] = []
    for route in routes_from_template(template):
        path = re.sub(r"\{[^}]+\}", "payment_failure", route.path)
        method = "GET" if route.method == "ANY" else route.method
        if route.authorizer:
            requests.append(ApiRequest(method, path, 401, lambda body: _equal(body, SAM_UNAUTHORIZED)))
    # The blocks API has no authorizer: SAM runs SecurityApiFunction for it, end to end.
    if any(not route.authorizer for route in routes_from_template(template)):
        block = json.dumps({"hours": 1, "reason": "sam local start-api", "by": "make sam-local"})
        as_json = (*admin, ("Content-Type", "application/json"))
        requests += [
            ApiRequest("GET", blocks, 404, json_keys("error"), alerts),  # never blocked
            ApiRequest("PUT", blocks, 401, json_keys("error"), alerts, block),  # the read secret cannot block
            ApiRequest("PUT", blocks, 200, block_state(blocked=True), as_json, block),
            ApiRequest("GET", blocks, 200, block_state(blocked=True), alerts),
            ApiRequest("DELETE", blocks, 200, block_state(blocked=False), admin),
            ApiRequest("GET", blocks, 401, json_keys("error")),  # no secret
        ]
    return requests


def block_state(*, blocked: bool) -> Check:
    def check(body: Any) -> str | None:
        return json_keys("block")(body) or json_keys(blocked=blocked)(body["block"])

    return check


def _equal(body: Any, expected: Any) -> str | None:
    return None if body == expected else f"body {json.dumps(body)[:160]}, expected {json.dumps(expected)}"


def _request(port: int, request: ApiRequest) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=INVOKE_TIMEOUT)
    try:
        connection.request(request.method, request.path, body=request.body, headers=dict(request.headers))
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, data.decode(errors="replace")


def run_start_api(
    runner: SamRunner, template: Template, secrets: Mapping[str, str], log: Log, startup_timeout: float = 90.0
) -> list[Outcome]:
    port = free_port()
    log_path = runner.root / STATE_DIR / "logs" / "start-api.log"
    command = [
        runner.sam, "local", "start-api", "--host", LOOPBACK, "--port", str(port), "--warm-containers", "LAZY",
        *runner.common(),
    ]  # fmt: skip
    outcomes: list[Outcome] = []
    with log_path.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            command, cwd=runner.root, env=runner.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + startup_timeout
            while not _listening(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    verdict = Verdict(False, f"start-api did not listen on {port} (log: {log_path})")
                    return [Outcome("start-api", "-", verdict, 0.0)]
                time.sleep(0.2)
            for request in api_requests(template, secrets):
                started = time.monotonic()
                try:
                    status, body = _request(port, request)
                    problem = (
                        f"status {status}, expected {request.status}: {str(body)[:160]}"
                        if status != request.status
                        else (request.check(body) if request.check else None)
                    )
                    answer = problem or f"{status} {_keys(body) if isinstance(body, Mapping) else 'text'}"
                except OSError as error:
                    problem, answer = str(error), f"no answer: {error}"
                outcome = Outcome(
                    "start-api", f"{request.method} {request.path}", Verdict(problem is None, answer),
                    time.monotonic() - started,
                )  # fmt: skip
                outcomes.append(outcome)
                log(outcome.line())
        finally:
            _interrupt(process)
    return outcomes


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


def _interrupt(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, which start-api handles as a shutdown (it removes its warm containers; SIGINT may be
    ignored in a background job); SIGKILL after 30 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


# ---------------------------------------------------------------------------
# The whole run
# ---------------------------------------------------------------------------


def sam_environment(engine: Engine, moto_url: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """SAM's own environment: this shell's, without its AWS settings, with dummy keys and the local
    moto server as AWS (SAM asks STS for the account id before every invoke; real AWS is not there,
    and its retries cost seconds), and the engine's DOCKER_HOST."""
    env = {key: value for key, value in (os.environ if base is None else base).items() if not key.startswith("AWS_")}
    env.update(SAM_PROCESS_ENV)
    env["AWS_ENDPOINT_URL"] = moto_url
    env.update(engine.environment())
    return env


def _warnings_only(log: Log) -> Log:
    def stack_log(line: str) -> None:
        if line.startswith("warning"):
            log(f"local stack: {line}")

    return stack_log


def report(outcomes: Sequence[Outcome], timings: Mapping[str, float], log: Log) -> int:
    passed = sum(outcome.verdict.ok for outcome in outcomes)
    failed = len(outcomes) - passed
    figures = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items())
    log(f"timings: {figures}")
    log(f"{passed} passed, {failed} failed")
    return 1 if failed or not outcomes else 0


def run(root: Path, only: Iterable[str] | None, with_api: bool, log: Log, jobs: int = 4) -> int:
    started = time.monotonic()
    template = load_template(root / "template.yaml")
    wanted = set(only or [])
    found = [case for case in cases(template, root / "events") if not wanted or case.event.name in wanted]
    timings: dict[str, float] = {}
    engine = Engine(root / STATE_DIR / "engine", log)
    with ExitStack() as stack:
        stack.callback(engine.stop)
        try:
            engine.start()
        except EngineError as error:
            log(f"engine: {error}")
            return report([], timings, log)
        timings["engine install"] = engine.install_seconds
        timings["dockerd start"] = engine.start_seconds
        api = engine.api
        skip_pull = True
        if api is not None:
            if engine.started_own:
                timings["image build"] = ensure_base_image(api, root, log)
            elif not api.has_image(BASE_IMAGE):
                log(f"image: {BASE_IMAGE} is not on this engine; SAM will pull it")
                skip_pull = False
        stack.enter_context(services(root, log))
        # No pollers or schedules: SAM is the only one to invoke anything; the stack's own warnings only.
        local = LocalStack.on_free_ports(
            template_path=root / "template.yaml", event_sources=False, schedules=False, log=_warnings_only(log)
        )
        stack.enter_context(local)
        log(f"local stack: moto {local.moto_url}, localstripe {local.stripe_url}")
        environments = {spec.logical_id: local.environment(spec.logical_id) for spec in functions(template)}
        template_file, env_file = write_sam_files(root, environments)
        runner = SamRunner(
            root, template_file, env_file, env=sam_environment(engine, local.moto_url), skip_pull=skip_pull, log=log
        )
        invokes_started = time.monotonic()
        outcomes = run_invokes(runner, found, environments, log, jobs)
        timings["invokes"] = time.monotonic() - invokes_started
        if with_api:
            api_started = time.monotonic()
            secrets = environments.get("SecurityApiFunction", {})
            outcomes += run_start_api(runner, template, secrets, log)
            timings["start-api"] = time.monotonic() - api_started
        timings["total"] = time.monotonic() - started
    return report(outcomes, timings, log)


def prepare(root: Path, log: Log) -> int:
    """The engine and the base image, ready for a later run; the dockerd started for it is stopped again."""
    started = time.monotonic()
    timings: dict[str, float] = {}
    engine = Engine(root / STATE_DIR / "engine", log)
    try:
        engine.start()
        timings["engine install"] = engine.install_seconds
        timings["dockerd start"] = engine.start_seconds
        api = engine.api
        if api is not None and engine.started_own:
            timings["image build"] = ensure_base_image(api, root, log)
    except EngineError as error:
        log(f"engine: {error}")
        return 1
    finally:
        engine.stop()
    timings["total"] = time.monotonic() - started
    log("prepare timings: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items()))
    return 0


def write_env(root: Path, log: Log) -> int:
    """The env-vars file for your own `sam local`: the running `make local` stack's, else .env's."""
    from localdev.invoke import environment_for  # noqa: PLC0415 - only this subcommand needs it

    template = load_template(root / "template.yaml")
    path = root / "template.yaml"
    with redirect_stderr(io.StringIO()) as warnings:  # environment_for warns once per function
        environments = {spec.logical_id: environment_for(spec.logical_id, path) for spec in functions(template)}
    for line in dict.fromkeys(warnings.getvalue().splitlines()):
        sys.stderr.write(line + "\n")
    template_file, env_file = write_sam_files(root, environments)
    log(f"wrote {env_file.relative_to(root)} and {template_file.relative_to(root)}; use them as")
    log(f"  sam local invoke -t {template_file.relative_to(root)} --env-vars {env_file.relative_to(root)} "
        "--skip-pull-image HealthFunction -e events/health.json")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.sam_local", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=("test", "prepare", "env"), default="test")
    parser.add_argument("--event", action="append", help="only this events/ file name (repeatable)")
    parser.add_argument("--no-api", action="store_true", help="skip sam local start-api")
    parser.add_argument("--jobs", type=int, default=4, help="invokes at a time (default 4)")
    args = parser.parse_args(argv)
    root = PROJECT_ROOT

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # unwinds the run: containers, dockerd, stack and services stop

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    if args.command == "env":
        return write_env(root, _log)
    if args.command == "prepare":
        return prepare(root, _log)
    return run(root, args.event, not args.no_api, _log, args.jobs)


if __name__ == "__main__":
    sys.exit(main())

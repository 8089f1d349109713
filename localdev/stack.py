"""`python -m localdev.stack` (what `make local` runs): the whole bundle on loopback, from template.yaml.

- moto server (AWS) on 127.0.0.1:5000 with the template's queues, tables, topics, event buses and
  rules (an EventBridge rule with an SQS target delivers to it, as in AWS),
- localstripe on 127.0.0.1:8420,
- the MySQL database DB_DATABASE created if missing and migrated (`make migrate`; Redis and MySQL
  themselves come from .env),
- the API on 127.0.0.1:3000, one Lambda sandbox pool per function,
- SQS pollers, SNS deliveries and rate() schedules for the functions the template subscribes,
- every email, SNS notification and SMS printed as it is sent; Slack posts go to a local capture
  (ALERT_SLACK_WEBHOOK, when .env leaves it empty) and are printed too.

Ports come from LOCAL_API_PORT, LOCAL_MOTO_PORT and LOCAL_STRIPE_PORT. Ctrl-C stops everything.
LocalStack is the same thing as a class, for tests (`with LocalStack.on_free_ports() as stack:`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from localdev.apigw import ApiGateway
from localdev.net import LOOPBACK, PortInUseError, check_port_free, free_port
from localdev.runtime import FunctionPool, FunctionWorker, InvocationResult
from localdev.services import MotoServer, ServiceError, StripeServer, ensure_database
from localdev.slack import SlackCapture
from localdev.sources import ScheduleRunner, SentMessageTap, SnsDelivery, SqsPoller
from localdev.template import (
    DEFAULT_REGION,
    FunctionSpec,
    LocalResources,
    Template,
    TemplateError,
    create_resources,
    function_environment,
    functions,
    layer_content_uri,
    load_dotenv,
    load_template,
    local_overrides,
    verify_ses_identities,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_FILE = Path(".local") / "stack.json"
DEFAULT_PORTS = {"LOCAL_API_PORT": 3000, "LOCAL_MOTO_PORT": 5000, "LOCAL_STRIPE_PORT": 8420}
CODE_MODES = ("source", "artifact")

_print_lock = threading.Lock()


def console(line: str) -> None:
    """One timestamped line on stdout (lines from many threads never interleave)."""
    stamp = time.strftime("%H:%M:%S")
    with _print_lock:
        for index, part in enumerate(line.splitlines() or [""]):
            sys.stdout.write(f"{stamp} {part}\n" if index == 0 else f"         {part}\n")
        sys.stdout.flush()


def stack_overrides(
    template: Template,
    dotenv: Mapping[str, str],
    environ: Mapping[str, str],
    *,
    stripe_url: str | None,
) -> dict[str, str]:
    """.env, then the stack's own endpoints (its localstripe), then whatever the shell sets explicitly."""
    overrides = local_overrides(template, dotenv, environ)
    if stripe_url and "STRIPE_API_BASE" not in environ:
        overrides["STRIPE_API_BASE"] = stripe_url
    return overrides


def code_paths(
    template: Template, spec: FunctionSpec, root: Path, code: str, build_dir: Path | None = None
) -> tuple[Path, list[Path]]:
    """Where a function's code and its layers are: the source tree, or `sam build`'s artifact
    (build_dir, default <root>/.aws-sam/build)."""
    if code == "source":
        return root / spec.code_uri, [root / layer_content_uri(template, layer) for layer in spec.layers]
    if code == "artifact":
        build = build_dir or root / ".aws-sam" / "build"
        code_dir = build / spec.logical_id
        if not code_dir.is_dir():
            raise FileNotFoundError(f"{code_dir} does not exist: run `make build` (sam build) first")
        # A python layer's build output keeps its packages under python/, mounted at /opt/python.
        return code_dir, [build / layer / "python" for layer in spec.layers]
    raise ValueError(f"code must be one of {CODE_MODES}, not {code!r}")


def default_python(root: Path, code: str) -> str:
    """The interpreter a sandbox runs: the Lambda-like runtime venv for the artifact, else this one."""
    if code == "artifact":
        for base in (root, PROJECT_ROOT):
            runtime = base / ".venv-runtime" / "bin" / "python"
            if runtime.exists():
                return str(runtime)
    return sys.executable


class LocalStack:
    """Everything `make local` runs, startable in-process (tests) and stoppable without orphans."""

    def __init__(
        self,
        *,
        api_port: int = 3000,
        moto_port: int = 5000,
        stripe_port: int = 8420,
        host: str = LOOPBACK,
        code: str = "source",
        template_path: str | os.PathLike[str] | None = None,
        env_file: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        python: str | os.PathLike[str] | None = None,
        region: str = DEFAULT_REGION,
        max_instances: int = 4,
        ensure_db: bool = True,
        event_sources: bool = True,
        schedules: bool = True,
        schedule_interval: float | None = None,
        tap_interval: float = 1.0,
        log: Callable[[str], None] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        only: Iterable[str] | None = None,
        build_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if code not in CODE_MODES:
            raise ValueError(f"code must be one of {CODE_MODES}, not {code!r}")
        self.template_path = Path(template_path) if template_path else PROJECT_ROOT / "template.yaml"
        self.root = self.template_path.resolve().parent
        self.template = load_template(self.template_path)
        self.code = code
        self.build_dir = Path(build_dir) if build_dir else None
        self.host = host
        self.region = region
        self.api_port = api_port or free_port(host)
        self.python = str(python) if python else default_python(self.root, code)
        self.env_file = Path(env_file) if env_file else self.root / ".env"
        self.environ = dict(os.environ if environ is None else environ)
        self.max_instances = max_instances
        self.ensure_db = ensure_db
        self.event_sources = event_sources
        self.schedules = schedules
        self.schedule_interval = schedule_interval
        self.tap_interval = tap_interval
        self.log = log or console
        log_path = Path(log_dir) if log_dir else None
        self.moto = MotoServer(moto_port or None, host, log_path / "moto.log" if log_path else None, region=region)
        self.stripe = StripeServer(stripe_port or None, host, log_path / "localstripe.log" if log_path else None)
        wanted = set(only) if only is not None else None
        self.functions = {
            spec.logical_id: spec for spec in functions(self.template) if wanted is None or spec.logical_id in wanted
        }
        self.resources = LocalResources(region=region)
        self.overrides: dict[str, str] = {}
        self.pools: dict[str, FunctionPool] = {}
        self.api: ApiGateway | None = None
        self.pollers: list[SqsPoller] = []
        self.deliveries: list[SnsDelivery] = []
        self.runners: list[ScheduleRunner] = []
        self.tap: SentMessageTap | None = None
        self.slack: SlackCapture | None = None
        self._started = False

    @classmethod
    def on_free_ports(cls, **kwargs: Any) -> LocalStack:
        """A stack on ports the kernel picks, for tests that must not collide with `make local`."""
        return cls(api_port=0, moto_port=0, stripe_port=0, **kwargs)

    # -- addresses -------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def moto_url(self) -> str:
        return self.moto.url

    @property
    def stripe_url(self) -> str:
        return self.stripe.url

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        check_port_free(self.host, self.api_port, "API", "LOCAL_API_PORT")
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.moto.start()
        self.stripe.start()
        self.resources = create_resources(self.moto.url, self.region, self.template)
        self.overrides = stack_overrides(
            self.template, load_dotenv(self.env_file), self.environ, stripe_url=self.stripe.url
        )
        self.slack = SlackCapture(self.log, self.host).start()
        if not self.overrides.get("ALERT_SLACK_WEBHOOK"):
            self.overrides["ALERT_SLACK_WEBHOOK"] = self.slack.url
        sender = self.overrides.get("ALERT_EMAIL_FROM")
        if sender:
            verify_ses_identities(self.moto.url, self.region, [sender])
        if self.ensure_db:
            self._ensure_database()
        for logical_id, spec in self.functions.items():
            self.pools[logical_id] = FunctionPool(self._factory(spec), self.max_instances)
        self.api = ApiGateway.from_template(
            self.template,
            self._invoke_from_api,
            host=self.host,
            port=self.api_port,
            log=self.log,
            available_functions=set(self.functions),
        )
        self.api.start()
        if self.event_sources:
            self._start_event_sources()
        self.tap = SentMessageTap(self.moto.url, self.log, interval=self.tap_interval)
        self.tap.start()

    def _ensure_database(self) -> None:
        name = self.overrides.get("DB_DATABASE")
        if not name:
            return
        try:
            ensure_database(
                self.overrides.get("DB_HOST", "127.0.0.1"),
                int(self.overrides.get("DB_PORT", "3306")),
                self.overrides.get("DB_USERNAME", "root"),
                self.overrides.get("DB_PASSWORD", ""),
                name,
            )
        except Exception as error:  # the health check reports a missing database; the stack still runs
            self.log(f"warning: could not ensure MySQL database {name!r}: {error}")
            return
        # The bundle's migrations (security_logs), as `make migrate` applies them.
        from platform_monitoring.core.settings import DatabaseSettings  # noqa: PLC0415
        from platform_monitoring.tools.migrate import migrate  # noqa: PLC0415 - the stack's own process

        try:
            applied = migrate(DatabaseSettings.from_env(self.overrides))
        except Exception as error:
            self.log(f"warning: could not apply the MySQL migrations to {name!r}: {error}")
            return
        if applied:
            self.log(f"MySQL {name}: applied {', '.join(applied)}")

    def _start_event_sources(self) -> None:
        for logical_id, spec in self.functions.items():
            pool = self.pools[logical_id]

            def invoke(event: dict[str, Any], pool: FunctionPool = pool) -> InvocationResult:
                return pool.invoke(event)

            for sqs in spec.sqs_events:
                if not sqs.enabled:
                    continue
                queue = self.resources[sqs.queue]
                poller = SqsPoller(
                    logical_id,
                    sqs,
                    queue["QueueUrl"],
                    queue["Arn"],
                    invoke,
                    endpoint_url=self.moto.url,
                    region=self.region,
                    log=self.log,
                )
                self.pollers.append(poller)
            dead_letter_queue = self.resources.get(spec.dead_letter_queue or "", {}).get("QueueUrl")
            for sns in spec.sns_events:
                delivery = SnsDelivery(
                    logical_id,
                    sns,
                    self.resources[sns.topic]["Arn"],
                    invoke,
                    endpoint_url=self.moto.url,
                    region=self.region,
                    log=self.log,
                    attempts=spec.async_attempts,
                    dead_letter_queue_url=dead_letter_queue,
                )
                self.deliveries.append(delivery)
            for schedule in spec.schedule_events:
                if not schedule.enabled:
                    continue
                if schedule.interval_seconds is None and self.schedule_interval is None:
                    self.log(
                        f"note: {logical_id} {schedule.expression} is not run locally (cron); "
                        "use trigger_schedule() or make invoke"
                    )
                    continue
                runner = ScheduleRunner(
                    logical_id,
                    schedule,
                    invoke,
                    region=self.region,
                    log=self.log,
                    interval=self.schedule_interval,
                )
                self.runners.append(runner)
        for thread in [*self.pollers, *self.deliveries, *(self.runners if self.schedules else [])]:
            thread.start()

    def stop(self) -> None:
        """Stop everything this stack started (idempotent)."""
        if not self._started:
            return
        self._started = False
        threads = [*self.pollers, *self.deliveries, *self.runners, *([self.tap] if self.tap else [])]
        for thread in threads:
            thread.stop()
        if self.api is not None:
            self.api.stop()
            self.api = None
        for pool in self.pools.values():
            pool.stop()  # also ends in-flight invocations of pollers and schedules
        for thread in threads:
            if thread.is_alive():
                thread.join(10)
        self.pools = {}
        self.pollers, self.deliveries, self.runners, self.tap = [], [], [], None
        if self.slack is not None:
            self.slack.stop()
            self.slack = None
        self.stripe.stop()
        self.moto.stop()

    # -- functions -------------------------------------------------------------

    def environment(self, logical_id: str) -> dict[str, str]:
        """The environment a function runs with in this stack."""
        return function_environment(self.template, logical_id, self.resources, self.overrides)

    def _factory(self, spec: FunctionSpec) -> Callable[[], FunctionWorker]:
        code_dir, layer_dirs = code_paths(self.template, spec, self.root, self.code, self.build_dir)
        environment = self.environment(spec.logical_id)

        def function_log(name: str, line: str) -> None:
            self.log(f"[{name}] {line}")

        def make() -> FunctionWorker:
            return FunctionWorker.for_function(
                spec,
                code_dir,
                layer_dirs,
                environment,
                python=self.python,
                log=function_log,
                region=self.region,
            )

        return make

    def invoke(self, logical_id: str, event: Any, timeout: float | None = None) -> InvocationResult:
        """Invoke a function directly (like `aws lambda invoke` against the stack)."""
        if logical_id not in self.pools:
            raise KeyError(f"no function {logical_id!r} in this stack ({', '.join(self.pools)})")
        return self.pools[logical_id].invoke(event, timeout)

    def _invoke_from_api(self, logical_id: str, event: dict[str, Any]) -> InvocationResult:
        return self.invoke(logical_id, event)

    def trigger_schedule(self, logical_id: str, event_name: str | None = None) -> InvocationResult:
        """Run a scheduled function now, with the payload its schedule would send."""
        for runner in self.runners:
            if runner.function == logical_id and event_name in (None, runner.event.name):
                return runner.run_once()
        raise KeyError(f"{logical_id} has no schedule {event_name or ''} in this stack")

    def sent_messages(self) -> list[dict[str, Any]]:
        """Emails, SNS notifications, SMS (polls moto once more first) and Slack posts sent so far."""
        if self.tap is None:
            return []
        self.tap.poll()
        slack = [
            {"id": f"slack:{index}", "channel": "slack", "to": "slack", "subject": None, "body": text}
            for index, text in enumerate(self.slack.texts() if self.slack else [])
        ]
        return [*self.tap.messages, *slack]

    # -- reporting -------------------------------------------------------------

    def banner(self) -> str:
        lines = [f"local stack ({self.code} code, {Path(self.python).name} {self.python})"]
        lines.append(f"  API          {self.api_url}")
        for spec in self.functions.values():
            for event in spec.api_events:
                lines.append(f"    {event.method.upper():6} {event.path:40} -> {spec.logical_id}")
        lines.append(f"  AWS (moto)   {self.moto.url}   sent messages: {self.moto.url}/moto-api/data.json")
        lines.append(f"  Stripe       {self.stripe.url}")
        if self.slack is not None and self.overrides.get("ALERT_SLACK_WEBHOOK") == self.slack.url:
            lines.append(f"  Slack        {self.slack.url}   (captured and printed)")
        for poller in self.pollers:
            lines.append(f"  SQS          {poller.event.queue} -> {poller.function} (batch {poller.event.batch_size})")
        for delivery in self.deliveries:
            lines.append(f"  SNS          {delivery.event.topic} -> {delivery.function}")
        for runner in self.runners:
            state = "" if self.schedules else " (disabled)"
            lines.append(f"  schedule     {runner.event.expression} -> {runner.function}{state}")
        lines.append(
            f"  MySQL {self.overrides.get('DB_HOST')}:{self.overrides.get('DB_PORT')}/"
            f"{self.overrides.get('DB_DATABASE')}   Redis {self.overrides.get('REDIS_URL')}"
        )
        lines.append("Ctrl-C stops everything.")
        return "\n".join(lines)

    def state(self) -> dict[str, Any]:
        """What `make invoke` needs to reach this stack (written to .local/stack.json)."""
        return {
            "pid": os.getpid(),
            "code": self.code,
            "api_url": self.api_url,
            "moto_url": self.moto.url,
            "stripe_url": self.stripe.url,
            "env_file": str(self.env_file),
            "resources": self.resources.to_json(),
            "environments": {logical_id: self.environment(logical_id) for logical_id in self.functions},
        }


def read_state(root: Path = PROJECT_ROOT) -> dict[str, Any] | None:
    """The running `make local` stack's state, or None when none is running."""
    path = root / STATE_FILE
    try:
        state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return state


def _port(value: int | None, name: str, dotenv: Mapping[str, str]) -> int:
    if value is not None:
        return value
    raw = os.environ.get(name) or dotenv.get(name) or str(DEFAULT_PORTS[name])
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"localdev: {name}={raw!r} is not a port number") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", choices=CODE_MODES, default="source", help="run functions/ or .aws-sam/build")
    parser.add_argument("--template", default=str(PROJECT_ROOT / "template.yaml"))
    parser.add_argument("--api-port", type=int)
    parser.add_argument("--moto-port", type=int)
    parser.add_argument("--stripe-port", type=int)
    parser.add_argument("--build-dir", help="sam build output for --code artifact (default .aws-sam/build)")
    parser.add_argument("--max-instances", type=int, default=4, help="concurrent sandboxes per function")
    parser.add_argument("--no-schedules", action="store_true", help="do not run rate() schedules")
    args = parser.parse_args(argv)

    root = Path(args.template).resolve().parent
    dotenv = load_dotenv(root / ".env")
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    try:
        stack = LocalStack(
            api_port=_port(args.api_port, "LOCAL_API_PORT", dotenv),
            moto_port=_port(args.moto_port, "LOCAL_MOTO_PORT", dotenv),
            stripe_port=_port(args.stripe_port, "LOCAL_STRIPE_PORT", dotenv),
            code=args.code,
            build_dir=args.build_dir,
            template_path=args.template,
            schedules=not args.no_schedules,
            max_instances=args.max_instances,
            log_dir=root / ".local" / "logs",
        )
        stack.start()
    except PortInUseError as error:
        print(f"localdev: {error.strerror}", file=sys.stderr)
        return 2
    except (ServiceError, TemplateError, FileNotFoundError, OSError) as error:
        print(f"localdev: could not start the local stack: {error}", file=sys.stderr)
        return 1

    state_path = root / STATE_FILE
    try:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        # 0600: it holds the functions' environments, local secrets included.
        descriptor = os.open(state_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(stack.state(), handle, indent=2)
        console(stack.banner())
        while not stopping.wait(0.5):
            pass
    finally:
        console("stopping...")
        stack.stop()
        state_path.unlink(missing_ok=True)
        console("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

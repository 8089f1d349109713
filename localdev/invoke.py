"""`python -m localdev.invoke <LogicalId> <event.json>`: the Docker-free `sam local invoke`.

Runs the function once in a fresh sandbox (the same FunctionWorker the stack uses) with the
environment of the running `make local` stack (read from .local/stack.json), so it reaches the
same moto, localstripe, Redis and MySQL. Variables set in this shell still win, as everywhere.
Without a running stack the function gets the addresses from .env and a warning is printed.

stdout: the function's response JSON (or its error document); stderr: its logs and the REPORT
line. Exit status 1 when the function failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from localdev.runtime import FunctionWorker
from localdev.stack import CODE_MODES, PROJECT_ROOT, code_paths, default_python, read_state, stack_overrides
from localdev.template import (
    DEFAULT_REGION,
    LocalResources,
    TemplateError,
    describe_resources,
    function,
    function_environment,
    load_dotenv,
    load_template,
    local_overrides,
)


def _log(name: str, line: str) -> None:
    sys.stderr.write(f"[{name}] {line}\n")


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/reset-auth", timeout=1):  # noqa: S310 - loopback
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def environment_for(logical_id: str, template_path: Path) -> dict[str, str]:
    """The function's environment: the running stack's, or one computed from .env when none runs."""
    template = load_template(template_path)
    root = template_path.parent
    state = read_state(root)
    if state is not None and logical_id in state.get("environments", {}):
        env: dict[str, str] = dict(state["environments"][logical_id])
        env.update(local_overrides(template, {}, os.environ))  # this shell's explicit values
        return env
    dotenv = load_dotenv(root / ".env")
    moto_url = f"http://127.0.0.1:{os.environ.get('LOCAL_MOTO_PORT') or dotenv.get('LOCAL_MOTO_PORT') or 5000}"
    if not _reachable(moto_url):
        sys.stderr.write(
            f"warning: no local stack is running (nothing at {moto_url}); start `make local` in another "
            "terminal for AWS, Stripe and the database\n"
        )
    resources: LocalResources = describe_resources(template, moto_url, DEFAULT_REGION)
    overrides = stack_overrides(template, dotenv, os.environ, stripe_url=None)
    return function_environment(template, logical_id, resources, overrides)


def _read_event(path: str) -> Any:
    raw = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return json.loads(raw) if raw.strip() else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("function", help="logical id in template.yaml, e.g. HealthFunction")
    parser.add_argument("event", nargs="?", default="-", help="event JSON file ('-' or absent: stdin)")
    parser.add_argument("--template", default=str(PROJECT_ROOT / "template.yaml"))
    parser.add_argument("--code", choices=CODE_MODES, default="source")
    parser.add_argument("--build-dir", help="sam build output for --code artifact (default .aws-sam/build)")
    parser.add_argument("--python", help="interpreter for the sandbox (default: this one; artifact: .venv-runtime)")
    parser.add_argument("--timeout", type=float, help="seconds (default: the function's Timeout)")
    args = parser.parse_args(argv)

    template_path = Path(args.template).resolve()
    try:
        template = load_template(template_path)
        spec = function(template, args.function)
        event = _read_event(args.event)
        code_dir, layer_dirs = code_paths(
            template, spec, template_path.parent, args.code, Path(args.build_dir) if args.build_dir else None
        )
        environment = environment_for(args.function, template_path)
    except (TemplateError, OSError, ValueError) as error:
        sys.stderr.write(f"localdev.invoke: {error}\n")
        return 2

    worker = FunctionWorker.for_function(
        spec,
        code_dir,
        layer_dirs,
        environment,
        python=args.python or default_python(template_path.parent, args.code),
        log=_log,
        region=environment.get("AWS_REGION", DEFAULT_REGION),
    )
    try:
        result = worker.invoke(event, args.timeout)
    finally:
        worker.stop()
    sys.stderr.write(result.report() + "\n")
    sys.stdout.write(json.dumps(result.payload if result.ok else result.error) + "\n")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The emulated services the local stack runs: moto (AWS) and localstripe (Stripe), each its own process.

Separate processes, not threads: moto's and localstripe's state is process-global, so an in-process
server would share (and be reset by) whatever moto mock_aws() or localstripe use the tests make.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from localdev import procs
from localdev.net import LOOPBACK, check_port_free, free_port, wait_for_http
from localdev.template import DEFAULT_REGION

STARTUP_TIMEOUT = 30.0
# localdev is not installed (it is the dev stack, not part of the wheel): its servers run as
# `python -m localdev.<module>` from the repository root, wherever the caller's cwd is.
REPO_ROOT = Path(__file__).resolve().parents[1]


class ServiceError(RuntimeError):
    """An emulated service did not start."""


class _Service:
    what = "service"
    env_var: str | None = None

    def __init__(self, port: int | None = None, host: str = LOOPBACK, log_file: str | Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_file = Path(log_file) if log_file else None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready_url(self) -> str:
        return self.url

    def ready_headers(self) -> dict[str, str]:
        return {}

    def start(self) -> None:
        check_port_free(self.host, self.port, self.what, self.env_var)
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_file.open("wb")  # this run's log only
        output: int | IO[bytes] = self._log if self._log is not None else subprocess.DEVNULL
        self._process = procs.spawn(self.command(), cwd=REPO_ROOT, stdout=output, stderr=output)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self.stop()
                raise ServiceError(f"{self.what} exited with status {code} while starting{self._log_hint()}")
            try:
                wait_for_http(self.ready_url(), timeout=0.5, headers=self.ready_headers())
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServiceError(f"{self.what} did not start within {STARTUP_TIMEOUT:.0f}s") from None

    def _log_hint(self) -> str:
        return f" (log: {self.log_file})" if self.log_file else ""

    def stop(self) -> None:
        procs.stop_process(self._process)
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def moto_data(moto_url: str, attempts: int = 5) -> dict[str, Any]:
    """moto's /moto-api/data.json. It dumps every backend while other requests change them, and now
    and then answers 500 (a dict changed size during the dump): asked again, it answers."""
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(f"{moto_url}/moto-api/data.json", timeout=10) as response:  # noqa: S310
                data: dict[str, Any] = json.load(response)
                return data
        except urllib.error.HTTPError as error:
            if error.code != 500 or attempt == attempts:
                raise
            time.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


class MotoServer(_Service):
    """`moto.server` on a loopback port: every AWS service the template uses, over real HTTP."""

    what = "moto server (AWS)"
    env_var = "LOCAL_MOTO_PORT"

    def __init__(
        self,
        port: int | None = None,
        host: str = LOOPBACK,
        log_file: str | Path | None = None,
        region: str = DEFAULT_REGION,
    ) -> None:
        super().__init__(port, host, log_file)
        self.region = region

    @property
    def endpoint_url(self) -> str:
        return self.url

    def command(self) -> list[str]:
        # DynamoDB calls serialised so conditional writes are atomic, as in AWS (see localdev/moto_server.py).
        return [sys.executable, "-m", "localdev.moto_server", "-H", self.host, "-p", str(self.port)]

    def ready_url(self) -> str:
        return f"{self.url}/moto-api/reset-auth"  # a cheap GET that 4xx's once the server is up

    def data(self) -> dict[str, Any]:
        """moto's model dump (/moto-api/data.json): sent emails, SNS notifications, SMS, ..."""
        return moto_data(self.url)

    def reset(self) -> None:
        """Forget every resource and message (POST /moto-api/reset)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def __enter__(self) -> MotoServer:
        self.start()
        return self


class StripeServer(_Service):
    """localstripe on a loopback port with an empty store. Any sk_test_ key is accepted."""

    what = "localstripe (Stripe API)"
    env_var = "LOCAL_STRIPE_PORT"
    api_key = "sk_test_local"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "localdev.stripe_server", "--host", self.host, "--port", str(self.port)]

    def ready_url(self) -> str:
        return f"{self.url}/v1/balance"

    def ready_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def __enter__(self) -> StripeServer:
        self.start()
        return self


def ensure_database(
    host: str,
    port: int,
    user: str,
    password: str,
    database: str,
    *,
    timeout: float = 5.0,
) -> None:
    """CREATE DATABASE IF NOT EXISTS, so a fresh MariaDB serves the functions without a manual step."""
    import pymysql  # noqa: PLC0415 - only the stack needs it

    if not database.replace("_", "").isalnum():
        raise ValueError(f"refusing unusual database name {database!r}")
    connection = pymysql.connect(
        host=host, port=port, user=user, password=password, connect_timeout=int(timeout), autocommit=True
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4")
    finally:
        connection.close()

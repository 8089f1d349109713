"""Throwaway TLS material for tests: a CA and a certificate for 127.0.0.1 it signed, made with the
openssl command line (valid for a day, written under the test's tmp_path), and a TLS-only redis-server."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.waiting import wait_until


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_tls_files(directory: Path, name: str = "askproai-test") -> TlsFiles:
    """A CA (`<name>-ca`) and a server certificate for 127.0.0.1 and localhost signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, request = directory / "server.pem", directory / "server.key", directory / "server.csr"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
            "-days", "1", "-subj", f"/CN={name}-ca", cwd=directory)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(request),
            "-subj", "/CN=127.0.0.1", cwd=directory)  # fmt: skip
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-out", str(cert), "-days", "1", "-extfile", str(extensions), cwd=directory)  # fmt: skip
    return TlsFiles(ca=ca, cert=cert, key=key)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class NoTls(RuntimeError):
    """This machine's redis-server (or openssl) cannot serve TLS."""


@contextmanager
def tls_redis(files: TlsFiles) -> Iterator[int]:
    """A redis-server of its own that speaks TLS only, on a loopback port (yielded); stopped after.
    Raises NoTls when redis-server exits at once (built without TLS: it refuses the tls-* options)."""
    if shutil.which("redis-server") is None:
        raise NoTls("no redis-server")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(files.cert), "--tls-key-file", str(files.key), "--tls-ca-cert-file", str(files.ca),
         "--tls-auth-clients", "no", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def listening() -> bool:
            if process.poll() is not None:
                raise NoTls(f"redis-server exited with {process.returncode}: built without TLS?")
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, timeout=15, message="the TLS redis-server did not start")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)

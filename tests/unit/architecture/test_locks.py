"""The hashed lock files agree with the pins they are made from (`make lock` after editing an .in file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# source of the pins -> the lock `make lock` writes from it
LOCKS = {
    "shared/requirements.in": "shared/requirements.txt",
    "requirements-runtime.in": "requirements-runtime.txt",
    "requirements-dev.in": "requirements-dev.txt",
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line, following `-r` includes."""
    found: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found.update(pins(ROOT / line.removeprefix("-r ").strip()))
        elif match := PIN.match(line):
            found[canonical(match.group(1))] = match.group(2)
        elif line and not line.startswith("-"):
            raise AssertionError(f"{path.relative_to(ROOT)}: {raw!r} is not pinned with ==")
    return found


def locked(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    entries = re.findall(
        r"^([A-Za-z0-9][^\s\[=]*)(?:\[[^\]]*\])?==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, re.M
    )
    assert entries, f"{path.relative_to(ROOT)} has no hashed entries"
    listed = [line for line in text.splitlines() if PIN.match(line)]
    assert len(listed) == len(entries), f"{path.relative_to(ROOT)}: an entry without --hash"
    return {canonical(name): version for name, version, _ in entries}


@pytest.mark.parametrize("source", LOCKS)
def test_every_pin_is_in_its_lock_at_the_same_version(source: str) -> None:
    lock = locked(ROOT / LOCKS[source])
    for name, version in pins(ROOT / source).items():
        assert lock.get(name) == version, (
            f"{LOCKS[source]} has {name} {lock.get(name)}, {source} pins {version}: make lock"
        )


def test_dev_lock_has_the_layers_versions() -> None:
    layer, dev = locked(ROOT / "shared/requirements.txt"), locked(ROOT / "requirements-dev.txt")
    differ = {name: (version, dev.get(name)) for name, version in layer.items() if dev.get(name) != version}
    assert not differ, f"layer vs dev lock: {differ}"


def test_runtime_mirror_boto3_and_botocore_match_the_librarys() -> None:
    runtime = pins(ROOT / "requirements-runtime.in")
    assert runtime["boto3"] == pins(ROOT / "requirements-library.in")["boto3"]
    assert runtime["botocore"] == runtime["boto3"]  # released together, one version number


def test_make_installs_from_the_locks_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    installs = [line for line in makefile.splitlines() if "pip install" in line and " -r " in line]
    assert installs
    assert all("--require-hashes" in line for line in installs), installs

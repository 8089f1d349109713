"""The one .env reader: the tricky lines, read the same by monitoring-test, `make migrate` and the local stack."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from platform_monitoring.core.env_file import find_env_file, read_env_file
from platform_monitoring.tools import cli

from localdev.template import load_dotenv

# (line, variable, value); value None: the line sets nothing
TRICKY_LINES = [
    ('export X="a b"', "X", "a b"),
    ("X=y  # comment", "X", "y"),
    ("X=y#not-a-comment", "X", "y#not-a-comment"),
    ('X="y  # kept: inside quotes"', "X", "y  # kept: inside quotes"),
    ("X='single $quoted'", "X", "single $quoted"),
    ("X=${HOME}/literal", "X", "${HOME}/literal"),  # never expanded: a secret with $ reads as written
    ("X=", "X", ""),
    ("X", "X", None),
    ("  X = spaced  ", "X", "spaced"),
    ('X="line\\nbreak"', "X", "line\nbreak"),
    ("X=a=b=c", "X", "a=b=c"),
    ("# X=commented", "X", None),
    ("X=https://hooks.slack.example/T0/B0#frag", "X", "https://hooks.slack.example/T0/B0#frag"),
]


@pytest.mark.parametrize(("line", "name", "value"), TRICKY_LINES)
def test_tricky_lines(tmp_path: Path, line: str, name: str, value: str | None) -> None:
    file = tmp_path / ".env"
    file.write_text(line + "\n")

    assert read_env_file(file).get(name) == value


@pytest.mark.parametrize(("line", "name", "value"), TRICKY_LINES)
def test_the_local_stack_and_the_cli_read_a_line_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, name: str, value: str | None
) -> None:
    (tmp_path / ".env").write_text(line + "\n")
    monkeypatch.setenv(name, "")  # recorded, so the value the CLI sets is undone after the test
    monkeypatch.delenv(name)

    stack_reads = load_dotenv(tmp_path / ".env").get(name)
    cli.load_env_file(tmp_path)  # what `monitoring-test` and `make migrate` do at start
    cli_reads = os.environ.get(name)

    assert stack_reads == cli_reads == value


def test_a_missing_file_reads_as_nothing(tmp_path: Path) -> None:
    assert read_env_file(tmp_path / ".env") == {}


def test_dotenv_wins_over_the_example(tmp_path: Path) -> None:
    (tmp_path / ".env.example").write_text("X=example\n")
    assert find_env_file(tmp_path) == tmp_path / ".env.example"
    assert load_dotenv(tmp_path / ".env") == {"X": "example"}

    (tmp_path / ".env").write_text("X=mine\n")
    assert find_env_file(tmp_path) == tmp_path / ".env"
    assert load_dotenv(tmp_path / ".env") == {"X": "mine"}


def test_the_shell_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("X=from-file\n")
    monkeypatch.setenv("X", "from-shell")

    cli.load_env_file(tmp_path)

    assert os.environ["X"] == "from-shell"


def test_the_projects_env_example_reads_as_before() -> None:
    values = read_env_file(Path(__file__).resolve().parents[3] / ".env.example")
    assert values["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert values["SENTRY_LARAVEL_DSN"] == ""
    assert values["ALERT_EMAIL_RECIPIENTS"] == "admin@example.com,ops@example.com"

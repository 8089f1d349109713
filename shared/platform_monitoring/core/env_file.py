"""The one `.env` reader: `monitoring-test`, `make migrate` and the local stack all read files here.

python-dotenv's rules (what docker compose and most tools agree on): `export X=...` is accepted,
quotes are removed (`X="a b"` is `a b`, escapes only inside double quotes), an unquoted value ends
at ` #` (an inline comment), a line without `=` is ignored. Values are literal: `${OTHER}` is not
expanded, so a secret holding `$` reads as written.
"""

from __future__ import annotations

from pathlib import Path

ENV_FILE_NAMES = (".env", ".env.example")


def read_env_file(path: str | Path) -> dict[str, str]:
    """The variables `path` sets ({} when it does not exist); a bare `NAME` line sets nothing."""
    file = Path(path)
    if not file.is_file():
        return {}
    # Imported here: only the operator's tools read files, never a Lambda function.
    from dotenv import dotenv_values  # noqa: PLC0415

    values = dotenv_values(file, interpolate=False, encoding="utf-8")
    return {key: value for key, value in values.items() if value is not None}


def find_env_file(directory: str | Path = ".") -> Path | None:
    """`directory`/.env, else `directory`/.env.example (the local defaults), else None."""
    for name in ENV_FILE_NAMES:
        candidate = Path(directory) / name
        if candidate.is_file():
            return candidate
    return None

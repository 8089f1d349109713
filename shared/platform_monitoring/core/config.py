"""Reading configuration: typed accessors over the environment, secrets and their references.

A bad value raises ConfigurationError naming the variable (never echoing a secret), which stops
the function's cold start. Why dataclasses and not pydantic: the layer stays small and a cold
start does not pay pydantic's import; the validation needed is a handful of typed parsers.

Every settings class takes the environment one way: `from_env(environ: EnvSource = None)`, where
`EnvSource` is nothing (the process's environment), a mapping of variables (tests, the local stack)
or an EnvReader already made over one; `env_reader()` turns any of them into the EnvReader the
class reads. A class that holds others passes its reader on, so one reader serves the whole tree.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

SECRETS_MAX_AGE_SECONDS = "SECRETS_MAX_AGE_SECONDS"
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_T = TypeVar("_T")
_N = TypeVar("_N", int, float)


class ConfigurationError(ValueError):
    """Settings are missing or malformed; each message names its variable, never a secret value.

    `errors` holds every message when several were found at once (see `load_settings`)."""

    def __init__(self, message: str, errors: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.errors = errors or (message,)

    @classmethod
    def of(cls, errors: list[str]) -> ConfigurationError:
        if len(errors) == 1:
            return cls(errors[0])
        return cls(f"{len(errors)} settings are wrong: " + "; ".join(errors), tuple(errors))


# --- secrets --------------------------------------------------------------------------
SecretSource = Literal["unset", "env", "ssm", "secretsmanager"]


@dataclass(frozen=True)
class Secret:
    """A secret given literally, as `ssm:/name` (SecureString) or as `secretsmanager:name`.

    References are resolved through Powertools Parameters on first use and cached for
    `max_age` seconds, so a rotated secret is picked up without a redeploy. The value never
    appears in repr(), so a settings object can be logged.
    """

    variable: str
    source: SecretSource
    reference: str = field(repr=False)
    max_age: int = 300

    @property
    def configured(self) -> bool:
        return self.source != "unset"

    def reveal(self) -> str | None:
        """The secret's value, or None when it is not configured."""
        if self.source == "unset":
            return None
        if self.source == "env":
            return self.reference
        # Imported here: functions whose secrets are all literal never load boto3 for this.
        from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

        if self.source == "ssm":
            value = parameters.get_parameter(self.reference, decrypt=True, max_age=self.max_age)
        else:
            value = parameters.get_secret(self.reference, max_age=self.max_age)
        return value if isinstance(value, str) else str(value)

    def __repr__(self) -> str:
        return f"Secret({self.variable}, source={self.source})"

    __str__ = __repr__


# --- reading the environment ----------------------------------------------------------
@dataclass(frozen=True)
class VariableRead:
    """One variable as a settings class reads it: what it is (`doc`, written where it is read),
    its kind and its default as text (None: unset). scripts/config_table.py makes the README's
    configuration table of these, so the table is the code's."""

    name: str
    doc: str
    kind: str
    default: str | None = None
    aliases: tuple[str, ...] = ()


def _bounds(kind: str, minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{kind}, {_text(minimum)} to {_text(maximum)}"
    if minimum is not None:
        return f"{kind}, at least {_text(minimum)}"
    return kind if maximum is None else f"{kind}, at most {_text(maximum)}"


def _text(number: float) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)


class EnvReader:
    """Typed accessors over a mapping of variables; every error names the variable.

    Each accessor takes `doc`, what the variable is; `reads` records every variable read (for
    the README's configuration table)."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, collect: bool = False) -> None:
        self._environ = os.environ if environ is None else environ
        # collect: a bad value is recorded in `errors` and its default used, so one pass finds them all.
        self.collect = collect
        self.errors: list[str] = []
        self.reads: dict[str, VariableRead] = {}
        self._secrets_max_age = self.integer(
            SECRETS_MAX_AGE_SECONDS, 300, 0, doc="how long a secret read from SSM or Secrets Manager is cached"
        )

    def _note(self, name: str, doc: str, kind: str, default: str | None = None, aliases: tuple[str, ...] = ()) -> None:
        known = self.reads.get(name)
        if known is not None and (not doc or doc in known.doc):
            return
        merged = doc if known is None or not known.doc else f"{known.doc}; {doc}"
        self.reads[name] = VariableRead(name, merged, kind, default, aliases)

    @property
    def environ(self) -> Mapping[str, str]:
        return self._environ

    def fail(self, message: str, fallback: _T) -> _T:
        """Raise ConfigurationError(message); when collecting, record it and go on with `fallback`."""
        if not self.collect:
            raise ConfigurationError(message)
        if message not in self.errors:
            self.errors.append(message)
        return fallback

    def raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def string(self, name: str, default: str | None = None, *, doc: str = "") -> str | None:
        self._note(name, doc, "text", default)
        value = self.raw(name)
        return default if value is None else value

    def required(self, name: str, *, doc: str = "") -> str:
        self._note(name, doc, "text")
        value = self.raw(name)
        if value is None:
            return self.fail(f"{name} is required but not set", "")
        return value

    def boolean(self, name: str, default: bool, *, doc: str = "") -> bool:
        self._note(name, doc, "true or false", "true" if default else "false")
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        return self.fail(f"{name} must be true or false, got {value!r}", default)

    def integer(
        self, name: str, default: int, minimum: int | None = None, maximum: int | None = None, *, doc: str = ""
    ) -> int:
        self._note(name, doc, _bounds("integer", minimum, maximum), str(default))
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            return self.fail(f"{name} must be an integer, got {value!r}", default)
        return self._in_range(name, number, minimum, maximum, default)

    def number(
        self, name: str, default: float, minimum: float | None = None, maximum: float | None = None, *, doc: str = ""
    ) -> float:
        self._note(name, doc, _bounds("number", minimum, maximum), _text(default))
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            return self.fail(f"{name} must be a number, got {value!r}", default)
        if math.isnan(number):
            return self.fail(f"{name} must be a number, got {value!r}", default)
        return self._in_range(name, number, minimum, maximum, default)

    def choice(self, name: str, choices: tuple[str, ...], default: str, *, doc: str = "") -> str:
        self._note(name, doc, "one of " + ", ".join(choices), default)
        value = (self.raw(name) or default).lower()
        if value not in choices:
            return self.fail(f"{name} must be one of {', '.join(choices)}, got {value!r}", default)
        return value

    def url(
        self, name: str, schemes: tuple[str, ...] = ("http", "https"), *, default: str | None = None, doc: str = ""
    ) -> str | None:
        self._note(name, doc, f"{'/'.join(schemes)} URL", default)
        value = self.raw(name)
        if value is None:
            return default
        scheme, sep, rest = value.partition("://")
        if not sep or scheme.lower() not in schemes or not rest:
            return self.fail(f"{name} must be a {'/'.join(schemes)} URL, got {value!r}", default)
        return value.rstrip("/")

    def emails(self, name: str, *, doc: str = "") -> tuple[str, ...]:
        self._note(name, doc, "comma-separated e-mail addresses")
        addresses = _split_list(self.raw(name))
        for address in addresses:
            if not _EMAIL.match(address):
                return self.fail(f"{name} holds an invalid e-mail address: {address!r}", ())
        return addresses

    def phone_numbers(self, name: str, *, doc: str = "") -> tuple[str, ...]:
        self._note(name, doc, "comma-separated E.164 numbers")
        numbers = tuple(n.replace(" ", "").replace("-", "") for n in _split_list(self.raw(name)))
        for number in numbers:
            if not _E164.match(number):
                return self.fail(f"{name} must hold E.164 numbers such as +15555550100, got {number!r}", ())
        return numbers

    def secret(self, name: str, *aliases: str, default: str | None = None, doc: str = "") -> Secret:
        """A Secret from the first of `name`, `aliases` that is set; `default` (given literally) else unset."""
        self._note(name, doc, "secret", default, aliases)
        max_age = self._secrets_max_age
        for variable in (name, *aliases):
            value = self.raw(variable)
            if value is None:
                continue
            for prefix, source in (("ssm:", "ssm"), ("secretsmanager:", "secretsmanager")):
                if value.startswith(prefix):
                    reference = value[len(prefix) :]
                    if not reference:
                        return self.fail(
                            f"{variable} names an empty {source} reference", Secret(name, "unset", "", max_age)
                        )
                    return Secret(variable, source, reference, max_age)  # type: ignore[arg-type]
            return Secret(variable, "env", value, max_age)
        if default is not None:
            return Secret(name, "env", default, max_age)
        return Secret(name, "unset", "", max_age)

    def _in_range(self, name: str, number: _N, minimum: float | None, maximum: float | None, default: _N) -> _N:
        if minimum is not None and number < minimum:
            return self.fail(f"{name} must be at least {minimum}, got {number}", default)
        if maximum is not None and number > maximum:
            return self.fail(f"{name} must be at most {maximum}, got {number}", default)
        return number


EnvSource = EnvReader | Mapping[str, str] | None


def env_reader(environ: EnvSource = None) -> EnvReader:
    """The EnvReader over `environ`: itself when it is one, else a new one (None: os.environ)."""
    return environ if isinstance(environ, EnvReader) else EnvReader(environ)


def load_settings(from_env: Callable[[EnvReader], _T], environ: EnvSource = None) -> _T:
    """`from_env(reader)` reading every variable before failing: one ConfigurationError lists
    every bad or missing value (each naming its variable), not the first only."""
    mapping = environ.environ if isinstance(environ, EnvReader) else environ
    reader = EnvReader(mapping, collect=True)
    try:
        settings = from_env(reader)
    except ConfigurationError as error:  # a check across variables, raised by the settings class itself
        reader.errors.extend(message for message in error.errors if message not in reader.errors)
    except Exception:
        # A default put in for a bad value can trip a later step: the bad value is the news.
        if not reader.errors:
            raise
    if reader.errors:
        raise ConfigurationError.of(reader.errors)
    return settings


def _split_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(item.strip() for item in value.split(",") if item.strip())

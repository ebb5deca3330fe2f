"""Check a command's options against its flow's typed parameters once, before Prefect starts.

The flow signatures (`flows/parameters.py` and the inline `Annotated[..., Field(...)]`) state every
limit; Prefect would enforce them only after starting its API, with a traceback. Here the same pydantic
annotations validate the values the CLI is about to pass, and the first failure becomes one line naming
the option as the user typed it: `--chunk-size 0: must be ≥ 1`.
"""

from __future__ import annotations

import inspect
import typing
from typing import Any

from storage.errors import ChorusError

# Flow parameter → CLI option, where the command names the option differently (singular, repeated).
CLI_NAMES = {"models": "model", "teachers": "teacher", "test_replay": "test"}


def _cli_options() -> dict[str, tuple[str, Any]]:
    """Each option of the running command by parameter name: (flag as typed, raw value)."""
    # Typer vendors its own click: the running command's context lives there, not in a `click` package.
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # a typer that uses the click package
        from click import get_current_context

    ctx = get_current_context(silent=True)
    if ctx is None:
        return {}
    options = {}
    for param in ctx.command.params:
        flags = [o for o in param.opts if o.startswith("--")] or list(param.opts)
        options[param.name or ""] = (flags[0] if flags else f"--{param.name}", ctx.params.get(param.name or ""))
    return options


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(_shown(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "''" if value == "" else str(value)


def describe(error: dict[str, Any]) -> str:
    """A pydantic error as a short phrase for a CLI user."""
    ctx = error.get("ctx") or {}
    ctx = {k: _shown(v) for k, v in ctx.items()}
    kind = error["type"]
    phrases = {
        "greater_than_equal": lambda: f"must be ≥ {ctx.get('ge')}",
        "greater_than": lambda: f"must be > {ctx.get('gt')}",
        "less_than_equal": lambda: f"must be ≤ {ctx.get('le')}",
        "less_than": lambda: f"must be < {ctx.get('lt')}",
        "finite_number": lambda: "must be a finite number",
        "literal_error": lambda: f"choose {ctx.get('expected')}",
        "too_short": lambda: f"needs at least {ctx.get('min_length')} value(s)",
        "too_long": lambda: f"takes at most {ctx.get('max_length')} value(s)",
        "string_too_short": lambda: "must not be empty",
        "int_from_float": lambda: "must be a whole number",
        "int_parsing": lambda: "must be a whole number",
        "float_parsing": lambda: "must be a number",
    }
    phrase = phrases.get(kind)
    return phrase() if phrase else error["msg"][0].lower() + error["msg"][1:]


def check_flow_parameters(flow: Any, **values: Any) -> None:
    """Validate `values` (keyed by the flow's parameter names) against the flow function's annotations.

    Raises ChorusError with one line for the first invalid value, naming the CLI option and the value
    as given on the command line. A value for a parameter the flow does not have is a programming error.
    """
    from pydantic import TypeAdapter, ValidationError  # here: `chorus --help` and `models` need no pydantic

    fn = getattr(flow, "fn", flow)
    hints = typing.get_type_hints(fn, include_extras=True)
    signature = inspect.signature(fn)
    options = _cli_options()
    for name, value in values.items():
        if name not in signature.parameters:
            raise TypeError(f"{fn.__name__} has no parameter {name!r}")
        try:
            TypeAdapter(hints.get(name, Any)).validate_python(value)
        except ValidationError as exc:
            cli_name = CLI_NAMES.get(name, name)
            flag, raw = options.get(cli_name, (f"--{cli_name.replace('_', '-')}", value))
            first = exc.errors(include_url=False)[0]
            raise ChorusError(f"{flag} {_shown(raw if raw is not None else value)}: {describe(first)}") from None


def one_line_usage_error(exc: Exception) -> str:
    """Typer's usage error (bad type, unknown or missing option) as one line with a pointer to --help."""
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    where = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    return f"{message}{where}"

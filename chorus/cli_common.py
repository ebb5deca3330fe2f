"""Shared pieces of the `chorus` command: the Typer apps, consoles, common options and output helpers."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from storage.errors import ChorusError


def _flags_without_a_type() -> None:
    """Typer 0.29 labels every option with its type, flags too (`--help <bool>`); a flag takes no value,
    so its help shows none (options that take one keep `<int>`, `<str>`)."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_without_a_type()

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="chorus: turn many LLM samples into one better answer (Best-of-∞, Fusion-of-N).",
)
cache_app = typer.Typer(no_args_is_help=True, help="Inspect the generation cache.")
db_app = typer.Typer(no_args_is_help=True, help="Manage the cache database schema.")
app.add_typer(cache_app, name="cache")
app.add_typer(db_app, name="db")
err = Console(stderr=True)
out = Console()

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", help="SQLAlchemy URL of the cache (default: $CHORUS_DATABASE_URL or SQLite under $CHORUS_HOME)."
    ),
]
ConfigOpt = Annotated[
    str | None, typer.Option("--config", help="Model registry TOML (default: $CHORUS_CONFIG or ./chorus.toml).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON summary object instead of a table.")]


def print_summary(title: str, summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    table = Table(title=title, show_header=False)
    for key, value in summary.items():
        table.add_row(key.replace("_", " "), human(value))
    out.print(table)


def human(value: Any) -> str:
    """A summary value as a person writes it: `qwen4b, smollm2` and `n 24, accuracy 0.2`, not Python reprs."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {human(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(human(v) for v in value)
    return str(value)


class ProgressBar:
    """A rich progress bar on stderr fed by task progress reports (silent with --json)."""

    def __init__(self, problems: int, n: int, quiet: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            disable=quiet or not err.is_terminal,
        )
        self.task = self.progress.add_task("problems", total=problems)

    def __enter__(self):  # type: ignore[no-untyped-def]
        from tasks.services import progress_events

        self.progress.start()
        # What is starting (the embedded model server...) is said above the bar, so 0/N never looks hung.
        say = lambda message: self.progress.console.print(message, highlight=False, soft_wrap=True)  # noqa: E731
        self._unsubscribe = progress_events.subscribe_messages(say)
        return lambda problems, _samples, _correct=None: self.progress.advance(self.task, problems)

    def __exit__(self, *_: object) -> None:
        self._unsubscribe()
        self.progress.stop()


def preflight(
    models: list[str],
    *,
    dataset: str,
    limit: int | None,
    config: str | None,
    db: str | None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
) -> int:
    """Check every input before a flow starts, so bad input fails in one line with nothing written.

    Returns the number of problems. Remote endpoints are asked whether they are up; embedded models
    are started by the flow itself.
    """
    from storage.engine import open_engine
    from storage.settings import database_url
    from tasks.algorithms.datasets import load_dataset
    from tasks.backends.factory import endpoint_health, model_fingerprint
    from tasks.backends.registry import load_registry, resolve

    problems = load_dataset(dataset, limit)
    registry = load_registry(config)
    specs = [resolve(registry, name) for name in models]
    for spec in specs:
        spec.sampling_params(max_tokens=max_tokens, temperature=temperature, top_p=top_p)
        model_fingerprint(spec)

    for spec in specs:
        if spec.backend in ("sglang", "openai"):
            health = asyncio.run(endpoint_health(spec))
            if not health.ok:
                raise ChorusError(f"model {spec.name}: endpoint not reachable ({health.detail})")
    open_engine(database_url(db))
    return len(problems)


_USER_ERRORS = ("ChorusError", "BadRequestError", "TransientError")


class _ConsoleErrorFilter:
    """On the terminal only: a chorus error is printed once, by the CLI, as one line.

    Prefect would log it again with a traceback (task run, then flow run); the Prefect API still gets
    those records, since the filter sits on the console handler alone.
    """

    def filter(self, record: Any) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        duplicate = record.levelno >= 40 and any(name in message for name in _USER_ERRORS)
        # Shutdown chatter of Prefect's event worker ("Still processing items: N items remaining...").
        shutdown_noise = "Still processing items" in message
        return not (isinstance(exc, ChorusError) or duplicate or shutdown_noise)


def quiet_prefect_console() -> None:
    """Terminal output for humans: Prefect's console handler at WARNING (INFO with CHORUS_VERBOSE=1)
    and without duplicate chorus errors; the progress bar and the summary say the rest."""
    import logging
    import os

    from prefect.logging.configuration import ensure_logging_setup

    from chorus.prefect_start import start_ephemeral_api

    ensure_logging_setup()  # importing prefect's flows set it up already; again would cost ~0.1 s
    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "PrefectConsoleHandler":
            if not os.environ.get("CHORUS_VERBOSE"):
                handler.setLevel(logging.WARNING)
            if not any(isinstance(f, _ConsoleErrorFilter) for f in handler.filters):
                handler.addFilter(_ConsoleErrorFilter())
    start_ephemeral_api()  # under a lock: processes starting together would race on Prefect's migrations

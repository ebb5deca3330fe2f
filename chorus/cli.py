"""The `chorus` command. Bad input ends in one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from chorus import (  # noqa: F401 - they register their commands
    cli_bestofinf,
    cli_data,
    cli_ensemble,
    cli_fusion,
    cli_ops,
    cli_sampling,
    cli_serve,
    cli_serve_replay,
)
from chorus.cli_common import app, err
from chorus.cli_secrets import without_db_password
from chorus.interrupts import install_signal_handlers
from chorus.prefect_runtime import adopt_recorded_server, set_prefect_environment
from chorus.traceback_guard import traceback_printed, watch_stderr
from chorus.validation import one_line_usage_error
from flows.run_policy import fewer_gc_passes
from storage.errors import ChorusError


def main() -> None:
    # What a command imports (Prefect, pydantic, numpy: ~2,000 modules) lives until the process exits,
    # yet with CPython's default thresholds importing it ran ~335 young and 2 full collections, ~0.15 s
    # of a 2-problem `simulate` (bench/RESULTS.md, "Garbage collection at start-up"). A flow's body
    # runs under the same thresholds anyway (flows/run_policy.py).
    with fewer_gc_passes():
        _run()


def _run() -> None:
    # Before prefect is imported: its files under CHORUS_HOME, no telemetry (no network here).
    set_prefect_environment()
    adopt_recorded_server()  # a running background server's URL, read before prefect is imported
    sys.argv[1:] = without_db_password(sys.argv[1:])
    install_signal_handlers()  # Ctrl-C / SIGTERM: one line, children stopped, exit 130 / 143
    watch_stderr()
    try:
        app(standalone_mode=False)
        if traceback_printed():
            err.print("[red]error:[/red] a traceback was printed above, so this run counts as failed")
            sys.exit(1)
    except ChorusError as exc:
        # Escaped: a message may quote TOML such as `[models]` or `endpoints = ["http://..."]`.
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:
        # Usage errors (Typer vendors its own click) carry their own message and exit code.
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "format_message"):
                exc.show()  # the help text the user asked for by giving no arguments
            else:
                message = escape(one_line_usage_error(exc))
                err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()

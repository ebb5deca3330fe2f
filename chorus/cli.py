"""The `chorus` command. Bad input ends in one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import sys

import typer

from chorus import cli_bestofinf, cli_ensemble, cli_fusion, cli_ops, cli_sampling  # noqa: F401 - they register their commands
from chorus.cli_common import app, err
from chorus.prefect_runtime import set_prefect_environment
from storage.errors import ChorusError


def main() -> None:
    # Before prefect is imported: its files under CHORUS_HOME, no telemetry (no network here).
    set_prefect_environment()
    try:
        app(standalone_mode=False)
    except ChorusError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:
        # Usage errors (Typer vendors its own click) carry their own message and exit code.
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()

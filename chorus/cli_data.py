"""`chorus data list`: the recorded-answers data sets shipped inside the package."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from chorus.cli_common import JsonOpt, app, out

data_app = typer.Typer(no_args_is_help=True, help="Data sets shipped with chorus (usable as --replay NAME).")
app.add_typer(data_app, name="data")


@data_app.command("list")
def data_list(
    as_json: JsonOpt = False,
    counts: Annotated[
        bool, typer.Option("--counts/--no-counts", help="Read each set for its problem and answer counts.")
    ] = True,
) -> None:
    """Every packaged recorded-answers set, by the name `--replay` accepts (e.g. math500/gpt-oss-20b)."""
    from tasks.algorithms.replay_files import load_replay, packaged_replays, source_note

    rows = []
    for replay in packaged_replays():
        row: dict[str, object] = {"name": replay.name, "dataset": replay.dataset, "model": replay.model}
        if counts:
            problems = load_replay(replay.name)
            row["problems"] = len(problems)
            row["answers"] = sum(len(p.answers) for p in problems)
        rows.append(row)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="packaged recorded answers (MIT, jkomiyama/BoInf-code-publish)")
    columns = [c for c in (rows[0] if rows else {"name": ""}) if c not in ("dataset", "model")]
    widest = max((len(str(r["name"])) for r in rows), default=4)
    for col in columns:
        # A name is what the user types: never cut it short on a narrow terminal.
        table.add_column(col, no_wrap=True, min_width=widest if col == "name" else None)
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    out.print(table)
    out.print(
        f"use as: chorus simulate --replay math500/gpt-oss-20b; licence and source: {source_note()}", soft_wrap=True
    )

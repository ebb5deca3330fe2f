"""`chorus sample`, `models`, `serve-local`, `cache stats`, `db upgrade`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from chorus.cli_common import (
    ConfigOpt,
    DbOpt,
    JsonOpt,
    ProgressBar,
    app,
    cache_app,
    db_app,
    out,
    preflight,
    print_summary,
    quiet_prefect_console,
)
from chorus.input_checks import check_existing_database
from chorus.prefect_runtime import use_prefect
from chorus.validation import check_flow_parameters
from storage.errors import ChorusError


@app.command()
def sample(
    dataset: Annotated[
        str, typer.Option("--dataset", help="JSONL or CSV with id, question (or prompt), optional answer.")
    ],
    model: Annotated[str, typer.Option("--model", help="Model name in the registry.")] = "smollm2",
    n: Annotated[int, typer.Option("-n", help="Samples per problem.")] = 4,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N problems.")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Problems per Prefect task.")] = 8,
    db: DbOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Draw N samples per problem through the cache (a Prefect flow run)."""
    from flows.sample_flow import sample_flow

    params = dict(
        dataset=dataset,
        model=model,
        n=n,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        chunk_size=chunk_size,
        limit=limit,
    )
    check_flow_parameters(sample_flow, **params)  # the flow's own limits, once, before Prefect starts
    count = preflight(
        [model],
        dataset=dataset,
        limit=limit,
        config=config,
        db=db,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
    )
    use_prefect()

    quiet_prefect_console()
    from tasks.services import progress_events as progress

    with ProgressBar(count, n, quiet=as_json) as advance:
        unsubscribe = progress.subscribe(advance)
        try:
            summary = asyncio.run(sample_flow(**params, db=db, config=config))
        finally:
            unsubscribe()
    print_summary(f"sample {model} on {dataset}", summary, as_json)


@app.command()
def models(
    config: ConfigOpt = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Ask each endpoint whether it is up.")] = True,
) -> None:
    """List the model registry and, with --check, each endpoint's health."""
    from tasks.backends.factory import endpoint_health
    from tasks.backends.registry import load_registry

    registry = load_registry(config)
    table = Table(title="models")
    for col in ("name", "backend", "model", "endpoints", "in flight", "health"):
        # fold, not "…": at 80 columns a cut health message or file name says nothing
        table.add_column(col, overflow="fold", ratio=2 if col in ("endpoints", "health") else 1)

    async def health(spec: Any) -> str:
        if spec.backend == "llamacpp" and not spec.endpoints:
            from tasks.backends.local_server import embedded_model_path

            try:
                return f"embedded ({embedded_model_path(spec.model or spec.name).name})"
            except ChorusError as exc:
                return str(exc)
        try:
            return (await endpoint_health(spec)).detail
        except ChorusError as exc:
            return str(exc)

    for spec in registry.values():
        state = asyncio.run(health(spec)) if check else "-"
        table.add_row(
            spec.name,
            spec.backend,
            spec.model or str(spec.path or ""),
            ", ".join(spec.endpoints) or "-",
            str(spec.max_concurrency),
            state,
        )
    out.print(table)


@app.command("serve-local")
def serve_local(
    model: Annotated[
        str, typer.Option("--model", help="Embedded model alias (smollm2, gemma3) or a GGUF path.")
    ] = "smollm2",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8765,
    n_ctx: Annotated[int, typer.Option("--n-ctx", min=256, max=10_000_000)] = 2048,
) -> None:
    """Run the embedded llama.cpp server in the foreground (point a registry entry's endpoints at it)."""
    from tasks.backends.local_server import LocalLlamaServer, embedded_model_path

    server = LocalLlamaServer(embedded_model_path(model), port=port, n_ctx=n_ctx)
    os.execv(sys.executable, server.command())


@cache_app.command("stats")
def cache_stats(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Generations, prompts and tokens in the cache, per model."""
    from dataclasses import asdict

    from storage.cache import GenerationCache
    from storage.engine import open_engine
    from storage.settings import database_url, redact_url

    url = database_url(db)
    check_existing_database(url)  # a read-only command creates no folder and no empty database
    stats = GenerationCache(open_engine(url)).stats()
    if as_json:
        print(json.dumps({"database": redact_url(url), **asdict(stats)}, indent=2))
        return
    table = Table(title=f"cache {redact_url(url)}")
    for col in ("model", "backend", "generations", "completion_tokens"):
        table.add_column(col)
    for row in stats.per_model:
        table.add_row(*(str(row[c]) for c in ("model", "backend", "generations", "completion_tokens")))
    out.print(table)
    out.print(f"{stats.generations} generations, {stats.prompts} prompts, {stats.completion_tokens} completion tokens")


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None) -> None:
    """Create or upgrade the cache schema to the newest revision."""
    from storage.engine import current_revision, open_engine
    from storage.settings import database_url, redact_url

    url = database_url(db)
    engine = open_engine(url)
    out.print(f"{redact_url(url)} at revision {current_revision(engine)}")

"""`chorus serve-replay`: a GPU-faithful SGLang stand-in that answers from recorded generations."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from chorus.cli_common import app, out
from storage.errors import ChorusError


def _check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ChorusError(f"--host {host} --port {port}: cannot listen ({exc.strerror})") from None


@app.command("serve-replay")
def serve_replay(
    replay: Annotated[list[Path], typer.Option("--replay", help="Recorded-answer JSONL; repeat for more files.")],
    slots: Annotated[int, typer.Option("--slots", help="Sequences that decode at once (the GPU batch).")] = 64,
    decode_tps: Annotated[float, typer.Option("--decode-tps", help="Decode tokens/s of one sequence.")] = 60.0,
    prefill_tps: Annotated[float, typer.Option("--prefill-tps", help="Prompt tokens/s of prefill.")] = 8000.0,
    speedup: Annotated[float, typer.Option("--speedup", help="Run the model clock this many times faster.")] = 1.0,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 30000,
    model_name: Annotated[
        str, typer.Option("--model-name", help="Name in /v1/models and metrics.")
    ] = "replay/stand-in",
    write_dataset: Annotated[
        Path | None,
        typer.Option("--write-dataset", help="Write the served problems as a dataset JSONL and exit (no server)."),
    ] = None,
) -> None:
    """Serve recorded answers over SGLang's HTTP protocol with a GPU's timing (slots, queue, prefill, decode).

    Prompts name their problem as `replay problem NAME/NUM` (NAME: the file's stem without `analysis_`);
    `--write-dataset` writes such a dataset for `chorus vote` / `chorus sample`.
    """
    for name, value in (("--slots", slots), ("--decode-tps", decode_tps), ("--prefill-tps", prefill_tps)):
        if value <= 0:
            raise ChorusError(f"{name} must be positive, got {value}")
    if speedup <= 0:
        raise ChorusError(f"--speedup must be positive, got {speedup}")
    if not 0 < port < 65536:
        raise ChorusError(f"--port must be in 1..65535, got {port}")
    from chorus.replay_server.catalog import ReplayCatalog

    catalog = ReplayCatalog.from_files(replay)
    if write_dataset is not None:
        count = catalog.write_dataset(write_dataset)
        out.print(f"wrote {count} problems to {write_dataset}")
        return
    _check_port(host, port)
    import uvicorn

    from chorus.replay_server.app import create_app
    from chorus.replay_server.gpu_model import GpuParams

    params = GpuParams(slots, decode_tps, prefill_tps, speedup)
    out.print(f"serve-replay: {len(catalog.problems)} recorded problems on http://{host}:{port} ({params})")
    uvicorn.run(create_app(catalog, params, model_name), host=host, port=port, log_level="warning", access_log=False)

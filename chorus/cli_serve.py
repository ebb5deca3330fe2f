"""`chorus serve`: the OpenAI-compatible endpoint (see docs/serve.md). Every input is checked before
the server binds its port: a bad option is one line on stderr and a non-zero exit."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from chorus.cli_common import ConfigOpt, DbOpt, app, err
from storage.errors import ChorusError


def _served_names(explicit: list[str] | None, config: str | None) -> list[str]:
    """--model names, else every model the registry file defines, else the embedded smollm2."""
    from tasks.backends.registry import BUILTIN, DEFAULT_MODEL, load_registry

    if explicit:
        return list(dict.fromkeys(explicit))
    registry = load_registry(config)
    defined = [n for n in registry if n not in BUILTIN]
    return defined or [DEFAULT_MODEL]


def _check_port(host: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise ChorusError(f"--port {port}: must be from 1 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ChorusError(f"--host {host} --port {port}: cannot listen ({exc.strerror})") from None


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Model to serve (repeat; default: the registry file's models, else smollm2)."),
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option("--api-key-env", help="Environment variable holding the key clients must send.")
    ] = None,
    max_in_flight: Annotated[
        int, typer.Option("--max-in-flight", help="Requests answered at once; more get 429 with Retry-After.")
    ] = 256,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """An OpenAI-compatible endpoint: the model name picks the strategy (bo-inf/M, vote-N/M, ensemble/NAME,
    fusion-N/M, bon-N/M, or M for one sample); every sample goes through the cache."""
    import uvicorn

    from chorus.serve.app import create_app
    from chorus.serve.auth import BearerAuth
    from chorus.serve.context import ServeContext
    from chorus.serve.errors import Redactor
    from storage.cache import GenerationCache
    from storage.engine import open_engine
    from storage.settings import database_url, redact_url
    from tasks.backends.factory import model_fingerprint
    from tasks.backends.local_server import local_model_servers
    from tasks.backends.registry import load_registry, resolve

    key = None
    if api_key_env is not None:
        key = os.environ.get(api_key_env)
        if not key:
            raise ChorusError(f"--api-key-env {api_key_env}: the environment variable is not set or empty")
    if max_in_flight < 1:
        raise ChorusError(f"--max-in-flight {max_in_flight}: must be at least 1")
    registry = load_registry(config)
    specs = [resolve(registry, name) for name in _served_names(model, config)]
    for spec in specs:
        spec.sampling_params()
        model_fingerprint(spec)  # a missing replay file or GGUF fails here, in one line
        if spec.api_key_env and not os.environ.get(spec.api_key_env):
            raise ChorusError(f"model {spec.name}: environment variable {spec.api_key_env} (API key) is not set")
    _check_port(host, port)
    url = database_url(db)
    engine = open_engine(url)
    redact = Redactor([api_key_env or "", *(s.api_key_env or "" for s in specs)])
    with local_model_servers(specs) as ready:
        ctx = ServeContext({s.name: s for s in ready}, {}, GenerationCache(engine), engine, redact)
        api = create_app(ctx, BearerAuth(key), max_in_flight=max_in_flight)
        names = ", ".join(s.name for s in ready)
        err.print(f"chorus serve: http://{host}:{port}/v1 (models: {names}; cache: {redact_url(url)})", highlight=False)
        # Keep-alive longer than the usual load-balancer idle timeout (60 s): a connection the server
        # closes while a client is reusing it fails that client's request (a race clients do not retry).
        uvicorn.run(api, host=host, port=port, log_level="warning", access_log=False, timeout_keep_alive=75)

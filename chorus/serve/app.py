"""The FastAPI app: OpenAI routes, auth, the in-flight bound, errors in OpenAI's shape, metrics."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chorus.serve.auth import BearerAuth
from chorus.serve.context import Ask, ServeContext
from chorus.serve.errors import ApiError, bad_request, upstream_error
from chorus.serve.metrics import PROMETHEUS_CONTENT_TYPE, ServeMetrics
from chorus.serve.responses import completion_body, sse_chunks
from chorus.serve.schemas import ChatRequest, CompletionRequest, parse_body
from chorus.serve.strategies import listed_models, strategy_for
from flows.run_policy import fewer_gc_passes
from storage.ensembles import list_ensembles, load_ensemble
from storage.errors import BadRequestError, ChorusError, TransientError
from tasks.algorithms.datasets import Problem
from tasks.backends.factory import create_backend

log = logging.getLogger("chorus.serve")


class InFlight:
    """At most `limit` requests are being answered; one more is refused at once (429, Retry-After)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.now = limit, 0

    def __enter__(self) -> InFlight:
        if self.now >= self.limit:
            raise ApiError(
                429,
                f"too many requests in flight (limit {self.limit}); retry shortly",
                type_="rate_limit_error",
                code="rate_limit_exceeded",
                headers={"Retry-After": "1"},
            )
        self.now += 1
        return self

    def __exit__(self, *_: object) -> None:
        self.now -= 1


@contextmanager
def serving_gc_policy() -> Iterator[None]:
    """A flow run's GC thresholds while serving, and the start-up heap frozen.

    A vote keeps its samples, rows and coroutines alive across its awaits, so with CPython's default
    young threshold they are promoted and full collections follow (flows/run_policy.py): 1000 `bo-inf`
    votes cost the server 1.3-2.0 s of CPU with them, 0.9-1.5 s without (bench/RESULTS.md, "`chorus
    serve`: garbage collection"). The start-up objects (modules, the app, parsed replay files) live as
    long as the server: frozen, the full passes that remain skip them. Start-up's own garbage is
    collected first, so none of it is frozen for good."""
    with fewer_gc_passes():
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()


def _ask(request: ChatRequest | CompletionRequest) -> Ask:
    if isinstance(request, ChatRequest):
        turns = request.turns()
        users = [text for role, text in turns if role == "user"]
        question = users[-1] if users else turns[-1][1]
        problem = Problem(question, question, messages=turns)
        max_tokens = request.max_completion_tokens or request.max_tokens
    else:
        question = request.prompt_text()
        problem = Problem(question, question)
        max_tokens = request.max_tokens
    if not question.strip():
        raise bad_request("the prompt is empty")
    overrides = {
        "max_tokens": max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stop": request.stop_tuple() or None,
    }
    return Ask(problem, question, overrides, request.seed, request.n, request.chorus)


def create_app(ctx: ServeContext, auth: BearerAuth, *, max_in_flight: int) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Clients live on the server's event loop: their connection pools are shared by every request.
        ctx.backends = {name: create_backend(spec) for name, spec in ctx.specs.items()}
        try:
            with serving_gc_policy():
                yield
        finally:
            await ctx.batcher.close()
            for backend in ctx.backends.values():
                await backend.aclose()

    app = FastAPI(title="chorus serve", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    metrics = ServeMetrics()
    in_flight = InFlight(max_in_flight)
    app.state.metrics = metrics

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "method_not_allowed" if exc.status_code == 405 else "error"
        body = ApiError(exc.status_code, str(exc.detail), type_="invalid_request_error", code=code).body()
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("chorus serve: unexpected error")
        body = ApiError(500, f"internal error ({type(exc).__name__})", type_="server_error", code="internal_error")
        return JSONResponse(body.body(), status_code=500)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": sorted(ctx.specs), "in_flight": in_flight.now}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        auth.check(request.headers.get("authorization"))

        def served_ensembles() -> list[str]:
            names = list_ensembles(ctx.engine)
            return [e for e in names if all(m in ctx.specs for m in load_ensemble(ctx.engine, e).models)]

        names = listed_models(ctx, await asyncio.to_thread(served_ensembles))
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": 0, "owned_by": "chorus"} for n in names],
        }

    async def answer(request: Request, chat: bool) -> Response:
        started = time.perf_counter()
        strategy_name, status = "unknown", 500
        try:
            auth.check(request.headers.get("authorization"))
            try:
                raw = await request.json()
            except (ValueError, UnicodeDecodeError):
                raise bad_request("request body is not valid JSON") from None
            with in_flight:
                metrics.in_flight.set(in_flight.now)
                parsed = parse_body(ChatRequest if chat else CompletionRequest, raw)
                # In a thread: `ensemble/NAME` reads its saved weights from the cache database.
                strategy = await asyncio.to_thread(strategy_for, parsed.model, ctx)
                strategy_name = strategy.name
                ask = _ask(parsed)
                try:
                    outcome = await strategy.answer(ctx, ask)
                except (TransientError, BadRequestError) as exc:
                    raise upstream_error(exc, ctx.redact) from None
                except ChorusError as exc:
                    raise ApiError(500, ctx.redact(str(exc)), type_="server_error", code="internal_error") from None
            metrics.in_flight.set(in_flight.now)
            metrics.record_samples(outcome.cached, outcome.generated)
            chorus = {
                "strategy": strategy.name,
                **outcome.chorus,
                "cached": outcome.cached,
                "generated": outcome.generated,
                "seed": parsed.seed,
            }
            status = 200
            if parsed.stream:
                include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
                events = sse_chunks(outcome, parsed.model, chorus, chat=chat, include_usage=include_usage)
                return StreamingResponse(events, media_type="text/event-stream")
            return JSONResponse(completion_body(outcome, parsed.model, chorus, chat=chat))
        except ApiError as exc:
            status = exc.status
            raise
        finally:
            metrics.in_flight.set(in_flight.now)
            metrics.record(strategy_name, status, time.perf_counter() - started if status == 200 else None)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await answer(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await answer(request, chat=False)

    return app

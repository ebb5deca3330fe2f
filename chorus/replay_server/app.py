"""The HTTP face of the stand-in: SGLang's routes and response shapes, answers from recorded generations.

Routes (SGLang 0.5): `POST /generate` (text, sampling_params {n, max_new_tokens, sampling_seed|seed});
`POST /v1/chat/completions` (messages, n, max_tokens, seed); `GET /health`, `/health_generate`,
`/get_model_info`, `/get_server_info`, `/v1/models`, `/metrics` (Prometheus text, SGLang's metric
names plus `chorus_standin:*` for what SGLang does not export). `GET /chorus/timeline` is stand-in
only: every sequence's arrival, start and end, for benchmarks. Without a seed a request draws fresh
random answers, as a real server does; with one, the same request always gets the same answers.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from chorus.replay_server.catalog import ReplayCatalog, UnknownPrompt
from chorus.replay_server.gpu_model import GpuParams, GpuServer


def _prompt_tokens(text: str) -> int:
    return max(1, len(text) // 4)  # about four characters a token, as for English with BPE tokenizers


def _seed(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else random.getrandbits(63)


def _bad_request(message: str, openai: bool) -> JSONResponse:
    body = {"object": "error", "message": message, "type": "BadRequestError", "code": 400}
    return JSONResponse(body if openai else {"error": {"message": message}}, status_code=400)


def _count(value: Any, name: str, default: int | None) -> int | None:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UnknownPrompt(f"{name} must be a positive integer, got {value!r}")
    return value


def create_app(catalog: ReplayCatalog, params: GpuParams, model_name: str = "replay/stand-in") -> FastAPI:
    app = FastAPI(title="chorus serve-replay (SGLang stand-in)", docs_url=None, redoc_url=None)
    server = GpuServer(params)
    app.state.gpu = server

    async def complete(prompt: str, n: Any, max_new: Any, seed: Any) -> tuple[str, list[tuple[str, int, bool]], int]:
        key, problem = catalog.find(prompt)
        count = _count(n, "n", 1) or 1
        limit = _count(max_new, "max_new_tokens", None)
        s = _seed(seed)
        outs = [catalog.draw(problem, s, i).text(limit) for i in range(count)]
        prompt_tokens = _prompt_tokens(prompt)
        await server.run_request(key, prompt_tokens, [t for _, t, _ in outs])
        return key, outs, prompt_tokens

    @app.post("/generate")
    async def generate(request: Request) -> Any:
        try:
            body = await request.json()
            text = body.get("text")
            if not isinstance(text, str):
                raise UnknownPrompt("text must be a string (input_ids are not supported by the stand-in)")
            sp = body.get("sampling_params") or {}
            seed = sp.get("sampling_seed", sp.get("seed"))
            key, outs, prompt_tokens = await complete(text, sp.get("n"), sp.get("max_new_tokens"), seed)
        except (UnknownPrompt, ValueError, AttributeError) as exc:
            return _bad_request(str(exc), openai=False)
        items = [
            {
                "text": out,
                "meta_info": {
                    "id": f"{key}-{server.requests_total}-{i}",
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": tokens,
                    "cached_tokens": prompt_tokens if i else 0,
                    "finish_reason": {"type": "length", "length": tokens} if cut else {"type": "stop", "matched": 0},
                },
            }
            for i, (out, tokens, cut) in enumerate(outs)
        ]
        return items if len(items) > 1 else items[0]

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        try:
            body = await request.json()
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise UnknownPrompt("messages must be a non-empty list")
            prompt = "\n".join(str(m.get("content", "")) for m in messages)
            max_new = body.get("max_completion_tokens", body.get("max_tokens"))
            _, outs, prompt_tokens = await complete(prompt, body.get("n"), max_new, body.get("seed"))
        except (UnknownPrompt, ValueError, AttributeError) as exc:
            return _bad_request(str(exc), openai=True)
        choices = [
            {"index": i, "message": {"role": "assistant", "content": out}, "finish_reason": "length" if cut else "stop"}
            for i, (out, _, cut) in enumerate(outs)
        ]
        completion = sum(t for _, t, _ in outs)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        }
        return {
            "id": f"chatcmpl-{server.requests_total}",
            "object": "chat.completion",
            "model": model_name,
            "choices": choices,
            "usage": usage,
        }

    @app.get("/health")
    @app.get("/health_generate")
    async def health() -> dict[str, str]:
        return {}

    @app.get("/get_model_info")
    @app.get("/model_info")
    async def model_info() -> dict[str, Any]:
        return {"model_path": model_name, "tokenizer_path": model_name, "is_generation": True}

    @app.get("/get_server_info")
    @app.get("/server_info")
    async def server_info() -> dict[str, Any]:
        return {
            "model_path": model_name,
            "version": "chorus-replay-stand-in",
            **asdict(params),
            "max_running_requests": params.slots,  # SGLang's server argument for the same bound
            "problems": len(catalog.problems),
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": model_name, "object": "model", "owned_by": "sglang", "root": model_name}],
        }

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        label = '{model_name="' + model_name.replace('"', "") + '"}'
        rows = [
            ("sglang:num_running_reqs", "gauge", "The number of running requests.", server.running),
            ("sglang:num_queue_reqs", "gauge", "The number of requests in the waiting queue.", server.queued),
            ("sglang:num_requests_total", "counter", "Number of requests processed.", server.requests_total),
            (
                "sglang:prompt_tokens_total",
                "counter",
                "Number of prefill tokens processed.",
                server.prompt_tokens_total,
            ),
            (
                "sglang:generation_tokens_total",
                "counter",
                "Number of generation tokens processed.",
                server.generation_tokens_total,
            ),
            ("chorus_standin:slots", "gauge", "Sequences that decode at once.", params.slots),
            (
                "chorus_standin:busy_slot_seconds_total",
                "counter",
                "Slot-seconds spent prefilling or decoding (model time).",
                round(server.busy_slot_seconds, 6),
            ),
            (
                "chorus_standin:model_seconds",
                "gauge",
                "Model seconds since start (real seconds x speedup).",
                round(server.now(), 6),
            ),
        ]
        lines = []
        for name, kind, help_, value in rows:
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name}{label} {value}"]
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    @app.get("/chorus/timeline")
    async def timeline() -> dict[str, Any]:
        return {"params": asdict(params), "t0_unix": server.t0_unix, "sequences": [asdict(r) for r in server.records]}

    return app

"""Any OpenAI-compatible server: vLLM, llama.cpp's server, SGLang's OpenAI routes, hosted APIs."""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

import httpx

from storage.errors import BadRequestError, ChorusError
from tasks.backends.base import Completion, GenerationRequest, Health
from tasks.backends.http import post_json, probe_endpoints, shared_ssl_context, with_retries


class OpenAIBackend:
    """Chat (`/v1/chat/completions`) or raw completion (`/v1/completions`) requests.

    `supports_n=False` (llama.cpp ignores `n`) sends one seeded request per sample; with
    `supports_n=True` the samples of one prompt go in one request so the server shares the prefix.
    """

    kind = "openai"

    def __init__(
        self,
        name: str,
        *,
        endpoints: list[str],
        model: str,
        chat: bool = True,
        api_key_env: str | None = None,
        supports_n: bool = True,
        max_concurrency: int = 8,
        timeout_s: float = 300.0,
        extra_body: dict[str, Any] | None = None,
        kind: str = "openai",
    ) -> None:
        if not endpoints:
            raise ChorusError(f"model {name}: no endpoint configured")
        self.name = name
        self.kind = kind  # "llamacpp" for the embedded server: same protocol, no `n`
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.model = model
        self.chat = chat
        self.supports_n = supports_n
        self.max_concurrency = max_concurrency
        self.extra_body = extra_body or {}
        headers = {}
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise ChorusError(f"model {name}: environment variable {api_key_env} (API key) is not set")
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout_s, connect=10.0), verify=shared_ssl_context()
        )
        self._next = itertools.cycle(self.endpoints)

    def _url(self, base: str) -> str:
        root = base if base.endswith("/v1") else f"{base}/v1"
        return f"{root}/chat/completions" if self.chat else f"{root}/completions"

    def _body(self, request: GenerationRequest, n: int, seed: int) -> dict[str, Any]:
        p = request.params
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "seed": seed,
            **self.extra_body,
        }
        if n > 1:
            body["n"] = n
        if p.stop:
            body["stop"] = list(p.stop)
        if self.chat:
            body["messages"] = request.prompt.chat_messages()
        else:
            body["prompt"] = request.prompt.text
        return body

    async def _call(self, request: GenerationRequest, n: int, seed: int) -> list[Completion]:
        body = self._body(request, n, seed)

        async def once() -> list[Completion]:
            url = self._url(next(self._next))
            started = time.perf_counter()
            data = await post_json(self._client, url, body)
            return parse_openai_response(data, n, time.perf_counter() - started, url)

        return await with_retries(once)

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        if self.supports_n and len(request.indices) > 1:
            return await self._call(request, len(request.indices), request.seeds[0])
        out: list[Completion] = []
        for seed in request.seeds:
            out.extend(await self._call(request, 1, seed))
        return out

    async def score(self, texts: list[str]) -> list[float]:
        raise BadRequestError(f"model {self.name}: an OpenAI-compatible server has no reward route (use SGLang)")

    async def health(self) -> Health:
        probes = {b: f"{b if b.endswith('/v1') else b + '/v1'}/models" for b in self.endpoints}
        return await probe_endpoints(self._client, probes, timeout=5.0)

    async def aclose(self) -> None:
        await self._client.aclose()


def parse_openai_response(data: Any, n: int, latency: float, where: str) -> list[Completion]:
    """Completions from a chat or text response; usage is split evenly across choices.

    A response of the wrong shape (not an object, no choices, the wrong number of them) is a
    BadRequestError: the server answered, and would answer the same request the same way again.
    """
    if not isinstance(data, dict):
        raise BadRequestError(f"{where}: malformed response (a JSON {type(data).__name__}, expected an object)")
    try:
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        usage = data.get("usage") or {}
        texts = [c["message"]["content"] if "message" in c else c["text"] for c in choices]
        reasons = [c.get("finish_reason") or "unknown" for c in choices]
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_total = int(usage.get("completion_tokens") or 0)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise BadRequestError(f"{where}: malformed response ({type(exc).__name__}: {exc})") from None
    if len(texts) != n:
        raise BadRequestError(f"{where}: asked for {n} choices, got {len(texts)} (server ignores n?)")
    per = completion_total // n if n else 0
    return [Completion(t or "", prompt_tokens, per, r, latency / n) for t, r in zip(texts, reasons, strict=True)]

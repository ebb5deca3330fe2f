"""SGLang's HTTP server on GPU workers (one URL, several, or an sglang-router in front).

Raw-text models use the native `POST /generate` with `sampling_params.n`, so the prompt is prefilled
once and shared by the n samples; chat models use SGLang's `/v1/chat/completions`, which accepts `n`
too and applies the model's own chat template. Readiness is `GET /health_generate`, which only
answers once the server can really generate.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx

from storage.errors import BadRequestError, ChorusError
from tasks.backends.base import Completion, GenerationRequest, Health
from tasks.backends.http import post_json, probe_endpoints, shared_ssl_context, with_retries
from tasks.backends.openai_compat import parse_openai_response


class SGLangBackend:
    kind = "sglang"
    supports_n = True  # sampling_params.n / chat `n`: the prefix is computed once

    def __init__(
        self,
        name: str,
        *,
        endpoints: list[str],
        model: str,
        chat: bool = True,
        max_concurrency: int = 64,
        timeout_s: float = 600.0,
    ) -> None:
        if not endpoints:
            raise ChorusError(f"model {name}: no SGLang endpoint configured")
        self.name = name
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.model = model
        self.chat = chat
        self.max_concurrency = max_concurrency
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=10.0), verify=shared_ssl_context())
        self._next = itertools.cycle(self.endpoints)

    def _native_body(self, request: GenerationRequest) -> dict[str, Any]:
        p = request.params
        params: dict[str, Any] = {
            "n": len(request.indices),
            "max_new_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            # Ignored unless the server runs with --enable-deterministic-inference; sent for the record.
            "sampling_seed": request.seeds[0],
        }
        if p.stop:
            params["stop"] = list(p.stop)
        return {"text": request.prompt.text, "sampling_params": params}

    def _chat_body(self, request: GenerationRequest) -> dict[str, Any]:
        p = request.params
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request.prompt.chat_messages(),
            "n": len(request.indices),
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "seed": request.seeds[0],
        }
        if p.stop:
            body["stop"] = list(p.stop)
        return body

    async def generate(self, request: GenerationRequest) -> list[Completion]:
        n = len(request.indices)

        async def once() -> list[Completion]:
            base = next(self._next)
            started = time.perf_counter()
            if self.chat:
                url = f"{base}/v1/chat/completions"
                data = await post_json(self._client, url, self._chat_body(request))
                return parse_openai_response(data, n, time.perf_counter() - started, url)
            url = f"{base}/generate"
            data = await post_json(self._client, url, self._native_body(request))
            return parse_native_response(data, n, time.perf_counter() - started, url)

        return await with_retries(once)

    async def score(self, texts: list[str]) -> list[float]:
        """Reward-model scores of `texts` from SGLang's `POST /classify` (server run with `--is-embedding`).

        Each text must already be the conversation in the reward model's own chat template (user turn
        and assistant turn): SGLang scores raw text. The route answers one `{"embedding": [score, ...],
        "meta_info": {...}}` per text (a list for a list input); the reward is `embedding[0]`.
        """
        if not texts:
            return []

        async def once() -> list[float]:
            url = f"{next(self._next)}/classify"
            data = await post_json(self._client, url, {"model": self.model, "text": list(texts)})
            return parse_classify_response(data, len(texts), url)

        return await with_retries(once)

    async def health(self) -> Health:
        # /health_generate answers only once the server can really generate (not merely started).
        probes = {b: f"{b}/health_generate" for b in self.endpoints}
        return await probe_endpoints(self._client, probes, timeout=30.0)

    async def decode_slots(self) -> int | None:
        """Sequences all endpoints decode at once: the sum of each server's `max_running_requests`
        (`/get_server_info`). An sglang-router does not report slots, but lists its workers (`/workers`):
        their healthy workers' slots are summed. None when any server or worker does not say."""
        total = 0
        for base in self.endpoints:
            slots = await self._slots_at(base, follow_router=True)
            if slots is None:
                return None
            total += slots
        return total

    async def _slots_at(self, base: str, *, follow_router: bool) -> int | None:
        """One server's `max_running_requests`; for a router (when followed), its workers' sum."""
        info = await self._get_json(f"{base}/get_server_info")
        if not isinstance(info, dict):
            return None
        slots = info.get("max_running_requests")
        if slots is None and follow_router and "workers_count" in info:
            return await self._router_slots(base)
        if not isinstance(slots, int) or isinstance(slots, bool) or slots < 1:
            return None
        return slots

    async def _router_slots(self, router: str) -> int | None:
        listing = await self._get_json(f"{router}/workers")
        workers = listing.get("workers") if isinstance(listing, dict) else None
        if not isinstance(workers, list) or not workers:
            return None
        total = 0
        for worker in workers:
            if not isinstance(worker, dict) or not isinstance(worker.get("url"), str):
                return None
            if worker.get("is_healthy") is False:
                continue  # the router sends it nothing
            slots = await self._slots_at(worker["url"].rstrip("/"), follow_router=False)
            if slots is None:
                return None
            total += slots
        return total or None

    async def _get_json(self, url: str) -> object:
        """The JSON body of a GET, or None when the server cannot be reached or does not answer JSON."""
        try:
            r = await self._client.get(url, timeout=10.0)
            r.raise_for_status()
            return r.json()
        except (httpx.HTTPError, ValueError):
            return None

    async def aclose(self) -> None:
        await self._client.aclose()


def parse_native_response(data: Any, n: int, latency: float, where: str) -> list[Completion]:
    """`/generate` answers a dict for n = 1 and a list of dicts for n > 1.

    A wrong shape or count is a BadRequestError (not retried): the same request gets the same answer.
    """
    items = data if isinstance(data, list) else [data]
    if len(items) != n:
        raise BadRequestError(f"{where}: asked for {n} samples, got {len(items)}")
    out = []
    for item in items:
        try:
            meta = item["meta_info"]
            reason = meta.get("finish_reason")
            if isinstance(reason, dict):
                reason = reason.get("type")
            out.append(
                Completion(
                    str(item["text"]),
                    int(meta.get("prompt_tokens", 0)),
                    int(meta.get("completion_tokens", 0)),
                    str(reason or "unknown"),
                    latency / n,
                )
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise BadRequestError(f"{where}: malformed /generate response ({type(exc).__name__}: {exc})") from None
    return out


def parse_classify_response(data: Any, n: int, where: str) -> list[float]:
    """`/classify` answers a dict for one text and a list of dicts for a list; the reward is embedding[0]."""
    items = data if isinstance(data, list) else [data]
    if len(items) != n:
        raise BadRequestError(f"{where}: asked for {n} reward scores, got {len(items)}")
    try:
        return [float(item["embedding"][0]) for item in items]
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        # Retrying cannot help: the server is not a reward model (SGLang serves those with --is-embedding).
        raise BadRequestError(
            f"{where}: no reward score in the /classify response ({type(exc).__name__}: {exc}); "
            "is this a reward model launched with --is-embedding?"
        ) from None

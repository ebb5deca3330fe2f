"""Backends against real servers: llama.cpp's server, and the SGLang stand-in for SGLang-only routes."""

from __future__ import annotations

import asyncio

import pytest

from storage.errors import BadRequestError, TransientError
from tasks.backends.base import GenerationRequest, Prompt, SamplingParams
from tasks.backends.openai_compat import OpenAIBackend
from tasks.backends.sglang import SGLangBackend
from tests.fixtures.sglang_standin import SGLangStandIn

CHAT = Prompt(messages=(("user", "What is 2 + 3? Answer with a number."),))


def request(prompt: Prompt, n: int, max_tokens: int = 12, seeds: tuple[int, ...] | None = None) -> GenerationRequest:
    return GenerationRequest(
        "p1",
        prompt,
        SamplingParams(max_tokens=max_tokens, temperature=0.8),
        tuple(range(n)),
        seeds or tuple(range(100, 100 + n)),
    )


@pytest.mark.llama
def test_llamacpp_one_request_per_sample_with_seeds(llama_server: str) -> None:
    async def run() -> tuple[list, list, list]:
        backend = OpenAIBackend("smollm2", endpoints=[llama_server], model="smollm2", supports_n=False)
        try:
            assert (await backend.health()).ok
            first = await backend.generate(request(CHAT, 3, seeds=(1, 2, 3)))
            again = await backend.generate(request(CHAT, 3, seeds=(1, 2, 3)))
            other = await backend.generate(request(CHAT, 1, seeds=(99,)))
            return first, again, other
        finally:
            await backend.aclose()

    first, again, other = asyncio.run(run())
    assert len(first) == 3  # the server ignores n, so chorus asked three times
    assert [c.text for c in first] == [c.text for c in again]  # llama.cpp honours per-request seeds
    assert all(c.completion_tokens > 0 and c.prompt_tokens > 0 for c in first)
    assert {c.finish_reason for c in first} <= {"stop", "length"}
    assert len(other) == 1


@pytest.mark.llama
def test_llamacpp_raw_completion_and_bad_request(llama_server: str) -> None:
    async def run() -> list:
        backend = OpenAIBackend("smollm2", endpoints=[llama_server], model="smollm2", chat=False, supports_n=False)
        try:
            out = await backend.generate(request(Prompt(text="1, 2, 3, 4,"), 1, max_tokens=4))
            bad = GenerationRequest("p", Prompt(text="x"), SamplingParams(max_tokens=-5), (0,), (1,))
            with pytest.raises(BadRequestError, match="max_tokens"):
                await backend.generate(bad)
            return out
        finally:
            await backend.aclose()

    out = asyncio.run(run())
    assert out[0].completion_tokens <= 4 and out[0].finish_reason in {"length", "stop"}


def test_unreachable_endpoint_is_transient() -> None:
    from tasks.backends.local_server import free_port

    async def run() -> None:
        backend = OpenAIBackend("x", endpoints=[f"http://127.0.0.1:{free_port()}"], model="x", supports_n=False)
        try:
            health = await backend.health()
            assert not health.ok and "cannot connect" in health.detail
            with pytest.raises(TransientError, match="cannot connect"):
                await backend.generate(request(CHAT, 1))
        finally:
            await backend.aclose()

    asyncio.run(run())


def test_sglang_native_generate_shares_one_request_for_n() -> None:
    with SGLangStandIn() as server:

        async def run() -> list:
            backend = SGLangBackend("m", endpoints=[server.url], model="m", chat=False)
            try:
                assert (await backend.health()).ok
                return await backend.generate(request(Prompt(text="Q: 1+1?\nA:"), 5, max_tokens=64))
            finally:
                await backend.aclose()

        out = asyncio.run(run())
    assert len(out) == 5
    assert len(server.requests) == 1  # one request with sampling_params.n = 5
    sent = server.requests[0]["body"]
    assert server.requests[0]["path"] == "/generate"
    assert sent["sampling_params"]["n"] == 5 and sent["sampling_params"]["max_new_tokens"] == 64
    assert all(c.finish_reason == "stop" and "boxed" in c.text for c in out)


def test_sglang_single_sample_dict_and_length_finish() -> None:
    with SGLangStandIn() as server:

        async def run() -> list:
            backend = SGLangBackend("m", endpoints=[server.url], model="m", chat=False)
            try:
                return await backend.generate(request(Prompt(text="Q"), 1, max_tokens=2))
            finally:
                await backend.aclose()

        out = asyncio.run(run())
    assert len(out) == 1 and out[0].finish_reason == "length" and out[0].completion_tokens == 2


def test_sglang_chat_route_and_round_robin() -> None:
    with SGLangStandIn() as a, SGLangStandIn() as b:

        async def run() -> None:
            backend = SGLangBackend("m", endpoints=[a.url, b.url], model="m", chat=True)
            try:
                for _ in range(4):
                    out = await backend.generate(request(CHAT, 3))
                    assert len(out) == 3
            finally:
                await backend.aclose()

        asyncio.run(run())
    assert len(a.requests) == 2 and len(b.requests) == 2
    assert a.requests[0]["path"] == "/v1/chat/completions" and a.requests[0]["body"]["n"] == 3


def test_sglang_health_generate_reports_warming_server() -> None:
    with SGLangStandIn(warmup_s=60) as server:

        async def run():  # type: ignore[no-untyped-def]
            backend = SGLangBackend("m", endpoints=[server.url], model="m")
            try:
                return await backend.health()
            finally:
                await backend.aclose()

        health = asyncio.run(run())
    assert not health.ok and "HTTP 503" in health.detail

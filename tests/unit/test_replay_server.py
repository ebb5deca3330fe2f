"""The serve-replay stand-in: prompt-to-problem mapping, seeded draws, the GPU timing model, HTTP shapes
and errors, and the sequence budget the vote uses in front of it."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from chorus.replay_server.app import create_app
from chorus.replay_server.catalog import ReplayCatalog, UnknownPrompt, question_text
from chorus.replay_server.gpu_model import (
    GpuParams,
    GpuServer,
    SequenceRecord,
    ideal_makespan,
    utilisation_while_backlogged,
)
from storage.errors import ChorusError
from tasks.algorithms.answers import answer_key
from tasks.backends.sglang import SGLangBackend
from tasks.services.concurrency import SequenceBudget, in_flight_for_slots
from tests.conftest import REPO, SHARED_DATA

AIME = SHARED_DATA / "analysis_aime2024_Qwen3-4B.jsonl"


@pytest.fixture(scope="module")
def catalog() -> ReplayCatalog:
    return ReplayCatalog.from_files([AIME])


def test_prompt_names_its_problem_and_unknown_prompts_are_refused(catalog: ReplayCatalog) -> None:
    key, problem = catalog.find("System text.\n" + question_text("aime2024_Qwen3-4B/7"))
    assert key == "aime2024_Qwen3-4B/7" and problem.problem_id == "7"
    with pytest.raises(UnknownPrompt, match="names no recorded problem"):
        catalog.find("What is 2 + 2?")
    with pytest.raises(UnknownPrompt, match="no recorded problem 'aime2024_Qwen3-4B/99'"):
        catalog.find(question_text("aime2024_Qwen3-4B/99"))


def test_draws_are_seeded_recorded_and_cut_by_max_new_tokens(catalog: ReplayCatalog) -> None:
    _, problem = catalog.find(question_text("aime2024_Qwen3-4B/3"))
    recorded = set(zip(problem.answers, problem.tokens, strict=True))
    draws = [catalog.draw(problem, seed=11, index=i) for i in range(40)]
    assert draws == [catalog.draw(problem, seed=11, index=i) for i in range(40)]
    assert draws != [catalog.draw(problem, seed=12, index=i) for i in range(40)]
    assert all((d.answer, d.tokens) in recorded for d in draws)
    d = next(d for d in draws if d.answer)
    text, tokens, cut = d.text(None)
    assert answer_key(text, "number") == answer_key(f"\\boxed{{{d.answer}}}", "number") and tokens == d.tokens
    assert not cut
    text, tokens, cut = d.text(d.tokens - 1)
    assert cut and tokens == d.tokens - 1 and "\\boxed" not in text


def test_unreadable_or_malformed_replay_files_stop_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "analysis_bad.jsonl"
    bad.write_text('{"problem_num": 0, "all_answers": [["1", 5]]}\nnot json\n')
    with pytest.raises(ChorusError, match=r"analysis_bad.jsonl:2: not a replay record"):
        ReplayCatalog.from_files([bad])
    proc = subprocess.run(
        [sys.executable, "-m", "chorus.cli", "serve-replay", "--replay", str(tmp_path / "missing.jsonl")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode != 0 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing.jsonl: replay file not found" in lines[0]


def test_slots_queue_in_order_and_prefill_is_paid_once_per_request() -> None:
    # 100 tokens at 100 tok/s = 1 model second; speedup 20 makes it 50 ms of real time.
    server = GpuServer(GpuParams(slots=2, decode_tps=100, prefill_tps=400, speedup=20))

    async def scenario() -> None:
        await asyncio.gather(
            server.run_request("a", 400, [100, 100]),  # prefill 1 s once, on the first sequence only
            server.run_request("b", 0, [100]),  # queued behind a's two sequences
        )

    started = time.monotonic()
    asyncio.run(scenario())
    real = time.monotonic() - started
    a1, a2 = sorted((r for r in server.records if r.problem == "a"), key=lambda r: r.end)
    (b,) = [r for r in server.records if r.problem == "b"]
    tol = 0.4  # model seconds (20 ms real) of event-loop jitter
    assert abs(a1.end - 1.0) < tol and abs(a2.end - 2.0) < tol  # one of them also paid the prefill
    assert abs(b.start - a1.end) < tol and abs(b.end - 2.0) < tol  # FIFO: b took the first free slot
    assert abs(server.busy_slot_seconds - 4.0) < 3 * tol
    assert 1.5 / 20 < real < 4.0 / 20 + 0.5
    assert server.prompt_tokens_total == 400 and server.generation_tokens_total == 300


def test_utilisation_and_ideal_makespan_from_the_sequence_log() -> None:
    params = GpuParams(slots=2, decode_tps=10, prefill_tps=1000, speedup=1)
    records = [
        SequenceRecord(1, "p", 0.0, 0.0, 4.0, 40, 0),
        SequenceRecord(2, "q", 0.0, 0.0, 2.0, 20, 0),
        SequenceRecord(3, "q", 2.0, 2.0, 3.0, 10, 0),  # q's second request, after its first
        SequenceRecord(4, "r", 0.0, 3.5, 4.0, 5, 0),  # a slot idles from 3 to 3.5
    ]
    # backlog 3: the window closes when fewer than 3 sequences remain unfinished, at t = 3 (q's second ends)
    util, window = utilisation_while_backlogged(records, slots=2, backlog=3)
    assert window == 3.0 and util == pytest.approx(1.0)
    util, window = utilisation_while_backlogged(records, slots=2, backlog=1)
    assert window == 4.0 and util == pytest.approx(7.5 / 8)
    # work 75 tokens / 10 tok/s / 2 slots = 3.75 s; the longest chain: p 4 s (q: 2 + 1 = 3 s)
    assert ideal_makespan(records, params) == pytest.approx(4.0)
    longer_chain = [*records, SequenceRecord(5, "q", 3.0, 3.0, 6.0, 30, 0)]
    assert ideal_makespan(longer_chain, params) == pytest.approx(6.0)  # q: 2 + 1 + 3


def test_http_routes_follow_sglang_shapes(catalog: ReplayCatalog) -> None:
    app = create_app(catalog, GpuParams(slots=8, decode_tps=1e6, prefill_tps=1e6), model_name="replay/test")
    prompt = question_text("aime2024_Qwen3-4B/5")
    with TestClient(app) as client:
        body = {"text": prompt, "sampling_params": {"n": 3, "max_new_tokens": 10**6, "sampling_seed": 9}}
        many = client.post("/generate", json=body).json()
        assert isinstance(many, list) and len(many) == 3
        again = client.post("/generate", json=body).json()
        assert [m["text"] for m in many] == [m["text"] for m in again]  # the same seed, the same answers
        _, problem = catalog.find(prompt)
        for item in many:
            meta = item["meta_info"]
            assert meta["finish_reason"]["type"] == "stop" and meta["completion_tokens"] in problem.tokens
        one = client.post("/generate", json={"text": prompt, "sampling_params": {"sampling_seed": 9}}).json()
        assert isinstance(one, dict) and one["text"] == many[0]["text"]
        chat = client.post(
            "/v1/chat/completions",
            json={"model": "replay/test", "messages": [{"role": "user", "content": prompt}], "n": 2, "seed": 9},
        ).json()
        assert [c["message"]["content"] for c in chat["choices"]] == [m["text"] for m in many[:2]]
        assert chat["usage"]["completion_tokens"] == sum(m["meta_info"]["completion_tokens"] for m in many[:2])
        bad = client.post("/generate", json={"text": "What is 2 + 2?", "sampling_params": {}})
        assert bad.status_code == 400 and "names no recorded problem" in bad.json()["error"]["message"]
        bad_chat = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
        assert bad_chat.status_code == 400 and "names no recorded problem" in bad_chat.json()["message"]
        assert client.post("/generate", json={"text": prompt, "sampling_params": {"n": 0}}).status_code == 400
        assert client.get("/health_generate").status_code == 200
        assert client.get("/v1/models").json()["data"][0]["id"] == "replay/test"
        assert client.get("/get_model_info").json()["is_generation"] is True
        metrics = client.get("/metrics").text
        assert 'sglang:num_requests_total{model_name="replay/test"} 4' in metrics
        assert "sglang:num_running_reqs" in metrics and "sglang:num_queue_reqs" in metrics
        assert "sglang:generation_tokens_total" in metrics and "chorus_standin:busy_slot_seconds_total" in metrics
        timeline = client.get("/chorus/timeline").json()
        assert len(timeline["sequences"]) == 3 + 3 + 1 + 2
        json.dumps(timeline)


def test_sequence_budget_grants_in_order_and_never_exceeds_its_limit() -> None:
    budget = SequenceBudget(8)
    in_flight, peak, order = [0], [0], []

    async def request(i: int, n: int) -> None:
        async with budget.hold(n):
            order.append(i)
            in_flight[0] += min(n, 8)
            peak[0] = max(peak[0], in_flight[0])
            await asyncio.sleep(random.Random(i).uniform(0.001, 0.01))
            in_flight[0] -= min(n, 8)

    async def scenario() -> None:
        sizes = [random.Random(i).choice([1, 2, 4, 8, 20]) for i in range(60)]
        tasks = []
        for i, n in enumerate(sizes):
            tasks.append(asyncio.create_task(request(i, n)))
            await asyncio.sleep(0)  # arrivals in index order
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
    assert peak[0] == 8 and sorted(order) == list(range(60))
    assert order == sorted(order)  # at equal depth strictly first come, first served
    assert budget.free == 8


def test_sequence_budget_serves_fresh_problems_first_then_the_longest_chains() -> None:
    """The vote's scheduling: every waiting fresh problem (priority None) in arrival order, then the
    started problems' batches, the longest chain first; a large head request is not overtaken by
    smaller ones that would fit."""
    budget = SequenceBudget(4)
    order: list[str] = []
    release = asyncio.Event()

    async def request(name: str, n: int, priority: float | None) -> None:
        async with budget.hold(n, priority):
            order.append(name)
            await release.wait()

    async def scenario() -> None:
        running = [asyncio.create_task(request(f"busy{i}", 1, None)) for i in range(4)]
        await asyncio.sleep(0)
        assert budget.free == 0
        arrivals = [("chain150", 1, 150), ("fresh1", 1, None), ("chain900", 4, 900), ("fresh2", 1, None)]
        arrivals += [("chain300", 2, 300), ("chain900b", 1, 900)]
        for name, n, priority in arrivals:
            running.append(asyncio.create_task(request(name, n, priority)))
            await asyncio.sleep(0)
        assert budget.waiting == 6
        release.set()
        await asyncio.gather(*running)

    asyncio.run(scenario())
    assert order[4:] == ["fresh1", "fresh2", "chain900", "chain900b", "chain300", "chain150"]
    assert budget.free == 4


def test_sequence_budget_cancelled_waiter_hands_nothing_out_twice() -> None:
    budget = SequenceBudget(2)

    async def scenario() -> None:
        gate = asyncio.Event()

        async def hold(n: int, priority: float | None) -> None:
            async with budget.hold(n, priority):
                await gate.wait()

        first = asyncio.create_task(hold(2, None))
        await asyncio.sleep(0)
        big = asyncio.create_task(hold(2, 5))
        small = asyncio.create_task(hold(1, None))
        await asyncio.sleep(0)
        big.cancel()  # the head waiter leaves: the one behind it must still be served
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, small)
        assert big.cancelled()

    asyncio.run(scenario())
    assert budget.free == 2 and budget.waiting == 0


def test_vote_keeps_about_the_servers_slots_in_flight(catalog: ReplayCatalog) -> None:
    """The stand-in reports its slots as SGLang does (`max_running_requests`); the client sums them over
    its endpoints (behind a router: over the healthy workers it lists) and keeps an eighth more in
    flight, never more than the user's cap; unknown: the cap."""
    apps = {
        "http://a": create_app(catalog, GpuParams(slots=64), model_name="replay/test"),
        "http://b": create_app(catalog, GpuParams(slots=32), model_name="replay/test"),
    }

    async def slots(endpoints: list[str]) -> int | None:
        backend = SGLangBackend("m", endpoints=endpoints, model="replay/test", chat=False)
        await backend.aclose()

        async def route(request: httpx.Request) -> httpx.Response:
            host = f"{request.url.scheme}://{request.url.host}"
            app = apps.get(host)
            if app is None and request.url.path == "/get_server_info":  # a router: no slots of its own
                return httpx.Response(200, json={"router_manager": True, "routers_count": 1, "workers_count": 2})
            if app is None and request.url.path == "/workers":  # sglang-router's listing (as 0.3.2 answers)
                workers = {"http://router": ["http://a", "http://b"], "http://router-to-lost": ["http://a", "http://c"]}
                down = {"url": "http://unhealthy", "is_healthy": False}
                return httpx.Response(200, json={"workers": [{"url": u} for u in workers[host]] + [down]})
            if app is None:  # a worker that cannot be reached
                raise httpx.ConnectError("refused", request=request)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as inner:
                return await inner.get(request.url.path)

        backend._client = httpx.AsyncClient(transport=httpx.MockTransport(route))
        try:
            return await backend.decode_slots()
        finally:
            await backend.aclose()

    assert asyncio.run(slots(["http://a", "http://b"])) == 96
    assert asyncio.run(slots(["http://router"])) == 96  # its healthy workers' slots
    assert asyncio.run(slots(["http://a", "http://router"])) == 160
    assert asyncio.run(slots(["http://router-to-lost"])) is None  # a worker does not answer: unknown
    assert in_flight_for_slots(128, 64) == 72
    assert in_flight_for_slots(128, 16) == 20
    assert in_flight_for_slots(40, 64) == 40  # the user's cap stays a cap
    assert in_flight_for_slots(128, None) == 128

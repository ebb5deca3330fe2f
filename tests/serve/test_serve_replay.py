"""`chorus serve` over recorded answers (replay stand-in), through the official openai client:
every strategy, chat and completions, streaming, seeds and the cache, /v1/models and /metrics."""

from __future__ import annotations

import random

import httpx
import pytest

from storage.engine import open_engine
from storage.ensembles import save_ensemble
from tasks.algorithms.answers import answer_key
from tasks.algorithms.replay_files import load_replay
from tasks.algorithms.stopping import VoteState, make_rule
from tests.serve.conftest import MATH_A, Served

PROBLEMS = [str(i) for i in range(0, 60, 7)]


@pytest.fixture(scope="module")
def recorded() -> dict[str, set[str | None]]:
    """Answer keys each MATH500 problem can produce (what gpt-oss-20b recorded)."""
    return {
        p.problem_id: {answer_key(f"\\boxed{{{a}}}") if a else None for a in p.answers} for p in load_replay(MATH_A)
    }


def chat(server: Served, model: str, question: str, **kw):  # type: ignore[no-untyped-def]
    return server.client().chat.completions.create(model=model, messages=[{"role": "user", "content": question}], **kw)


def test_bo_inf_votes_recorded_answers_and_stops_by_the_rule(replay_server: Served, recorded) -> None:  # type: ignore[no-untyped-def]
    rule = make_rule("bayes", 10, max_samples=32)
    for question in PROBLEMS:
        r = chat(replay_server, "bo-inf/math", question, seed=11)
        c = r.model_extra["chorus"]
        assert c["strategy"] == "bo-inf"
        assert set(c["votes"]) <= recorded[question]
        assert sum(c["votes"].values()) + c["no_answer"] == c["samples"]
        assert c["answer"] == max(c["votes"], key=c["votes"].get)  # plurality (dict keeps first-seen order)
        state = VoteState.from_sequences([[a for a, k in c["votes"].items() for _ in range(k)]])
        stop, score = rule.should_stop(state)
        assert score[0] == pytest.approx(c["stopping_score"])
        assert bool(stop[0]) or c["samples"] == 32
        assert answer_key(r.choices[0].message.content) == c["answer"]  # the text of a winning sample
        assert r.usage.completion_tokens > 0 and r.usage.total_tokens == r.usage.completion_tokens


def test_settings_in_the_chorus_object_change_the_vote(replay_server: Served) -> None:
    # A threshold no count vector below 32 samples can reach: every problem draws exactly max_samples.
    r = chat(replay_server, "bo-inf/math", "3", seed=5, extra_body={"chorus": {"threshold": 1e30, "max_samples": 12}})
    assert r.model_extra["chorus"]["samples"] == 12
    r = chat(replay_server, "bo-inf/math", "3", seed=5, extra_body={"chorus": {"rule": "fixed", "threshold": 3}})
    assert r.model_extra["chorus"]["samples"] == 3


def test_same_seed_is_answered_from_the_cache_and_other_seeds_draw_anew(replay_server: Served) -> None:
    first = chat(
        replay_server, "bo-inf/math", "21", seed=1234, extra_body={"chorus": {"threshold": 1e30, "max_samples": 16}}
    )
    again = chat(
        replay_server, "bo-inf/math", "21", seed=1234, extra_body={"chorus": {"threshold": 1e30, "max_samples": 16}}
    )
    a, b = first.model_extra["chorus"], again.model_extra["chorus"]
    assert a["generated"] == 16 and a["cached"] == 0
    assert b["generated"] == 0 and b["cached"] == 16
    assert (a["answer"], a["votes"], first.usage.completion_tokens) == (
        b["answer"],
        b["votes"],
        again.usage.completion_tokens,
    )
    assert first.choices[0].message.content == again.choices[0].message.content
    # Other seeds draw other recorded samples (token counts differ on a 16-sample draw).
    other = [
        chat(replay_server, "bo-inf/math", "21", seed=s, extra_body={"chorus": {"threshold": 1e30, "max_samples": 16}})
        for s in (1, 2, 3)
    ]
    assert all(o.model_extra["chorus"]["generated"] == 16 for o in other)
    assert len({o.usage.completion_tokens for o in other} | {first.usage.completion_tokens}) > 1


def test_vote_n_is_a_fixed_majority(replay_server: Served) -> None:
    r = chat(replay_server, "vote-8/math", "14", seed=2)
    c = r.model_extra["chorus"]
    assert (c["strategy"], c["rule"], c["samples"]) == ("vote", "fixed", 8)
    assert sum(c["votes"].values()) + c["no_answer"] == 8


def test_single_sample_and_n_choices_come_from_the_cache(replay_server: Served, recorded) -> None:  # type: ignore[no-untyped-def]
    r = chat(replay_server, "math", "28", n=3, seed=9)
    assert len(r.choices) == 3
    assert {answer_key(ch.message.content) for ch in r.choices} <= recorded["28"]
    # The first of 3 is sample 0: a one-sample request with the same seed returns its text from the cache.
    one = chat(replay_server, "math", "28", seed=9)
    assert one.choices[0].message.content == r.choices[0].message.content
    assert one.model_extra["chorus"]["generated"] == 0


def test_completions_endpoint(replay_server: Served, recorded) -> None:  # type: ignore[no-untyped-def]
    r = replay_server.client().completions.create(model="vote-5/math", prompt="35", seed=3)
    assert r.object == "text_completion"
    c = r.model_extra["chorus"]
    assert answer_key(r.choices[0].text) == c["answer"] and c["answer"] in recorded["35"]


def test_streaming_sends_the_same_text_and_the_chorus_object(replay_server: Served) -> None:
    whole = chat(replay_server, "bo-inf/math", "42", seed=8)
    stream = chat(replay_server, "bo-inf/math", "42", seed=8, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == whole.choices[0].message.content
    finals = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].model_extra["chorus"]["answer"] == whole.model_extra["chorus"]["answer"]
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    completion_stream = replay_server.client().completions.create(model="math", prompt="42", stream=True, seed=8)
    assert "".join(ch.choices[0].text for ch in completion_stream)


def test_fusion_and_best_of_n(replay_server: Served, recorded) -> None:  # type: ignore[no-untyped-def]
    r = chat(replay_server, "fusion-4/math+fusor=math-b", "49", seed=4)
    c = r.model_extra["chorus"]
    assert (c["strategy"], c["fusor"], c["samples"]) == ("fusion", "math-b", 5)
    assert set(c["candidate_answers"]) <= recorded["49"]
    again = chat(replay_server, "fusion-4/math+fusor=math-b", "49", seed=4)
    assert (
        again.model_extra["chorus"]["generated"] == 0
        and again.choices[0].message.content == r.choices[0].message.content
    )
    b = chat(replay_server, "bon-5/math", "49", seed=4).model_extra["chorus"]
    assert b["scorer"] == "majority" and len(b["candidate_answers"]) == 5
    votes = b["candidate_answers"]
    assert votes.count(b["answer"]) == max(votes.count(v) for v in votes if v)  # the majority's sample
    assert b["candidate_answers"] == c["candidate_answers"] + b["candidate_answers"][4:]  # same cache indices


def test_ensemble_uses_saved_weights(replay_server: Served) -> None:
    engine = open_engine(replay_server.db_url)
    save_ensemble(engine, "only-a", ["math", "math-b"], [1.0, 0.0], {"test": True})
    save_ensemble(engine, "mix", ["math", "math-b"], [0.5, 0.5], {"test": True})
    solo = chat(replay_server, "bo-inf/math", "56", seed=21).model_extra["chorus"]
    only_a = chat(replay_server, "ensemble/only-a", "56", seed=21).model_extra["chorus"]
    # All weight on `math`: the same draws as bo-inf/math, all found in the cache.
    assert (only_a["answer"], only_a["votes"], only_a["generated"]) == (solo["answer"], solo["votes"], 0)
    mix = chat(
        replay_server, "ensemble/mix", "56", seed=21, extra_body={"chorus": {"threshold": 1e30, "max_samples": 20}}
    )
    per = mix.model_extra["chorus"]["samples_per_model"]
    assert sum(per.values()) == 20 and min(per.values()) > 0
    listed = {m.id for m in replay_server.client().models.list()}
    assert {"ensemble/mix", "ensemble/only-a", "bo-inf/math", "math-b"} <= listed


def test_metrics_count_requests_and_samples(replay_server: Served) -> None:
    chat(replay_server, "vote-2/math", str(random.Random().randrange(400, 499)))
    text = httpx.get(replay_server.url.removesuffix("/v1") + "/metrics").text
    assert 'chorus_requests_total{status="200",strategy="vote"}' in text
    generated = [line for line in text.splitlines() if line.startswith('chorus_samples_total{origin="generated"}')]
    assert generated and float(generated[0].split()[-1]) >= 2
    assert "chorus_request_latency_seconds_bucket" in text


def _gc_collections(server: Served) -> dict[str, float]:
    text = httpx.get(server.url.removesuffix("/v1") + "/metrics").text
    prefix = "python_gc_collections_total{generation="
    return {line.split('"')[1]: float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix)}


def test_serving_under_load_runs_few_garbage_collections(replay_server: Served) -> None:
    """100 concurrent `bo-inf` votes that draw fresh samples: with CPython's default thresholds the
    server ran 41 young, 4 middle and 1 full collection for them (a vote's objects live across its
    awaits and get promoted); under the serving policy (chorus/serve/app.py) at most one young one,
    whatever earlier requests left counted."""
    import asyncio

    seed = random.Random().randrange(10**6)

    async def load() -> None:
        async with httpx.AsyncClient(base_url=replay_server.url, timeout=60) as client:

            async def vote(problem: int) -> None:
                body = {"model": "bo-inf/math", "messages": [{"role": "user", "content": str(problem)}], "seed": seed}
                response = await client.post("/chat/completions", json=body)
                assert response.status_code == 200, response.text

            await asyncio.gather(*(vote(p) for p in range(100)))

    before = _gc_collections(replay_server)
    asyncio.run(load())
    after = _gc_collections(replay_server)
    assert set(before) == {"0", "1", "2"}
    ran = {g: after[g] - before[g] for g in before}
    assert ran["0"] <= 1 and ran["1"] == 0 and ran["2"] == 0, ran

"""The per-request vote loop of `chorus serve` (tasks/services/request_vote.py)."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest

from storage.cache import GenerationCache
from storage.engine import open_engine
from tasks.algorithms.datasets import Problem
from tasks.algorithms.stopping import VoteState, make_rule
from tasks.backends.factory import create_backend, model_fingerprint
from tasks.backends.spec import ModelSpec
from tasks.services.request_vote import _decide, pick_model, vote_request
from tasks.services.sample_batcher import SampleBatcher
from tasks.services.sampling import SamplingJob
from tests.conftest import SHARED_DATA

REPLAY = SHARED_DATA / "analysis_math500_Qwen3-14B.jsonl"


@pytest.mark.parametrize("rule", [make_rule("bayes", 10, 32), make_rule("beta", 0.95, 32), make_rule("esc", 3, 32)])
def test_memoised_decisions_equal_the_rule(rule) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(0)
    for _ in range(300):
        answers = [rng.choice(["a", "b", "c", None]) for _ in range(rng.randrange(1, 12))]
        for _repeat in range(2):  # the second call is served from the memo where the rule allows it
            stop, score = _decide(rule, answers, np.random.default_rng(0))
            want_stop, want_score = rule.should_stop(VoteState.from_sequences([answers], window=rule.window))
            assert (stop, score) == (bool(want_stop[0]), pytest.approx(float(want_score[0])))


def test_pick_model_follows_the_weights_and_repeats() -> None:
    picks = [pick_model("p", k, (0.8, 0.2)) for k in range(4000)]
    assert picks == [pick_model("p", k, (0.8, 0.2)) for k in range(4000)]
    assert 0.77 < picks.count(0) / len(picks) < 0.83


def test_fixed_majority_draws_exactly_n_and_a_rerun_is_cached(tmp_path) -> None:  # type: ignore[no-untyped-def]
    if not REPLAY.is_file():
        pytest.skip("shared replay data not found")
    spec = ModelSpec("m", "replay", path=str(REPLAY))
    job = SamplingJob(spec, model_fingerprint(spec), spec.sampling_params())
    cache = GenerationCache(open_engine(f"sqlite:///{tmp_path / 'c.db'}"))
    backend = create_backend(spec)
    problem = Problem("3", "3")

    async def run():  # type: ignore[no-untyped-def]
        return await vote_request(
            problem, (job,), (1.0,), [backend], SampleBatcher(cache), make_rule("fixed", 5, 5), "math"
        )

    first, again = asyncio.run(run()), asyncio.run(run())
    assert len(first.drawn) == 5 and first.stats.generated == 5
    assert again.stats.generated == 0 and again.stats.cached == 5
    assert [d.generation.text for d in again.drawn] == [d.generation.text for d in first.drawn]
    assert first.counts and sum(first.counts.values()) == sum(d.answer is not None for d in first.drawn)

"""Chunk tallies merged in input order report what the whole list of votes would, so no run keeps that list."""

from __future__ import annotations

import random
import statistics

import pytest

from tasks.algorithms.vote_tally import ProblemVote, VoteTally, merge_tallies


def _votes(n: int, seed: int) -> list[ProblemVote]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        gold = None if rng.random() < 0.2 else "7"
        answer = None if rng.random() < 0.1 else rng.choice(["7", "8"])
        correct = None if gold is None else answer == gold
        samples = rng.randint(1, 16)
        tokens = rng.randint(0, 900)
        out.append(ProblemVote(f"p{i}", answer, gold, correct, samples, rng.random(), tokens, ["7"] * samples))
    return out


def _expected(votes: list[ProblemVote]) -> dict[str, object]:
    """The report's figures, computed directly from the whole list (as the flow did before tallies)."""
    graded = [v for v in votes if v.correct is not None]
    samples = [v.samples for v in votes]
    return {
        "problems": len(votes),
        "graded": len(graded),
        "accuracy": round(sum(bool(v.correct) for v in graded) / len(graded), 4) if graded else None,
        "no_answer": sum(v.answer is None for v in votes),
        "mean_samples": round(statistics.fmean(samples), 3) if samples else 0,
        "median_samples": statistics.median(samples) if samples else 0,
        "completion_tokens": sum(v.completion_tokens for v in votes),
    }


@pytest.mark.parametrize(("n", "chunk", "keep"), [(0, 8, 5), (1, 8, 5), (37, 8, 10), (200, 7, 1000), (64, 16, 0)])
def test_merged_chunk_tallies_report_what_the_whole_list_does(n: int, chunk: int, keep: int) -> None:
    votes = _votes(n, seed=n)
    chunks = [votes[i : i + chunk] for i in range(0, n, chunk)]
    tallies = [VoteTally.of(c, max(0, keep - i * chunk)) for i, c in enumerate(chunks)]
    merged = merge_tallies(tallies, keep)
    assert merged.summary() == _expected(votes) == VoteTally.of(votes).summary()
    # the table keeps the input's first rows, in order, without their answer lists
    assert [v.problem_id for v in merged.rows] == [v.problem_id for v in votes[:keep]]
    assert all(v.answers == [] for v in merged.rows)
    assert merged.total_samples == sum(v.samples for v in votes)


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    votes = _votes(4, seed=1)
    for v, s in zip(votes, [1, 2, 5, 16], strict=True):
        v.samples = s
    assert VoteTally.of(votes).median_samples() == 3.5 == statistics.median([1, 2, 5, 16])


def test_a_tally_keeps_no_rows_beyond_what_it_is_asked_for() -> None:
    votes = _votes(50, seed=2)
    tally = VoteTally.of(votes, keep_rows=3)
    assert len(tally.rows) == 3 and votes[0].answers  # the votes themselves are untouched
    merged = tally.merge(VoteTally.of(votes, 50), keep_rows=4)  # the later tally's first row comes fourth
    assert [v.problem_id for v in merged.rows] == ["p0", "p1", "p2", "p0"]

"""Recorded answers as integer arrays for the simulator (:mod:`tasks.algorithms.simulation`), and the
memo of a rule's count statistic. Pure: numpy only.

Authors mode (``compat="authors"``) builds each problem's pool as the authors' loader does (blank
answers dropped, their gold clean-up); see note 6 in :mod:`tasks.algorithms.stopping`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from storage.errors import ChorusError
from tasks.algorithms.replay_files import ReplayProblem
from tasks.algorithms.stopping import StoppingRule


def default_key(answer: str) -> str | None:
    return answer or None


@dataclass
class ReplayTable:
    """Problems as integer arrays: answer ids (-1 = no answer), tokens, per-model slices, gold ids."""

    ans: np.ndarray  # (P, L) int32, concatenated models' answers; -1 = no answer or padding
    tok: np.ndarray  # (P, L) int64
    offset: np.ndarray  # (M, P) start of model m's answers in row p
    length: np.ndarray  # (M, P) how many answers model m recorded for p
    gold: np.ndarray  # (P,) vocabulary id of the gold answer, -2 when absent or unseen
    vocab: int  # largest vocabulary size over problems
    bo_inf: float


def authors_pool(prob: ReplayProblem) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """What the authors' loader (``AnalysisData``) keeps of a problem: the samples with a non-blank answer.
    With none left their sampler returns ("", 0) on every draw, so the pool is one blank of 0 tokens."""
    kept = [(a, t) for a, t in zip(prob.answers, prob.tokens, strict=True) if a.strip()]
    if not kept:
        return ("",), (0,)
    return tuple(a for a, _ in kept), tuple(t for _, t in kept)


def authors_gold(gold: str | None) -> str | None:
    """Their loader's clean-up of the gold answer: no degree marks, \\dfrac → \\frac, outer spaces trimmed."""
    if gold is None or not gold.strip():
        return gold
    return re.sub(r"\^\{\\circ\}|\^\\circ", "", gold).replace("\\dfrac", "\\frac").strip()


def build_table(
    models: list[list[ReplayProblem]], weights: np.ndarray, key: Callable, authors: bool = False
) -> tuple[ReplayTable, int]:
    by_id = [{p.problem_id: p for p in model} for model in models]
    ids = [p.problem_id for p in models[0] if all(p.problem_id in m for m in by_id[1:])]
    dropped = len({pid for m in by_id for pid in m}) - len(ids)
    if not ids:
        raise ChorusError("simulate: the models' replay lists share no problem id")
    # authors mode samples from what their loader keeps (blank answers dropped); chorus draws everything
    rows = [[authors_pool(m[pid]) if authors else (m[pid].answers, m[pid].tokens) for m in by_id] for pid in ids]
    golds = [authors_gold(by_id[0][pid].gold) if authors else by_id[0][pid].gold for pid in ids]
    width = max(sum(len(answers) for answers, _ in row) for row in rows)
    ans = np.full((len(ids), width), -1, dtype=np.int32)
    tok = np.zeros((len(ids), width), dtype=np.int64)
    offset = np.zeros((len(models), len(ids)), dtype=np.int64)
    length = np.zeros((len(models), len(ids)), dtype=np.int64)
    gold = np.full(len(ids), -2, dtype=np.int64)
    vocab, correct = 1, 0
    for i, row in enumerate(rows):
        seen: dict[str, int] = {}
        votes: list[float] = []
        pos = 0
        for m, (answers, tokens) in enumerate(row):
            offset[m, i], length[m, i] = pos, len(answers)
            for a, t in zip(answers, tokens, strict=True):
                k = key(a)
                if k is not None:
                    j = seen.setdefault(k, len(seen))
                    if j == len(votes):
                        votes.append(0.0)
                    votes[j] += weights[m] / len(answers)
                    ans[i, pos] = j
                tok[i, pos] = t
                pos += 1
        vocab = max(vocab, len(seen))
        g = key(golds[i]) if golds[i] is not None else None
        gold[i] = seen.get(g, -2) if g is not None else -2
        # the infinite-sample vote: argmax of Σ wᵢ pᵢ(a); np.argmax keeps the earliest-seen of ties
        correct += bool(votes) and int(np.argmax(votes)) == gold[i]
    return ReplayTable(ans, tok, offset, length, gold, vocab, correct / len(ids)), dropped


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a 2-D integer array and the inverse index (rows viewed as byte strings)."""
    rows = np.ascontiguousarray(rows)
    view = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1])))[:, 0]
    _, first, inverse = np.unique(view, return_index=True, return_inverse=True)
    return rows[first], inverse.ravel()


class StatCache:
    """Memo of a rule's deterministic count statistic, keyed by the sorted count vector's bytes."""

    def __init__(self, rule: StoppingRule) -> None:
        self.rule = rule
        self.memo: dict[bytes, float] = {}

    def __call__(self, uniq: np.ndarray) -> np.ndarray:
        keys = [row.tobytes() for row in uniq]  # widths differ between calls: lengths keep keys apart
        missing = [i for i, k in enumerate(keys) if k not in self.memo]
        if missing:
            fresh = self.rule.count_stat(uniq[missing])
            for i, v in zip(missing, fresh, strict=True):
                self.memo[keys[i]] = float(v)
        return np.array([self.memo[k] for k in keys])

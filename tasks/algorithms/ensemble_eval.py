"""Answer distributions of several models, mixture accuracy, splits and cross-validated ensembles.

Pure: numpy only, plus ``tasks.algorithms.ensemble_weights`` for the optimiser (no prefect/sqlalchemy/httpx).

Answers are compared through a ``key`` (answer text -> canonical key, or None for "no answer"); the
default keeps the raw string and drops blank answers, as the Best-of-∞ authors do. pᵢ(a|q) is model
i's share of its *answered* generations on q (blank ones are not counted in the total), so a model
with no answer on q contributes nothing.

Ties: ``ties="wrong"`` (default) counts a problem right only when the gold answer's mixture mass is
strictly above every other answer's (and above zero); ``ties="right"`` is the authors' rule, "no
wrong answer has more mass than the gold", which reproduces the paper's figures. The solver's
``epsilon`` mirrors this: ``epsilon > 0`` for "wrong", ``epsilon = 0`` for "right".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from storage.errors import ChorusError
from tasks.algorithms.ensemble_weights import TOL, EnsembleSolution, min_leads, solve_ensemble
from tasks.algorithms.replay_files import ReplayProblem

Key = Callable[[str], "str | None"]
Ties = Literal["wrong", "right"]
TIE_TOL = TOL  # the solver returns weights exact to ~1e-11: a lead this small is rounding, not a win


def raw_key(answer: str) -> str | None:
    """The answer unchanged; blank means nothing could be extracted."""
    return answer if answer.strip() else None


@dataclass(frozen=True)
class EnsembleData:
    """Per problem a (K, 1 + W) matrix: column 0 the gold answer, then the wrong answers seen."""

    problem_ids: tuple[str, ...]
    probs: tuple[np.ndarray, ...]
    labels: tuple[tuple[str, ...], ...]  # column keys, gold first
    tokens: np.ndarray  # (K,) mean completion tokens per generation over these problems
    dropped_ids: tuple[str, ...] = ()  # not recorded for every model
    no_gold_ids: tuple[str, ...] = ()  # gold missing or blank under the key: skipped
    index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_models(self) -> int:
        return int(self.tokens.shape[0])

    def subset(self, ids: Sequence[str]) -> EnsembleData:
        """The same data restricted to ``ids`` (tokens kept from the full set)."""
        if not self.index:
            self.index.update({pid: n for n, pid in enumerate(self.problem_ids)})
        try:
            rows = [self.index[pid] for pid in ids]
        except KeyError as exc:
            raise ChorusError(f"ensemble: problem {exc.args[0]!r} is not in the data") from None
        return EnsembleData(
            tuple(ids), tuple(self.probs[n] for n in rows), tuple(self.labels[n] for n in rows), self.tokens
        )


def build_dists(replays: Sequence[Sequence[ReplayProblem]], key: Key = raw_key) -> EnsembleData:
    """Distributions over the problems every model recorded; the rest are listed in ``dropped_ids``."""
    if not replays:
        raise ChorusError("ensemble: no models given")
    by_model = [{p.problem_id: p for p in rp} for rp in replays]
    common = set(by_model[0]).intersection(*by_model[1:])
    everything = set().union(*by_model)
    ordered = [p.problem_id for p in replays[0] if p.problem_id in common]
    ids, probs, labels, no_gold = [], [], [], []
    tok_sum, tok_n = np.zeros(len(replays)), np.zeros(len(replays))
    for pid in ordered:
        golds = {None if by_model[i][pid].gold is None else key(by_model[i][pid].gold) for i in range(len(replays))}
        if len(golds) > 1:
            raise ChorusError(f"ensemble: models disagree on the gold answer of problem {pid}: {golds}")
        gold = golds.pop()
        if gold is None:
            no_gold.append(pid)
            continue
        counts: list[dict[str, int]] = []
        for i, m in enumerate(by_model):
            prob = m[pid]
            tok_sum[i] += sum(prob.tokens)
            tok_n[i] += len(prob.tokens)
            tally: dict[str, int] = {}
            for a in prob.answers:
                k = key(a)
                if k is not None:
                    tally[k] = tally.get(k, 0) + 1
            counts.append(tally)
        wrong = sorted({a for t in counts for a in t} - {gold})
        cols = (gold, *wrong)
        mat = np.zeros((len(replays), len(cols)))
        for i, t in enumerate(counts):
            total = sum(t.values())
            if total:
                mat[i] = [t.get(a, 0) / total for a in cols]
        ids.append(pid)
        probs.append(mat)
        labels.append(cols)
    if not ids:
        raise ChorusError("ensemble: no problem is shared by all models and has a gold answer")
    return EnsembleData(
        tuple(ids),
        tuple(probs),
        tuple(labels),
        tok_sum / np.maximum(tok_n, 1),
        tuple(sorted(everything - common)),
        tuple(no_gold),
    )


def mixture_correct(data: EnsembleData, weights: Sequence[float], ties: Ties = "wrong") -> np.ndarray:
    """Per problem: does argmax_a Σᵢ wᵢ pᵢ(a) equal the gold answer (Bo∞ of the mixture)?"""
    w = np.asarray(weights, dtype=float)
    if w.shape != (data.n_models,) or (w < 0).any() or w.sum() <= 0:
        raise ChorusError(f"ensemble: need {data.n_models} non-negative weights with a positive sum")
    leads = min_leads(data.probs, w / w.sum())
    return leads > TIE_TOL if ties == "wrong" else leads >= -TIE_TOL


def mixture_accuracy(data: EnsembleData, weights: Sequence[float], ties: Ties = "wrong") -> float:
    """Fraction of problems the weighted mixture's plurality answer gets right."""
    return float(mixture_correct(data, weights, ties).mean())


def single_accuracy(data: EnsembleData, model: int, ties: Ties = "wrong") -> float:
    """Bo∞ accuracy of one model: its plurality answer over all its recorded generations."""
    return mixture_accuracy(data, np.eye(data.n_models)[model], ties)


def train_test_split(ids: Sequence[str], frac: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Shuffle with ``seed``; the first round(frac·n) ids train, the rest test (both non-empty)."""
    if not 0 < frac < 1:
        raise ChorusError(f"train fraction must be strictly between 0 and 1, got {frac}")
    if len(ids) < 2:
        raise ChorusError("a train/test split needs at least 2 problems")
    order = [ids[n] for n in np.random.default_rng(seed).permutation(len(ids))]
    cut = min(max(round(frac * len(ids)), 1), len(ids) - 1)
    return order[:cut], order[cut:]


def k_folds(ids: Sequence[str], k: int, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """(train, test) pairs: a seeded shuffle cut into k near-equal test folds."""
    if not 2 <= k <= len(ids):
        raise ChorusError(f"k-fold needs 2 <= k <= {len(ids)} problems, got k={k}")
    order = [ids[n] for n in np.random.default_rng(seed).permutation(len(ids))]
    folds = [order[f::k] for f in range(k)]
    return [([pid for g, fold in enumerate(folds) if g != f for pid in fold], folds[f]) for f in range(k)]


@dataclass(frozen=True)
class CrossValReport:
    """Accuracy per fold and averaged, keyed by model name and ``"ensemble"``."""

    names: tuple[str, ...]
    train: dict[str, float]
    test: dict[str, float]
    fold_weights: tuple[np.ndarray, ...]
    fold_solutions: tuple[EnsembleSolution, ...]


def cross_validate(
    data: EnsembleData,
    names: Sequence[str] | None = None,
    *,
    k: int = 5,
    seed: int = 0,
    ties: Ties = "wrong",
    **solve_kwargs,
) -> CrossValReport:
    """Learn weights on k-1 folds, score in-sample and held-out; single models are scored the same way."""
    names = tuple(names) if names is not None else tuple(f"model{i}" for i in range(data.n_models))
    if len(names) != data.n_models or "ensemble" in names:
        raise ChorusError(f"cross-validation needs {data.n_models} model names, none called 'ensemble'")
    solve_kwargs.setdefault("epsilon", 0.0 if ties == "right" else 1e-6)
    if "costs" not in solve_kwargs and (solve_kwargs.get("stage2") == "cost" or "token_budget" in solve_kwargs):
        solve_kwargs["costs"] = data.tokens
    train_acc = {n: [] for n in (*names, "ensemble")}
    test_acc = {n: [] for n in (*names, "ensemble")}
    weights, sols = [], []
    for tr_ids, te_ids in k_folds(data.problem_ids, k, seed):
        tr, te = data.subset(tr_ids), data.subset(te_ids)
        sol = solve_ensemble(tr.probs, **solve_kwargs)
        weights.append(sol.weights)
        sols.append(sol)
        for i, n in enumerate(names):
            train_acc[n].append(single_accuracy(tr, i, ties))
            test_acc[n].append(single_accuracy(te, i, ties))
        train_acc["ensemble"].append(mixture_accuracy(tr, sol.weights, ties))
        test_acc["ensemble"].append(mixture_accuracy(te, sol.weights, ties))
    mean = lambda acc: {n: float(np.mean(v)) for n, v in acc.items()}  # noqa: E731
    return CrossValReport(names, mean(train_acc), mean(test_acc), tuple(weights), tuple(sols))

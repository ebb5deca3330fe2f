"""Monte Carlo replay of adaptive sampling over recorded answers (the paper's evaluation), fast.

Pure: numpy and scipy only. Each trial draws, for every problem, a sequence of up to ``max_samples``
answers *with replacement* from the recorded ones (for a weighted mixture: each draw first picks model
i with probability wᵢ), then applies a stopping rule from :mod:`tasks.algorithms.stopping` at every threshold and
plain majority at every fixed N. Differences from the authors' code are listed in one place, the
docstring of :mod:`tasks.algorithms.stopping`.

Why it is fast: all trials' draws are made at once ((trials × problems) rows × n columns, in chunks),
vote counts are updated one column at a time for all rows, the rule is evaluated only at its check
points and only for rows some threshold still runs, and count-based statistics (Bayes factor, Beta
score) are memoised on the sorted count vector, which repeats a great deal across problems and trials.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from storage.errors import ChorusError
from tasks.algorithms.replay_files import ReplayProblem
from tasks.algorithms.simulation_table import ReplayTable, StatCache, build_table, default_key, unique_rows
from tasks.algorithms.stopping import StoppingRule, make_rule, plurality_columns

_CHUNK_CELLS = 3_000_000  # draws held in memory at once (rows × max_samples)


@dataclass(frozen=True)
class CurvePoint:
    """One setting's means over trials, with standard errors (std over trials / √trials)."""

    setting: float
    accuracy: float
    accuracy_se: float
    mean_samples: float
    mean_samples_se: float
    mean_tokens: float
    mean_tokens_se: float


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`simulate` measured. ``to_dict()`` gives this JSON-ready schema::

        {"rule": str, "compat": "chorus"|"authors", "alpha": float, "trials": int, "max_samples": int,
         "seed": int, "n_problems": int, "dropped_problems": int, "weights": [float, ...],
         "bo_inf_accuracy": float,
         "adaptive": [{"setting": threshold, "accuracy", "accuracy_se", "mean_samples",
                       "mean_samples_se", "mean_tokens", "mean_tokens_se"}, ...],  # thresholds' order
         "fixed":    [{"setting": N, ...same keys}, ...],                         # fixed' order
         "models": [str, ...]}  # model names (the flow runs models in name order; weights go with them)

    Accuracy is the fraction of problems whose vote equals the gold answer; samples and completion
    tokens are per problem (tokens: sum over the drawn samples up to the stop).
    """

    rule: str
    compat: str
    alpha: float
    trials: int
    max_samples: int
    seed: int
    n_problems: int
    dropped_problems: int
    weights: list[float]
    bo_inf_accuracy: float
    adaptive: list[CurvePoint] = field(default_factory=list)
    fixed: list[CurvePoint] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # names of the mixture's models, in `weights` order

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_chunk(
    table: ReplayTable,
    weights: np.ndarray,
    rules: list[StoppingRule],
    fixed: list[int],
    trials: int,
    max_samples: int,
    compat: str,
    rng: np.random.Generator,
    cache: StatCache | None,
    check_points: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate ``trials`` trials; returns per-trial (accuracy, samples, tokens) arrays of shape
    (trials, len(rules), 3) for the rules and (trials, len(fixed), 3) for fixed N."""
    n_prob = table.ans.shape[0]
    rows = trials * n_prob
    prob = np.tile(np.arange(n_prob), trials)
    shape = (rows, max_samples)
    if len(weights) == 1:
        start, size = table.offset[0, prob][:, None], table.length[0, prob][:, None]
    else:
        model = rng.choice(len(weights), size=shape, p=weights)
        start, size = table.offset[model, prob[:, None]], table.length[model, prob[:, None]]
    pick = start + rng.integers(0, np.broadcast_to(size, shape))
    ans = table.ans[prob[:, None], pick]
    tok = table.tok[prob[:, None], pick]
    if compat == "authors":
        tok = np.where(ans >= 0, tok, 0)  # their code adds tokens only for samples with an answer
    cumtok = np.cumsum(tok, axis=1)
    gold = table.gold[prob]

    # votes relabelled per row in order of first appearance, so argmax = earliest-seen tie rule;
    # flat (row * width + column) indices are much faster than 2-D fancy indexing
    width = table.vocab
    label = np.full(rows * width, -1, dtype=np.int32)
    orig = np.full((rows, width + 1), -3, dtype=np.int64)  # column `width` = the "no vote" sentinel
    counts = np.zeros((rows, width), dtype=np.int32)
    flat_counts = counts.reshape(-1)
    seen = np.zeros(rows, dtype=np.int32)
    all_rows = np.arange(rows)
    base = all_rows * width

    thresholds = np.array([r.threshold for r in rules])
    rule_stop = np.zeros((rows, len(rules)), dtype=np.int64)
    rule_ok = np.zeros((rows, len(rules)), dtype=bool)
    fixed_ok = np.zeros((rows, len(fixed)), dtype=bool)
    points = [set(r.check_points().tolist() if check_points is None else check_points) | {max_samples} for r in rules]
    last_fixed = max(fixed, default=0)

    def correct(sel: np.ndarray) -> np.ndarray:
        col = plurality_columns(counts[sel])
        return orig[sel, np.where(col >= 0, col, width)] == gold[sel]

    for n in range(1, max_samples + 1):
        o = ans[:, n - 1]
        voted = all_rows[o >= 0]
        ov = o[voted]
        cell = base[voted] + ov
        lab = label[cell]
        new = lab < 0
        nr = voted[new]
        lab[new] = seen[nr]
        label[cell[new]] = lab[new]
        orig[nr, lab[new]] = ov[new]
        seen[nr] += 1
        flat_counts[base[voted] + lab] += 1

        for j, nf in enumerate(fixed):
            if nf == n:
                fixed_ok[:, j] = correct(all_rows)
        due = [j for j in range(len(rules)) if n in points[j]]
        open_rows = rule_stop[:, due] == 0 if due else None
        if open_rows is None or not open_rows.any():
            if n >= last_fixed and (rule_stop > 0).all():
                break
            continue
        pending = open_rows.any(axis=1)
        active = all_rows[pending]
        # the lowest threshold each active row has not reached yet: only it can change a decision
        need = np.where(open_rows[pending], thresholds[due][None, :], np.inf).min(axis=1)
        score = _scores(rules[due[0]], counts[active], seen[active], n, need, cache, rng)
        for k, j in enumerate(due):
            rule = rules[j]
            if rule.name == "esc":
                w = rule.window
                win = ans[active, max(n - w, 0) : n]
                hit = (n >= w) & (win[:, 0] >= 0) & (win == win[:, :1]).all(axis=1)
            else:
                hit = score >= rule.threshold
            go = open_rows[pending, k] & (hit | (n >= max_samples))
            sel = active[go]
            rule_stop[sel, j] = n
            rule_ok[sel, j] = correct(sel)
        if n >= last_fixed and (rule_stop > 0).all():
            break

    def per_trial(ok: np.ndarray, used: np.ndarray) -> np.ndarray:
        spent = np.take_along_axis(cumtok, used - 1, axis=1)
        stats = np.stack([ok, used, spent], axis=-1).astype(float)  # (rows, settings, 3)
        return stats.reshape(trials, n_prob, -1, 3).mean(axis=1)

    fixed_used = np.broadcast_to(np.array(fixed, dtype=np.int64), (rows, len(fixed)))
    return per_trial(rule_ok, rule_stop), per_trial(fixed_ok, fixed_used)


def _scores(
    rule: StoppingRule,
    counts: np.ndarray,
    seen: np.ndarray,
    n: int,
    need: np.ndarray,
    cache: StatCache | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """The rule's score for the given rows at sample n (ESC is scored per window by the caller).

    ``need`` is the smallest threshold each row could still cross; :meth:`StoppingRule.screen` lets
    rows that provably cannot cross it skip the exact statistic (most long-running, dispersed rows).
    """
    if rule.name == "fixed":
        return np.full(counts.shape[0], float(n))
    if cache is None:
        return np.zeros(counts.shape[0])
    width = max(int(seen.max(initial=0)), 1)
    srt = -np.sort(-counts[:, :width], axis=1)
    score, todo = rule.screen(srt, need)
    if todo.size:
        uniq, inverse = unique_rows(srt[todo])
        stat = cache(uniq)[inverse]
        score = score.copy()
        score[todo] = rule.finish(stat, srt[todo], rng, n)
    return score


def simulate(
    problems: list[ReplayProblem],
    *,
    rule: str,
    thresholds: Sequence[float],
    fixed: Sequence[int],
    trials: int,
    max_samples: int,
    seed: int,
    alpha: float = 0.3,
    compat: str = "chorus",
    drop_blanks: bool = False,
    weights: Sequence[float] | None = None,
    mixtures: list[list[ReplayProblem]] | None = None,
    key: Callable[[str], str | None] = default_key,
    check_points: Sequence[int] | None = None,
) -> SimulationResult:
    """Replay adaptive sampling ``trials`` times over recorded answers; see :class:`SimulationResult`.

    rule/thresholds: a name from ``tasks.algorithms.stopping.RULES`` and its thresholds (bayes: B; beta: the
        probability; esc: the window; fixed: N). ``fixed``: the N of the plain-majority baselines.
    mixtures: other models' replay lists for a weighted mixture; the models are
        ``[problems, *mixtures]``, aligned on problem_id (problems missing from any model are dropped
        and counted), and ``weights`` (default equal) gives one weight per model.
    drop_blanks: sample from what the authors' loader keeps (blank answers removed, as ``compat="authors"``
        always does) with any rule: a blank then costs neither a sample nor tokens (bench comparisons).
    key: maps a recorded answer to the string that is voted on and compared with the gold answer
        (pass the canonicaliser); None = no answer. The default keeps raw strings, "" = no answer.
    A problem whose gold answer is None (or maps to None) counts as wrong.
    check_points: the sample counts after which the rule is asked (default: the rule's own); a vote with
        a batch schedule asks after each batch, e.g. 1,2,4,8,16,24,32 for batches 1,1,2,4,8.
    """
    models = [list(problems), *(list(m) for m in (mixtures or []))]
    w = np.ones(len(models)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(models),) or (w < 0).any() or w.sum() <= 0:
        raise ChorusError(f"simulate: need {len(models)} non-negative weights (one per model), got {weights}")
    w = w / w.sum()
    if trials < 1 or max_samples < 1:
        raise ChorusError(f"simulate: trials and max_samples must be ≥ 1, got {trials}, {max_samples}")
    if any(not 1 <= int(n) <= max_samples for n in fixed):
        raise ChorusError(f"simulate: every fixed N must lie in 1..max_samples={max_samples}, got {list(fixed)}")
    rules = [make_rule(rule, t, max_samples, alpha, compat) for t in thresholds]
    table, dropped = build_table(models, w, key, authors=compat == "authors" or drop_blanks)
    cache = StatCache(rules[0]) if rules and rules[0].count_based else None
    rng = np.random.default_rng(seed)

    per_chunk = max(1, _CHUNK_CELLS // (table.ans.shape[0] * max_samples))
    rule_parts, fixed_parts = [], []
    for start in range(0, trials, per_chunk):
        r, f = _run_chunk(
            table,
            w,
            rules,
            [int(n) for n in fixed],
            min(per_chunk, trials - start),
            max_samples,
            compat,
            rng,
            cache,
            check_points,
        )
        rule_parts.append(r)
        fixed_parts.append(f)

    def curve(parts: list[np.ndarray], settings: Sequence[float]) -> list[CurvePoint]:
        data = np.concatenate(parts, axis=0)  # (trials, settings, 3)
        mean = data.mean(axis=0)
        se = data.std(axis=0, ddof=1) / np.sqrt(trials) if trials > 1 else np.zeros_like(mean)
        return [
            CurvePoint(float(s), *(float(v) for pair in zip(mean[i], se[i], strict=True) for v in pair))
            for i, s in enumerate(settings)
        ]

    return SimulationResult(
        rule=rule,
        compat=compat,
        alpha=alpha,
        trials=trials,
        max_samples=max_samples,
        seed=seed,
        n_problems=table.ans.shape[0],
        dropped_problems=dropped,
        weights=[float(x) for x in w],
        bo_inf_accuracy=table.bo_inf,
        adaptive=curve(rule_parts, list(thresholds)),
        fixed=curve(fixed_parts, list(fixed)),
    )

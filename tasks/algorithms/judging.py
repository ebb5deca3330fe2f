"""LLM-judge prompts and their pure bookkeeping, for Best-of-N and for Fusion-vs-baseline comparisons.

* Pointwise: ``build_score_prompt`` asks for "Score: 1..10"; ``parse_score`` reads it back;
  ``select_best`` picks the winner (the caller retries a malformed score once, then passes None).
* Pairwise with position-bias cancellation (Khairi et al. 2025, arXiv 2510.00931): each pair is
  judged twice, the second time with the answers swapped; ``combine_swapped`` turns the two
  verdicts into one outcome and ``win_rate`` aggregates outcomes with a bootstrap CI.

Model output is untrusted text: it is only matched with regular expressions, never evaluated.
Pure: no prefect, sqlalchemy or httpx.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from storage.errors import ChorusError
from tasks.algorithms.fusion_prompts import delimit, load_template, make_nonce, render_messages

Verdict = Literal["A", "B", "tie"]
Outcome = Literal["win", "loss", "tie"]

# A label ("Score", "Rating", markdown-decorated), ":" or "=", then the number and an optional
# "/10" or "out of 10". The number must not run on into letters or digits ("1O" is not 10) and
# must not start a range or an alternative ("8 or 9", "7-8").
_LABELLED = re.compile(
    r"\b(?:score|rating)\b[*_\s]*[:=][*_\s]*([0-9]+(?:\.[0-9]+)?)(?![0-9A-Za-z])"
    r"(?:\s*(?:/|out\s+of)\s*([0-9]+)(?![0-9A-Za-z]))?"
    r"([ \t]*(?:or|to|-|–|/)[ \t]*[0-9])?",
    re.IGNORECASE,
)
# Without a label only an explicit "N/10" or "N out of 10" counts.
_OUT_OF_TEN = re.compile(r"(?<![0-9A-Za-z./])([0-9]+)\s*(?:/|out\s+of)\s*10(?![0-9A-Za-z]|\.[0-9])", re.IGNORECASE)
_BARE = re.compile(r"[*_\s]*([0-9]+)[*_\s.]*")
# "A"/"B" only in capitals, so an article ("Verdict: a close call") is not read as answer A.
_VERDICT = re.compile(
    r"\bverdict\b[*_\s]*[:=][*_\s\[(\"']*(?:(?:answer|response)\s+)?((?-i:A|B)|tie)(?![0-9A-Za-z])"
    r"([ \t]*(?:or|/|and)[ \t]*(?:(?-i:A|B)|tie)(?![0-9A-Za-z]))?",
    re.IGNORECASE,
)
_BARE_VERDICT = re.compile(r"[*_\s\[(\"']*((?-i:A|B)|tie)[*_\s\])\"'.]*", re.IGNORECASE)


def _score_value(number: str, denominator: str | None) -> int | None:
    """1..10 from the matched number, or None (decimal, out of range, or not "/10")."""
    if "." in number or len(number) > 3:  # int() of a huge digit string would raise in 3.11+
        return None
    if denominator is not None and denominator.lstrip("0") != "10":
        return None
    value = int(number)
    return value if 1 <= value <= 10 else None


def parse_score(text: str) -> int | None:
    """The 1..10 score in a judge's reply, or None when absent, ambiguous or out of range.

    With an explicit label ("Score: 7", "**Score:** 8", "score = 7/10", "Rating: 9 out of 10")
    the LAST labelled score is the judge's final word; if that one is out of range, a decimal or
    a range/alternative ("Score: 8 or 9"), the reply is None rather than an earlier score the
    judge revised. Without a label, "7/10" or "7 out of 10" counts if every such mention agrees,
    and a reply that is just a number counts. Never raises.
    """
    labelled = list(_LABELLED.finditer(text))
    if labelled:
        last = labelled[-1]
        if last.group(3):
            return None
        return _score_value(last.group(1), last.group(2))
    out_of_ten = {m.group(1).lstrip("0") or "0" for m in _OUT_OF_TEN.finditer(text)}
    if len(out_of_ten) == 1:
        return _score_value(out_of_ten.pop(), None)
    if out_of_ten:
        return None
    bare = _BARE.fullmatch(text)
    return _score_value(bare.group(1), None) if bare else None


def parse_verdict(text: str) -> Verdict | None:
    """The judge's verdict "A", "B" or "tie" from its "Verdict: ..." line (the last one wins), else None.

    Accepts "**Verdict:** A", "Verdict: [[B]]", "Verdict: Answer A", "verdict: TIE" and a reply that
    is only the verdict. "Verdict: A or B" and replies with no verdict are None.
    """
    found = list(_VERDICT.finditer(text))
    if found:
        last = found[-1]
        return None if last.group(2) else _norm_verdict(last.group(1))
    bare = _BARE_VERDICT.fullmatch(text)
    return _norm_verdict(bare.group(1)) if bare else None


def _norm_verdict(word: str) -> Verdict:
    upper = word.upper()
    return "tie" if upper == "TIE" else "A" if upper == "A" else "B"


def build_score_prompt(question: str, candidate: str, *, template: str | None = None) -> list[dict[str, str]]:
    """Messages asking a judge to grade ``candidate`` 1..10, ending with "Score: N".

    The candidate sits in a nonce-delimited data block (see ``tasks.algorithms.fusion_prompts``); ``template`` is
    template text with ``{question}``, ``{candidate}`` and ``{tag}`` (default
    ``tasks/algorithms/prompts/judge_score.txt``).
    """
    template = load_template("judge_score.txt") if template is None else template
    nonce = make_nonce([question, candidate], avoid=[question, candidate, template])
    values = {"question": question, "candidate": delimit(candidate, nonce, "1"), "tag": f"candidate-{nonce}"}
    return render_messages(template, values)


def build_pairwise_prompt(
    question: str, answer_a: str, answer_b: str, *, template: str | None = None
) -> list[dict[str, str]]:
    """Messages asking which of two answers is better, ending with "Verdict: A|B|tie".

    Ask twice, the second time with the answers swapped, and combine with ``combine_swapped``.
    ``template`` has ``{question}``, ``{answer_a}``, ``{answer_b}`` and ``{tag}`` (default
    ``tasks/algorithms/prompts/judge_pairwise.txt``).
    """
    template = load_template("judge_pairwise.txt") if template is None else template
    texts = [question, answer_a, answer_b]
    nonce = make_nonce(texts, avoid=[*texts, template])
    values = {
        "question": question,
        "answer_a": delimit(answer_a, nonce, "A"),
        "answer_b": delimit(answer_b, nonce, "B"),
        "tag": f"candidate-{nonce}",
    }
    return render_messages(template, values)


# How much each verdict favours the ORIGINAL first answer x: in the first ask x is "A",
# in the swapped ask x is "B".
_FIRST = {"A": 1, "B": -1, "tie": 0}
_SWAPPED = {"A": -1, "B": 1, "tie": 0}


def combine_swapped(verdict_ab: Verdict | None, verdict_ba: Verdict | None) -> Outcome | None:
    """Outcome for the first answer x against y, from a verdict on (x, y) and one on (y, x).

    Win or loss only when both orders prefer the same answer; any other pair (opposite
    preferences, which is position bias, or a tie in either order) is a tie. A missing verdict
    gives None (counted as missing, not as a tie).
    """
    if verdict_ab is None or verdict_ba is None:
        return None
    if verdict_ab not in _FIRST or verdict_ba not in _SWAPPED:
        raise ChorusError(f"verdicts must be 'A', 'B' or 'tie', got {verdict_ab!r} and {verdict_ba!r}")
    first, swapped = _FIRST[verdict_ab], _SWAPPED[verdict_ba]
    if first == swapped == 1:
        return "win"
    if first == swapped == -1:
        return "loss"
    return "tie"


@dataclass(frozen=True)
class SelectionResult:
    """Best-of-N pick: index of the winning candidate (None if all missing) and missing count."""

    index: int | None
    missing: int


def select_best(scores: Sequence[int | None]) -> SelectionResult:
    """Highest score wins; ties go to the LOWEST index (generation order), so picks are reproducible."""
    valid = [(score, i) for i, score in enumerate(scores) if score is not None]
    missing = len(scores) - len(valid)
    if not valid:
        return SelectionResult(None, missing)
    top = max(score for score, _ in valid)
    return SelectionResult(min(i for score, i in valid if score == top), missing)


@dataclass(frozen=True)
class WinRate:
    """Win rate = (wins + ties/2) / (wins + ties + losses) with a percentile-bootstrap CI.

    Missing outcomes are left out of the rate. With no non-missing outcome, rate and CI are NaN.
    """

    wins: int
    ties: int
    losses: int
    missing: int
    rate: float
    ci_low: float
    ci_high: float


def win_rate(outcomes: Sequence[Outcome | None], *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> WinRate:
    """Aggregate outcomes; CI is the percentile bootstrap over outcomes, seeded (reproducible).

    Outcomes take three values only, so resampling n of them with replacement is exactly a
    multinomial draw of (wins, ties, losses): memory is O(n_boot), whatever the number of outcomes.
    """
    if n_boot < 1:
        raise ChorusError(f"win_rate needs n_boot >= 1, got {n_boot}")
    if not 0 < level < 1:
        raise ChorusError(f"win_rate confidence level must be in (0, 1), got {level}")
    unknown = {o for o in outcomes if o not in ("win", "loss", "tie", None)}
    if unknown:
        got = ", ".join(sorted(map(repr, unknown)))
        raise ChorusError(f"win_rate outcomes must be 'win', 'loss', 'tie' or None, got {got}")
    wins, ties, losses = (sum(o == k for o in outcomes) for k in ("win", "tie", "loss"))
    missing = len(outcomes) - wins - ties - losses
    n = wins + ties + losses
    if n == 0:
        nan = float("nan")
        return WinRate(0, 0, 0, missing, nan, nan, nan)
    rate = (wins + 0.5 * ties) / n
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, [wins / n, ties / n, losses / n], size=n_boot)
    boot = (draws[:, 0] + 0.5 * draws[:, 1]) / n
    alpha = (1 - level) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return WinRate(wins, ties, losses, missing, rate, float(low), float(high))

"""Fusion-of-N prompt building (Khairi et al. 2025, arXiv 2510.00931).

A fusor LLM reads the question and N candidate answers and writes ONE new answer that keeps the
strongest parts of the candidates and drops the weak or wrong ones. This module only builds the
prompt; calling the model happens elsewhere. Pure: no prefect, sqlalchemy or httpx.

Candidate text is untrusted data. Each candidate sits in its own block
``<candidate-NONCE index="i">`` … ``</candidate-NONCE>`` where NONCE is 16 hex digits of a SHA-256
over the question and the candidates. It is deterministic (prompts are cache keys) yet chosen so
that it occurs nowhere in the question or in any candidate: if a hash ever does occur, the next
salted hash is taken. So no candidate can contain, and thus fake, the closing tag of its block.

Truncation, when a budget is given (``max_prompt_chars`` and/or ``context_tokens``): the characters
left after the instructions and the question are shared out by water-filling. Candidates are taken
shortest first; each gets an equal share of what is left; one shorter than its share is kept whole
and its unused share goes back to the rest. A candidate longer than its share keeps its head and
loses its tail, which is replaced by the marker ``[… truncated N characters]`` (N = characters
removed); the marker counts against the share. ``FusionPrompt.truncated[i]`` is the number of
characters removed from candidate i (0 when kept whole).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import count

from storage.errors import ChorusError
from tasks.algorithms.special_tokens import neutralise

NONCE_LEN = 16
# A candidate is never cut below this many characters (or its own length, if shorter): a fusor
# that sees only a marker learns nothing from that candidate.
MIN_CANDIDATE_CHARS = 128
_SECTION = re.compile(r"^\[\[(system|user)\]\][ \t]*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def load_template(name: str) -> str:
    """Text of the packaged template ``tasks/algorithms/prompts/<name>`` (shipped inside the wheel)."""
    return resources.files("tasks.algorithms").joinpath("prompts", name).read_text(encoding="utf-8")


def render_messages(template: str, values: Mapping[str, str]) -> list[dict[str, str]]:
    """Chat messages from a template with ``[[system]]`` / ``[[user]]`` section lines.

    Placeholders ``{key}`` are filled in a single pass, so a value that itself contains
    ``{question}`` or ``{candidates}`` is inserted literally, never expanded. Unknown ``{...}``
    stays as written (templates may contain braces). No section line: the whole text is one user
    message. Values are untrusted (questions, candidates): special-token spellings in them are broken
    (``tasks.algorithms.special_tokens``); the template itself is the user's and is kept as written.
    """
    parts = _SECTION.split(template)
    if len(parts) == 1:
        sections = [("user", template)]
    else:
        if parts[0].strip():
            raise ChorusError("prompt template has text before its first [[system]]/[[user]] line")
        sections = list(zip(parts[1::2], parts[2::2], strict=True))

    safe = {key: neutralise(value) for key, value in values.items()}

    def fill(match: re.Match[str]) -> str:
        return safe.get(match.group(1), match.group(0))

    return [
        {"role": role, "content": _PLACEHOLDER.sub(fill, body.strip("\n"))} for role, body in sections if body.strip()
    ]


def make_nonce(texts: Sequence[str], avoid: Sequence[str] | None = None) -> str:
    """Deterministic hex nonce from ``texts`` that occurs in none of ``avoid`` (default: ``texts``)."""
    avoid = list(texts) if avoid is None else list(avoid)
    for salt in count():
        nonce = _digest(salt, texts)
        if not any(nonce in text for text in avoid):
            return nonce
    raise AssertionError("unreachable")  # pragma: no cover


def _digest(salt: int, texts: Sequence[str]) -> str:
    h = hashlib.sha256(f"chorus-delimiter/{salt}".encode())
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        # Length-prefix each text so that ("ab", "c") and ("a", "bc") hash differently.
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:NONCE_LEN]


def delimit(body: str, nonce: str, index: str) -> str:
    """One data block: ``<candidate-NONCE index="i">``, the body, ``</candidate-NONCE>``."""
    return f'<candidate-{nonce} index="{index}">\n{body}\n</candidate-{nonce}>'


def truncation_marker(removed: int) -> str:
    """What replaces the cut-off tail of a truncated candidate."""
    return f"\n[… truncated {removed} characters]"


@dataclass(frozen=True)
class FusionPrompt:
    """A fusion prompt: chat messages plus what truncation did to each candidate."""

    messages: list[dict[str, str]]
    truncated: list[int]  # characters removed from each candidate, in candidate order
    nonce: str
    budget_chars: int | None  # the prompt's character budget, None when unlimited

    @property
    def prompt_chars(self) -> int:
        """Total characters over all message contents (what the budget bounds)."""
        return sum(len(m["content"]) for m in self.messages)


def build_fusion_prompt(
    question: str,
    candidates: Sequence[str],
    *,
    template: str | None = None,
    max_prompt_chars: int | None = None,
    chars_per_token: float = 4.0,
    context_tokens: int | None = None,
    reserve_tokens: int = 512,
) -> FusionPrompt:
    """Build the fusor's prompt for ``question`` and ``candidates`` (N ≥ 2).

    The budget is the smaller of ``max_prompt_chars`` and
    ``(context_tokens - reserve_tokens) * chars_per_token`` (``reserve_tokens`` leaves room for the
    fused answer and the chat template's own tokens; ``chars_per_token`` is an estimate, so pass a
    lower value for a safer margin). No budget: nothing is truncated. ``template`` is template text
    with ``{question}``, ``{candidates}`` (exactly once), ``{n}`` and ``{tag}``; default
    ``tasks/algorithms/prompts/fusion.txt``.
    """
    # Neutralised first, so truncation budgets and the nonce see exactly the text that is sent.
    question, candidates = neutralise(question), [neutralise(c) for c in candidates]
    if len(candidates) < 2:
        raise ChorusError(f"fusion needs at least 2 candidates, got {len(candidates)}")
    template = load_template("fusion.txt") if template is None else template
    if template.count("{candidates}") != 1:
        raise ChorusError("fusion prompt template must contain {candidates} exactly once")
    budget = _budget_chars(max_prompt_chars, context_tokens, reserve_tokens, chars_per_token)

    def render(bodies: Sequence[str], nonce: str) -> list[dict[str, str]]:
        blocks = "\n\n".join(delimit(b, nonce, str(i)) for i, b in enumerate(bodies, 1))
        values = {"question": question, "candidates": blocks, "n": str(len(bodies))}
        return render_messages(template, {**values, "tag": f"candidate-{nonce}"})

    bodies, truncated = list(candidates), [0] * len(candidates)
    if budget is not None:
        # Every body appears once, so prompt length = overhead + sum of body lengths.
        overhead = sum(len(m["content"]) for m in render([""] * len(candidates), "0" * NONCE_LEN))
        room = budget - overhead
        needed = sum(min(len(c), MIN_CANDIDATE_CHARS) for c in candidates)
        if room < needed:
            raise ChorusError(_too_small(context_tokens, max_prompt_chars, budget, overhead + needed, len(candidates)))
        bodies, truncated = _fit(candidates, room)
    nonce = make_nonce([question, *candidates], avoid=[question, *bodies, template])
    return FusionPrompt(render(bodies, nonce), truncated, nonce, budget)


def _budget_chars(
    max_prompt_chars: int | None, context_tokens: int | None, reserve_tokens: int, chars_per_token: float
) -> int | None:
    limits: list[int] = []
    if max_prompt_chars is not None:
        if max_prompt_chars <= 0:
            raise ChorusError(f"max_prompt_chars must be positive, got {max_prompt_chars}")
        limits.append(max_prompt_chars)
    if context_tokens is not None:
        if not (chars_per_token > 0 and math.isfinite(chars_per_token)):
            raise ChorusError(f"chars_per_token must be a positive number, got {chars_per_token}")
        if reserve_tokens < 0:
            raise ChorusError(f"reserve_tokens must be >= 0, got {reserve_tokens}")
        limits.append(int((context_tokens - reserve_tokens) * chars_per_token))
    return min(limits) if limits else None


def _too_small(context_tokens: int | None, max_chars: int | None, budget: int, need: int, n: int) -> str:
    what = f"the question plus {n} candidates (needs about {need} characters, budget is {budget})"
    if context_tokens is not None and (max_chars is None or budget < max_chars):
        return (
            f"fusor context of {context_tokens} tokens is too small for {what}; "
            "use a model with a longer context, fewer candidates or a shorter question"
        )
    return f"fusion prompt budget of {max_chars} characters is too small for {what}"


def _fit(candidates: Sequence[str], room: int) -> tuple[list[str], list[int]]:
    """Water-fill ``room`` characters over the candidates; see the module docstring."""
    caps = [0] * len(candidates)
    left, remaining = room, len(candidates)
    for i in sorted(range(len(candidates)), key=lambda j: (len(candidates[j]), j)):
        share = left // remaining
        caps[i] = min(len(candidates[i]), share)
        left -= caps[i]
        remaining -= 1
    bodies, truncated = [], []
    for text, cap in zip(candidates, caps, strict=True):
        if cap >= len(text):
            bodies.append(text)
            truncated.append(0)
            continue
        # The marker for "everything removed" is the longest possible, so the real one fits too.
        keep = max(0, cap - len(truncation_marker(len(text))))
        bodies.append(text[:keep] + truncation_marker(len(text) - keep))
        truncated.append(len(text) - keep)
    return bodies, truncated

"""Final-answer extraction and canonicalisation: what a generation votes for.

Pure: only `re` and `fractions` (via tasks.algorithms.numbers). Model output is untrusted text, so everything here
is regex and string work with linear-time patterns; nothing is evaluated.

`answer_key(text, kind)` is the vote: the extracted answer made canonical so that equivalent spellings
(`\\dfrac12`, `0.5`, `$\\frac{1}{2}$.`) count as one vote. None means "no answer", which is not a vote.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

from tasks.algorithms.numbers import MAX_NUMBER_CHARS, canonical_number, last_match, last_number, numeric_key

AnswerKind = Literal["math", "choice", "number"]

__all__ = ["AnswerKind", "answer_key", "answers_match", "canonicalize", "extract_answer", "kind_for_dataset"]

# ---- extraction -------------------------------------------------------------------------------------

_BOXED = re.compile(r"\\(?:boxed|fbox)[ \t]*\{")
# One escape pair or one brace: escaped braces \{ \} and \\ never count as structure.
_BRACE_TOKEN = re.compile(r"\\[\s\S]|[{}]")
# "answer is X", "Answer: X", "final answer: X", "**Final Answer**" on its own line.
_ANSWER_IS = re.compile(r"\b(final[ \t]+answer|answer)\b[ \t]*(?:\*\*|__)?[ \t]*(is\b|[:=：])?", re.I)
_CHOICE_PAREN = re.compile(r"\(([A-J])\)")
_SENTENCE_END = re.compile(r"\.(?:\s|$)")


def _brace_matches(text: str, start: int) -> dict[int, int]:
    """Map each `{` at or after `start` to its matching `}`, in one linear pass."""
    stack: list[int] = []
    matches: dict[int, int] = {}
    for tok in _BRACE_TOKEN.finditer(text, start):
        if tok[0] == "{":
            stack.append(tok.start())
        elif tok[0] == "}" and stack:
            matches[stack.pop()] = tok.start()
    return matches


def _last_boxed(text: str) -> str | None:
    """Content of the last brace-matched, non-empty `\\boxed{...}` / `\\fbox{...}`; None when there is none.

    An unclosed box (a truncated generation) is skipped in favour of an earlier closed one.
    """
    opens = [m.end() - 1 for m in _BOXED.finditer(text)]
    if not opens:
        return None
    matches = _brace_matches(text, opens[0])
    for pos in reversed(opens):
        close = matches.get(pos)
        if close is not None and text[pos + 1 : close].strip():
            return text[pos + 1 : close].strip()
    return None


def _clean_phrase(rest: str) -> str:
    """The answer at the start of `rest` (text after "answer is"): one sentence, markup stripped."""
    rest = rest.strip().lstrip(":：").strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if rest.startswith(left):
            end = rest.find(right, len(left))
            if end > 0:
                return rest[len(left) : end].strip()
    if m := _SENTENCE_END.search(rest):
        rest = rest[: m.start()]
    return rest.strip().strip("*_").strip().rstrip(".").strip()


def _answer_phrase(text: str) -> str | None:
    """The answer announced by the last "answer is X" / "Answer: X" / "Final Answer" heading."""
    found = last_match(_ANSWER_IS, text)
    if found is None:
        return None
    line_end = text.find("\n", found.end())
    line_end = len(text) if line_end < 0 else line_end
    rest = text[found.end() : line_end]
    if found[2] is None and (found[1].lower() == "answer" or rest.strip(" \t*#:_")):
        return None  # a bare "answer" in prose, or "final answer will be ...": not an announcement
    if not rest.strip(" \t*#:_$"):
        # "Final Answer:" followed by the answer on the next non-empty line.
        following = text[line_end : line_end + 2000].strip()
        rest = following.split("\n", 1)[0] if following else ""
    phrase = _clean_phrase(rest)
    return phrase or None


_LETTER_MARKUP = re.compile(r"\\(?:text|textbf|mathrm|mathbf)\{([^{}]*)\}|\$|\*\*|\\[()]")
_LETTER_PREFIX = re.compile(r"(?:option|choice)\s*", re.I)
_LETTER_UPPER = re.compile(r"[(\[]?([A-J])(?:[)\].:,]|\s|$)")
_LETTER_ANY = re.compile(r"[(\[]?([A-Ja-j])[)\]]?[.:]?")


def _choice_letter(answer: str) -> str | None:
    """The option letter an answer names ("(B)", "C.", "b", "\\text{D}"), upper-cased; else None.

    A lower-case letter counts only when it is the whole answer, so prose like "a bit" is not "A".
    """
    t = _LETTER_MARKUP.sub(lambda m: m[1] or "", answer[:200]).strip()
    t = _LETTER_PREFIX.sub("", t, count=1) if _LETTER_PREFIX.match(t) else t
    if (m := _LETTER_UPPER.match(t)) and not (m[1] in "AI" and t[m.end() : m.end() + 1].islower()):
        return m[1]  # ...but "A bit" / "I think" at the start of a sentence are prose, not options
    if m := _LETTER_ANY.fullmatch(t):
        return m[1].upper()
    return None


def extract_answer(text: str, kind: AnswerKind = "math") -> str | None:
    """The raw final answer of a generation; None when it states none.

    Order: the last `\\boxed{}`/`\\fbox{}`, then the last "answer is X"/"Answer: X"/"final answer: X",
    then (math, number) the last number in the text or (choice) the last "(X)" option letter.
    """
    if not text:
        return None
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed
    phrase = _answer_phrase(text)
    if kind == "choice":
        if phrase is not None and (letter := _choice_letter(phrase)) is not None:
            return letter
        found = last_match(_CHOICE_PAREN, text)
        return None if found is None else found[1]
    if phrase is not None:
        if kind == "number" and (num := last_number(phrase)) is not None:
            return num
        return phrase
    return last_number(text)


# ---- canonicalisation -------------------------------------------------------------------------------

_SPACING = re.compile(r"\\(?:[,;:! ]|\s|q?quad(?![a-zA-Z]))|~")
_SIZING = re.compile(r"\\(?:left|right|[Bb]igg?[lr]?|displaystyle|textstyle|scriptstyle)(?![a-zA-Z])")
_FRAC_VARIANT = re.compile(r"\\[dtc]frac(?![a-zA-Z])")
_TEXT_CMD = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|textup|mathrm|mathbf|mathit|mathsf|mbox|boldsymbol)"
    r"\{([^{}]*)\}"
)
_DEGREES = re.compile(r"\^\{?\\circ\}?|\^\{\}|°|\\degree(?![a-zA-Z])")
_DOLLARS = re.compile(r"\\?\$")
_LATEX_THOUSANDS = re.compile(r"(?<=[0-9])\{,\}(?=[0-9])")
# A backslash before a digit, sign or bracket is a spacing command whose space was lost ("3,\ 5").
_STRAY_BACKSLASH = re.compile(r"\\(?=[0-9+\-()\[\]])")
_FRAC_SHORT = (
    (re.compile(r"\\frac([0-9])([0-9])"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\frac([0-9])(?=\{)"), r"\\frac{\1}"),
    (re.compile(r"\\frac(\{[^{}]*\})([0-9])"), r"\\frac\1{\2}"),
    (re.compile(r"\\sqrt([0-9])"), r"\\sqrt{\1}"),
)
_SCRIPT_BRACES = re.compile(r"([_^])\{([0-9A-Za-z])\}")
_ASSIGNMENT = re.compile(r"[A-Za-z](?:_\{?[0-9A-Za-z]+\}?)?=")
_WRAPPER = re.compile(r"\\(?:boxed|fbox)\{|\{")
_PAREN_LETTER = re.compile(r"\(([A-Z])\)")
_WORD = re.compile(r"[A-Za-z]{3,}")


def _strip_wrapper(s: str) -> str:
    """`\\boxed{X}` / `{X}` around the whole answer -> X, when that brace closes at the very end."""
    if not s.endswith("}"):
        return s
    matches = _brace_matches(s, 0)  # once: peeling layer by layer must stay linear for "{{{...}}}"
    lo, hi = 0, len(s)
    while (m := _WRAPPER.match(s, lo, hi)) and matches.get(m.end() - 1) == hi - 1:
        lo, hi = m.end(), hi - 1
    return s[lo:hi]


def _normalize(s: str) -> str:
    """One pass of the textual rewrites; canonicalize repeats it until nothing changes."""
    s = re.sub(r"\\{2,}", r"\\", s.strip())  # "\\frac" recorded with a doubled backslash is "\frac"
    s = _SPACING.sub("", s)
    s = "".join(s.split())
    for left, right in (("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) >= 4:
            s = s[2:-2]
    s = _strip_wrapper(s)
    s = _SIZING.sub("", s)
    s = _FRAC_VARIANT.sub(r"\\frac", s)
    s = _TEXT_CMD.sub(r"\1", s)
    s = _DEGREES.sub("", s)
    s = _DOLLARS.sub("", s)
    s = _LATEX_THOUSANDS.sub("", s)
    s = _STRAY_BACKSLASH.sub("", s)
    for pattern, repl in _FRAC_SHORT:
        s = pattern.sub(repl, s)
    s = _SCRIPT_BRACES.sub(r"\1\2", s)
    s = s.rstrip(".\\,;")
    if (m := _ASSIGNMENT.match(s)) and s[m.end() :] and not any(c in s[m.end() :] for c in "=<>"):
        s = s[m.end() :]
    return s


def _split_top_level(s: str) -> list[str]:
    """Split at commas outside any bracket, for element-wise canonical tuples and intervals."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return parts


def _finalize(s: str) -> str:
    """Numbers become their exact key; tuples/intervals/lists get their numeric elements keyed."""
    if len(s) > MAX_NUMBER_CHARS:
        return s
    if (key := numeric_key(s)) is not None:
        return key
    if m := _PAREN_LETTER.fullmatch(s):
        return m[1]  # "(B)" in a math answer is an option letter
    if _WORD.fullmatch(s) and not s.isupper():
        return s.lower()  # a plain word ("East", "Evelyn"): case carries no meaning
    if "," not in s:
        return s
    opener, closer = (s[0], s[-1]) if s[0] in "([" and s[-1] in ")]" and len(s) > 2 else ("", "")
    inner = s[len(opener) : len(s) - len(closer)]
    parts = _split_top_level(inner)
    if len(parts) < 2:
        return s
    return opener + ",".join(canonical_number(p) or p for p in parts) + closer


def _canonical_once(answer: str, kind: AnswerKind) -> str:
    s = _normalize(answer)
    if kind == "choice" and (letter := _choice_letter(s)) is not None:
        return letter
    return _finalize(s)


def canonicalize(answer: str, kind: AnswerKind = "math") -> str | None:
    """The vote key of an extracted answer; None when it is empty or has no letter or digit at all.

    Textual rewrites (spaces, `\\left`/`\\right`, `\\dfrac`, `\\text{}`, degrees, `$`, units after a
    number, thousands separators, trailing period, doubled backslashes) are repeated to a fixed point,
    so canonicalize(canonicalize(x)) == canonicalize(x). Choice answers become their letter "A".."J".
    """
    if answer is None:
        return None
    if len(answer) <= MEMO_MAX_CHARS:
        return _canonicalize_remembered(answer, kind)
    return _canonicalize(answer, kind)


# Votes repeat answers by design (a settled problem is many samples of one answer) and the grader keys
# every vote and gold answer again: short answers' keys are remembered (at most 16,384 of ≤ 256
# characters: ≤ 12 MB), long ones computed each time. canonicalize is a pure function of its text.
MEMO_MAX_CHARS = 256


@functools.lru_cache(maxsize=16_384)
def _canonicalize_remembered(answer: str, kind: AnswerKind) -> str | None:
    return _canonicalize(answer, kind)


def _canonicalize(answer: str, kind: AnswerKind) -> str | None:
    if kind == "choice" and (letter := _choice_letter(answer.strip())) is not None:
        return letter
    s = answer
    for _ in range(8):
        nxt = _canonical_once(s, kind)
        if nxt == s:
            break
        s = nxt
    return s if any(ch.isalnum() for ch in s) else None


def answer_key(text: str, kind: AnswerKind = "math") -> str | None:
    """What a generation votes for: canonicalize(extract_answer(text)); None = no answer, no vote."""
    raw = extract_answer(text, kind)
    return None if raw is None else canonicalize(raw, kind)


def answers_match(a: str | None, b: str | None, kind: AnswerKind = "math") -> bool:
    """True when two answers (e.g. a vote and the gold answer) have the same non-None canonical key."""
    if a is None or b is None:
        return False
    ka = canonicalize(a, kind)
    return ka is not None and ka == canonicalize(b, kind)


def kind_for_dataset(name: str) -> AnswerKind:
    """Answer kind of a dataset by name: "gpqa*" -> choice, "aime*" -> number, anything else -> math."""
    lowered = name.strip().lower()
    if lowered.startswith("gpqa"):
        return "choice"
    if "aime" in lowered:
        return "number"
    return "math"

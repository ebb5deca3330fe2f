"""Answer extraction and canonicalisation: tables of real-looking generations, plus property tests."""

from __future__ import annotations

import json
import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.algorithms.answers import answer_key, answers_match, canonicalize, extract_answer, kind_for_dataset
from tasks.algorithms.numbers import format_number, parse_number
from tests.conftest import SHARED_DATA

DATA = SHARED_DATA

EXTRACT_MATH = [
    (r"so the result is \boxed{\frac{1}{\sqrt{2}}}.", r"\frac{1}{\sqrt{2}}"),
    (r"first \boxed{3}, corrected: \boxed{4}", "4"),
    (r"\fbox{7} is it", "7"),
    (r"\boxed {12}", "12"),
    (r"\boxed{\{1,2\}}", r"\{1,2\}"),
    (r"done \boxed{5} then truncated \boxed{\frac{1}{", "5"),  # unclosed last box: take the closed one
    (r"\boxed{} but the answer is 9", "9"),  # empty box is no answer
    ("The answer is $\\frac{1}{2}$.", r"\frac{1}{2}"),
    ("Thus the answer is 42. Great.", "42"),
    ("Answer: 3.5", "3.5"),
    ("So the final answer: (2, 3)", "(2, 3)"),
    ("**Final Answer:** 17", "17"),
    ("**Final Answer**\n\n$x^2+1$\n", "x^2+1"),
    ("answer is 1 then later Answer: 8", "8"),
    ("I computed 3 apples and then 4.25 pears", "4.25"),
    ("totals: 1,234 and 5", "5"),
    ("the total is 1,234", "1,234"),
    ("it equals -7", "-7"),
    ("ratio 3/4", "3/4"),
    ("no digits at all here", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACT_MATH)
def test_extract_math(text: str, expected: str | None) -> None:
    assert extract_answer(text, "math") == expected


EXTRACT_CHOICE = [
    (r"so \boxed{D}", "D"),
    (r"so \boxed{\text{(C)}}", r"\text{(C)}"),
    ("The answer is C.", "C"),
    ("Answer: b", "B"),
    ("Answer: (B) 5 cm", "B"),
    ("Compare (A) and (C); I pick (B) here.", "B"),
    ("The answer is a bit subtle; nothing else.", None),
    ("Answer: I think so; nothing else.", None),
    ("Answer: B because it fits", "B"),
    ("no letter", None),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACT_CHOICE)
def test_extract_choice(text: str, expected: str | None) -> None:
    assert extract_answer(text, "choice") == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (r"\boxed{D}", "D"),
        (r"\boxed{\text{(C)}}", "C"),
        ("Answer: b", "B"),
        ("The answer is (A).", "A"),
        ("Option (B) is right", "B"),
        ("nothing chosen", None),
    ],
)
def test_answer_key_choice(text: str, key: str | None) -> None:
    assert answer_key(text, "choice") == key


def test_number_kind_takes_number_from_phrase() -> None:
    assert extract_answer("The answer is 033 since it fits.", "number") == "033"
    assert answer_key("The answer is 033 since it fits.", "number") == "33"


EQUIVALENT = [
    ["0.5", "1/2", r"\frac{1}{2}", r"\frac12", ".5", "0.50", r"\dfrac{1}{2}", r"\tfrac12", "$\\frac{1}{2}$"],
    [r"-\frac{3}{4}", "-0.75", "-3/4", r"\frac{-3}{4}", r"-\dfrac34"],
    ["1,000", "1000", "1{,}000", r"\$1,000", "1000 dollars", "1000."],
    ["90", r"90^\circ", r"90^{\circ}", "90°", r"90\text{ degrees}"],
    ["15", "15 cm", r"15\text{ cm}", "15 cm^2", "15cm^{2}"],
    [r"\frac{9}{5}", r"1\frac{4}{5}", "1.8"],
    [r"(3,\frac{\pi}{2})", r"(3,\\frac{\pi}{2})", r"\left( 3, \frac{\pi}{2} \right)", r"(3,\dfrac{\pi}{2})"],
    [r"(\frac{3}{2},-13)", "(1.5, -13)", "(3/2,-13)"],
    [r"\text{Evelyn}", "Evelyn", r"\textbf{Evelyn}"],
    ["x=5", "5", r"\boxed{5}"],
    [r"\sqrt{2}", r"\sqrt2"],
    ["52_8", "52_{8}", "52"],  # the question fixes the base
    ["12", "12^{th}", r"12^{\mathrm{th}}", "12th grade"],
    ["east", "East", r"\text{East}"],
    ["B", "(B)", r"\text{(B)}"],
    [r"(-\frac{1}{3},\frac{2}{3})", r"v=(-\frac{1}{3},\frac{2}{3})", "(-1/3, 2/3)"],
]


@pytest.mark.parametrize("forms", EQUIVALENT, ids=lambda forms: forms[0])
def test_equivalent_forms_share_one_key(forms: list[str]) -> None:
    keys = {canonicalize(f) for f in forms}
    assert len(keys) == 1 and None not in keys, keys


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("(3,5)", "35"),
        ("(3,5)", "(5,3)"),
        ("(100,200)", "100200"),
        ("1/3", "0.333"),
        ("2k", "2"),
        ("5r^5", "5"),
        ("(3,4]", "(3,4)"),
        ("x_2", "x"),
        ("ABC", "abc"),
        ("y=2x+3", "y<2x+3"),
    ],
)
def test_different_answers_stay_different(a: str, b: str) -> None:
    assert canonicalize(a) != canonicalize(b)


def test_number_keys_are_exact_and_reduced() -> None:
    assert canonicalize("12") == "12"
    assert canonicalize("6/8") == "3/4"
    assert canonicalize(r"-\frac{10}{4}") == "-5/2"
    assert canonicalize("-0") == "0"
    assert canonicalize("1/0") == "1/0"  # a zero denominator is not a number: kept as text


def test_no_answer_is_none_not_a_vote() -> None:
    for empty in ["", "   ", "$$", ".", r"\boxed{}", "{}"]:
        assert canonicalize(empty) is None
    assert answer_key("I am not sure.") is None
    assert canonicalize("unextractable") == "unextractable"
    assert canonicalize("unextractable", "choice") == "unextractable"


def test_answers_match() -> None:
    assert answers_match("0.5", r"\frac{1}{2}")
    assert answers_match("b", "(B)", "choice")
    assert not answers_match("A", "B", "choice")
    assert not answers_match(None, "1")
    assert not answers_match("", "")  # two non-answers are not a correct answer


def test_kind_for_dataset() -> None:
    assert kind_for_dataset("gpqa_diamond") == "choice"
    assert kind_for_dataset("aime2024") == "number"
    assert kind_for_dataset("AIME2025") == "number"
    assert kind_for_dataset("math500") == "math"
    assert kind_for_dataset("anything") == "math"


def test_huge_and_adversarial_inputs_are_fast() -> None:
    cases = [
        "x" * 1_000_000 + r"\boxed{7}",
        r"\boxed{" * 200_000,
        "{" * 500_000 + "}" * 10,
        r"\boxed{1}" * 100_000,
        "1,000" * 200_000,
        "9" * 1_000_000,
        "answer is " * 100_000,
        "(A)" * 300_000,
        "{" * 300_000 + "}" * 300_000,
        r"\boxed{" * 100_000 + "}" * 100_000,
    ]
    kinds = ("math", "choice", "number")
    for i, text in enumerate(cases):
        start = time.perf_counter()
        answer_key(text, kinds[i % 3])
        canonicalize(text, kinds[(i + 1) % 3])
        # Linear code takes well under a second here; a quadratic path would take minutes.
        assert time.perf_counter() - start < 5.0, text[:40]
    assert answer_key(r"\boxed{1}" * 100_000) == "1"
    assert answer_key("x" * 1_000_000 + r"\boxed{7}") == "7"
    assert canonicalize(r"\boxed{" * 100_000 + "7" + "}" * 100_000) == "7"


# ---- properties --------------------------------------------------------------------------------------

_PIECES = [*"0123456789abcxyzABC+-*/^_.,()[]{}$\\ %=:;!°~", "\\frac", "\\left", "\\text", "\\boxed"]
_PIECES += ["cm", "{,}", "\\\\", "^\\circ", "answer is ", "(B)", "\\(", "\\)", "x="]
latexish = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)
any_text = st.one_of(st.text(max_size=60), latexish)
kinds = st.sampled_from(["math", "choice", "number"])


@settings(max_examples=400, deadline=None)
@given(any_text, kinds)
def test_canonicalize_is_idempotent_and_never_raises(text: str, kind: str) -> None:
    once = canonicalize(text, kind)
    if once is not None:
        assert canonicalize(once, kind) == once


@settings(max_examples=300, deadline=None)
@given(any_text, kinds)
def test_a_remembered_key_is_the_computed_one(text: str, kind: str) -> None:
    from tasks.algorithms.answers import _canonicalize, _canonicalize_remembered

    first, again = canonicalize(text, kind), canonicalize(text, kind)
    assert first == again == _canonicalize(text, kind)
    hits = _canonicalize_remembered.cache_info().hits
    canonicalize(text, kind)
    assert _canonicalize_remembered.cache_info().hits == hits + 1  # short answers are remembered...
    long = "x" * 300 + text
    canonicalize(long, kind)
    assert _canonicalize_remembered.cache_info().hits == hits + 1  # ...long ones never stored
    assert canonicalize(long, kind) == _canonicalize(long, kind)


@settings(max_examples=300, deadline=None)
@given(any_text, kinds)
def test_extraction_never_raises(text: str, kind: str) -> None:
    raw = extract_answer(text, kind)
    assert raw is None or isinstance(raw, str)
    key = answer_key(text, kind)
    assert key is None or isinstance(key, str)


def _finite_decimal(value: Fraction) -> str | None:
    """Exact decimal string of `value` when its denominator has only factors 2 and 5."""
    den, k = value.denominator, 0
    while den % 10 == 0 or den % 2 == 0 or den % 5 == 0:
        den //= 2 if den % 2 == 0 else 5
        k += 1
    if den != 1:
        return None
    scaled = abs(value) * 10**k
    digits = str(scaled.numerator).rjust(k + 1, "0")
    body = digits[: len(digits) - k] + ("." + digits[len(digits) - k :] if k else "")
    return ("-" if value < 0 else "") + body


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**9), 10**9), st.integers(1, 10**6))
def test_fraction_forms_share_one_key(p: int, q: int) -> None:
    value = Fraction(p, q)
    sign = "-" if p < 0 else ""
    forms = [f"{p}/{q}", rf"\frac{{{p}}}{{{q}}}", rf"{sign}\frac{{{abs(p)}}}{{{q}}}"]
    forms += [rf"{sign}\dfrac{{{abs(p)}}}{{{q}}}", f"${p}/{q}$"]
    if (dec := _finite_decimal(value)) is not None:
        forms.append(dec)
    keys = {canonicalize(f) for f in forms}
    assert keys == {format_number(value)}
    assert parse_number(keys.pop()) == value


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**15), 10**15))
def test_thousands_separators_equal_plain(n: int) -> None:
    grouped = f"{n:,}"
    assert canonicalize(grouped) == canonicalize(str(n)) == str(n)


# ---- the recorded MATH500 gold answers ---------------------------------------------------------------


def test_math500_gold_answers_all_have_keys() -> None:
    path = DATA / "analysis_math500_gpt-oss-20b.jsonl"
    if not path.exists():
        pytest.skip(f"{path} not present")
    lines = path.read_text(encoding="utf-8").splitlines()
    golds = [json.loads(line)["gold_answer"] for line in lines if line.strip()]
    assert len(golds) == 500
    keys = [canonicalize(str(g)) for g in golds]
    assert all(k is not None for k in keys), [g for g, k in zip(golds, keys, strict=True) if k is None]
    # Canonical keys are stable and the gold answer matches itself written with doubled backslashes.
    for gold, key in zip(golds, keys, strict=True):
        assert canonicalize(key) == key
        assert answers_match(str(gold).replace("\\", "\\\\"), str(gold))

"""Exact, safe parsing of the numbers that appear as final answers.

Pure: only `re` and `fractions`. Model output is untrusted, so a string becomes a number only when a
whole-string regex has validated it as digits, a decimal point, a sign, a slash or a `\\frac{..}{..}`;
`fractions.Fraction` then gives the exact value. Nothing is ever evaluated.

One number has one canonical key: integers as "12", everything else as a reduced "p/q" ("-3/4"),
so `0.5`, `.5`, `0.50`, `1/2`, `\\frac{1}{2}` and `\\frac12` all vote together. `numeric_key` also looks
through a known unit after a number ("15cm^2") and a base subscript ("2516_8").
"""

from __future__ import annotations

import re
from collections import deque
from fractions import Fraction

# Longer strings are never numbers here: keeps int() below Python's digit limit and the work bounded.
MAX_NUMBER_CHARS = 400

_NUM = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_PLAIN = re.compile(rf"([+-]?)({_NUM})")
_SLASH = re.compile(rf"([+-]?)({_NUM})/({_NUM})")
_FRAC = re.compile(rf"([+-]?)\\frac\{{([+-]?)({_NUM})\}}\{{([+-]?)({_NUM})\}}")
# A mixed number as MATH writes it: 1\frac{4}{5} means 1 + 4/5 (only a proper fraction qualifies).
_MIXED = re.compile(r"([+-]?)([0-9]+)\\frac\{([0-9]+)\}\{([0-9]+)\}")
_THOUSANDS = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")

# The last number in free text: optional sign, digits with proper thousands groups or plain, an optional
# decimal part and an optional "/denominator". No nested quantifier can backtrack, so it is linear.
LAST_NUMBER = re.compile(
    r"(?:(?<![0-9A-Za-z)\]}])-)?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+|(?=\.[0-9]))(?:\.[0-9]+)?(?:/[0-9]+)?"
)


def _sign(s: str) -> int:
    return -1 if s == "-" else 1


def parse_number(s: str) -> Fraction | None:
    """The exact value of `s` when the whole string is a plain number or simple fraction, else None.

    Accepts "12", "-0.50", ".5", "1,000" (proper thousands groups only), "3/4", "\\frac{3}{4}",
    "-\\frac{3}{4}", "\\frac{-3}{4}" and mixed numbers "1\\frac{4}{5}". A zero denominator is None.
    """
    if not s or len(s) > MAX_NUMBER_CHARS:
        return None
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    if m := _PLAIN.fullmatch(s):
        return _sign(m[1]) * Fraction(m[2])
    if m := _SLASH.fullmatch(s):
        num, den = Fraction(m[2]), Fraction(m[3])
        return None if den == 0 else _sign(m[1]) * num / den
    if m := _FRAC.fullmatch(s):
        num, den = Fraction(m[3]), Fraction(m[5])
        if den == 0:
            return None
        return _sign(m[1]) * _sign(m[2]) * _sign(m[4]) * num / den
    if m := _MIXED.fullmatch(s):
        whole, num, den = int(m[2]), int(m[3]), int(m[4])
        if not 0 < num < den:
            return None
        return _sign(m[1]) * (whole + Fraction(num, den))
    return None


def format_number(value: Fraction) -> str:
    """Canonical key of a number: "12" for integers, reduced "p/q" (sign on p) otherwise."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"


def canonical_number(s: str) -> str | None:
    """`format_number(parse_number(s))`, or None when `s` is not a number."""
    value = parse_number(s)
    return None if value is None else format_number(value)


# Conservative unit list: stripped only when what precedes it parses as a number ("15cm^2" -> 15).
_UNIT_WORD = (
    r"(?:cm|mm|km|(?:centi|milli|kilo)?met(?:er|re)s?|meters?|inch(?:es)?|feet|foot|ft|yards?|yd|miles?"
    r"|units?|degrees?|deg|radians?|dollars?|cents?|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?"
    r"|weeks?|months?|years?|mph|kph|kg|grams?|kilograms?|pounds?|lbs?|ounces?|oz|lit(?:er|re)s?|ml"
    r"|gallons?|cups?|people|persons?|students?|ways|points?|percent|\\%|%)"
)
_ORDINAL = r"(?:\^\{?)?(?:st|nd|rd|th)\}?(?:grade)?"
_UNIT_SUFFIX = re.compile(
    r"([+-]?[0-9.,/]+|[+-]?[0-9]*\\frac\{[^{}]*\}\{[^{}]*\})"
    rf"((?:square|sq\.?|cubic)?{_UNIT_WORD}(?:(?:per|/){_UNIT_WORD})?(?:\^[23])?|{_ORDINAL})"
)
# A numeral with its base as subscript ("2516_8"): the question fixes the base, so the digits are the vote.
_BASE_NUMERAL = re.compile(r"([0-9][0-9A-F]*)_\{?[0-9]{1,2}\}?")


def numeric_key(s: str) -> str | None:
    """Number key of a whole normalised answer, also through a known unit ("15cm^2", "12^{th}") or a
    base subscript ("2516_8"); None when the answer is not a number."""
    if (key := canonical_number(s)) is not None:
        return key
    if (m := _UNIT_SUFFIX.fullmatch(s)) and (key := canonical_number(m[1])) is not None:
        return key
    if m := _BASE_NUMERAL.fullmatch(s):
        return canonical_number(m[1]) or m[1]
    return None


def last_number(text: str) -> str | None:
    """The last number token in free text (the fallback when no answer is marked), or None."""
    found = last_match(LAST_NUMBER, text)
    return None if found is None else found[0]


def last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The last non-overlapping match of `pattern` in `text` (one linear scan, nothing kept)."""
    last = deque(pattern.finditer(text), maxlen=1)
    return last[0] if last else None

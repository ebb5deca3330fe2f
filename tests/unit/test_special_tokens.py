"""`neutralise` breaks the control-token spellings of every model family and leaves clean text alone."""

from __future__ import annotations

import pytest

from tasks.algorithms.special_tokens import BREAK, has_special_spelling, neutralise

SPELLINGS = [
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|start_header_id|>",
    "<|start|>",
    "<|channel|>",
    "<｜begin▁of▁sentence｜>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<bos>",
    "</s>",
    "<s>",
    "[INST]",
    "[/INST]",
    "<<SYS>>",
    "</think>",
    "[TOOL_CALLS]",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_is_broken_and_stays_readable(spelling: str) -> None:
    text = f"before {spelling} after"
    out = neutralise(text)
    assert spelling not in out and not has_special_spelling(out)
    assert out.replace(BREAK, "") == text  # nothing but the zero-width space is added
    assert neutralise(out) == out  # idempotent: prompts built twice hash the same


@pytest.mark.parametrize(
    "clean",
    ["x < y and y > z", "a <b> tag", "|x| < 3", "[1, 2]", "<|", "use <| and |> in Haskell", "\\boxed{<5}", ""],
)
def test_clean_text_is_unchanged(clean: str) -> None:
    assert neutralise(clean) == clean

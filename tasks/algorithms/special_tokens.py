"""Untrusted text (a question, a candidate answer, a model's output) must never become a control token.

Servers tokenise chat prompts with special tokens enabled (llama-cpp-python does, and so do vLLM and
SGLang when they apply a chat template), so a candidate containing ``<|im_end|>\\n<|im_start|>system``
would close its turn and open a real system turn. `neutralise` breaks every special-token spelling by
putting a zero-width space after its first character: the text reads the same to a person and to the
model, but no tokenizer matches the control token any more. Clean text is returned unchanged, so cache
keys of ordinary prompts do not move. Templates written by the user (which may hold a model's own
control tokens on purpose) are not touched: only the values filled into them are.

Pure: no prefect, sqlalchemy or httpx.
"""

from __future__ import annotations

import re

BREAK = "\u200b"  # ZERO WIDTH SPACE: not part of any tokenizer's special-token spelling

# Spellings of control tokens across model families. Generic forms first: ChatML / Llama-3 / Phi /
# Qwen / GPT `<|...|>`, DeepSeek `<｜...｜>` (full-width bars); then named tags of Gemma, Llama-2,
# Mistral and the SentencePiece defaults, and reasoning markers that chat parsers act on.
_SPECIAL = re.compile(
    r"<\|[^<>|\s]{1,64}\|>"
    r"|<｜[^<>｜\s]{1,64}｜>"
    r"|</?(?:start_of_turn|end_of_turn|start_of_image|end_of_image|bos|eos|pad|unk|mask|s|think|tool_call"
    r"|tool_response)>"
    r"|\[/?(?:INST|SYSTEM_PROMPT|TOOL_CALLS|AVAILABLE_TOOLS|TOOL_RESULTS|TOOL_CONTENT|IMG|THINK)\]"
    r"|<</?SYS>>",
    re.IGNORECASE,
)


def neutralise(text: str) -> str:
    """`text` with every special-token spelling broken by a zero-width space after its first character.

    Idempotent: a broken spelling no longer matches, so a second pass changes nothing.
    """
    return _SPECIAL.sub(lambda m: m.group(0)[0] + BREAK + m.group(0)[1:], text)


def has_special_spelling(text: str) -> bool:
    return _SPECIAL.search(text) is not None

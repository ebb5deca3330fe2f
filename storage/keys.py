"""Content hashes that key the generation cache, and the seeds derived from them.

A generation is keyed by (model fingerprint, prompt hash, sampling-parameter hash, sample index).
Hashes are SHA-256 of canonical JSON, so the same request hashes the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: one text per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of `value`."""
    return json_hash(canonical_json(value))


def json_hash(canonical: str) -> str:
    """Hex SHA-256 of a canonical JSON text (content_hash of the value it encodes)."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def derive_seed(model_fp: str, prompt_hash: str, params_hash: str, sample_index: int) -> int:
    """A 31-bit seed from the generation key, so sample i is requested with the same seed everywhere.

    Servers that ignore seeds (SGLang without deterministic inference) still get a stable value to
    record; reproducibility itself comes from the cache.
    """
    key = f"{model_fp}|{prompt_hash}|{params_hash}|{sample_index}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") & 0x7FFFFFFF

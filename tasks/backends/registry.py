"""The model registry: names → backend, endpoints, model, prompt format, sampling defaults, concurrency.

Read from a TOML file (`--config`, `$CHORUS_CONFIG`, or `./chorus.toml`), merged over two built-in
embedded models, so that with no configuration at all `smollm2` just works:

    [models.qwen3-8b]
    backend = "sglang"                       # sglang | openai | llamacpp | replay
    endpoints = ["http://gpu1:30000", "http://gpu2:30000"]
    model = "Qwen/Qwen3-8B"
    chat = true                              # false: raw completion with prompt_template
    max_concurrency = 128
    sampling = { temperature = 0.6, max_tokens = 4096 }
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from storage.errors import ChorusError
from tasks.algorithms.replay_files import find_packaged
from tasks.algorithms.text_files import read_utf8
from tasks.backends.registry_schema import validate_entry
from tasks.backends.spec import ModelSpec

BACKEND_KINDS = ("sglang", "openai", "llamacpp", "replay")

# Gemma-3-270M is a base model: a few-shot completion prompt, one line per answer.
GEMMA_FEW_SHOT = (
    "Q: What is 12 + 7?\nA: The answer is 19.\n\nQ: What is 9 * 6?\nA: The answer is 54.\n\nQ: {question}\nA:"
)

BUILTIN: dict[str, dict[str, Any]] = {
    "smollm2": {
        "backend": "llamacpp",
        "model": "smollm2",
        "chat": True,
        "max_concurrency": 2,
        "sampling": {"temperature": 0.7, "max_tokens": 256},
    },
    "gemma3": {
        "backend": "llamacpp",
        "model": "gemma3",
        "chat": False,
        "max_concurrency": 2,
        "prompt_template": GEMMA_FEW_SHOT,
        "sampling": {"temperature": 0.7, "max_tokens": 48, "stop": ["\n\n", "\nQ:"]},
    },
}
DEFAULT_MODEL = "smollm2"


def _spec(name: str, raw: dict[str, Any], where: str) -> ModelSpec:
    values = validate_entry(name, raw, where).spec_fields()
    if values["backend"] == "replay" and not Path(values["path"]).is_absolute():
        beside = (Path(where).parent / values["path"]).resolve() if Path(where).is_file() else Path(values["path"])
        # A file next to the registry wins; else a name like math500/gpt-oss-20b is a shipped data set.
        if beside.is_file() or find_packaged(values["path"]) is None:
            values["path"] = str(beside)
    return ModelSpec(name=name, **values)


def config_path(explicit: str | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("CHORUS_CONFIG")
    if env:
        return Path(env)
    local = Path("chorus.toml")
    return local if local.is_file() else None


def load_registry(explicit: str | None = None) -> dict[str, ModelSpec]:
    """Built-in models, overridden and extended by the TOML registry if there is one."""
    registry = {name: _spec(name, raw, "built-in") for name, raw in BUILTIN.items()}
    path = config_path(explicit)
    if path is None:
        return registry
    try:
        data = tomllib.loads(read_utf8(path, f"--config {path}"))
    except tomllib.TOMLDecodeError as exc:
        # The message ends "(at line L, column C)": lead with path:line like every other file error.
        found = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        where = f"{path}:{found.group(1)}" if found else str(path)
        raise ChorusError(f"{where}: not valid TOML ({exc})") from None
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise ChorusError(f"{path}: [models] must be a table of model tables")
    for name, raw in models.items():
        registry[name] = _spec(name, raw, str(path))
    return registry


def resolve(registry: dict[str, ModelSpec], name: str, flag: str = "--model") -> ModelSpec:
    if name not in registry:
        raise ChorusError(f"{flag} {name}: unknown model (known: {', '.join(sorted(registry))})")
    return registry[name]

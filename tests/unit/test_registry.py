from __future__ import annotations

from pathlib import Path

import pytest

from storage.errors import ChorusError
from storage.keys import content_hash, derive_seed
from tasks.backends.base import SamplingParams
from tasks.backends.factory import model_fingerprint
from tasks.backends.registry import load_registry, resolve


def test_builtins_exist_without_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    registry = load_registry()
    assert registry["smollm2"].backend == "llamacpp" and registry["smollm2"].chat
    assert registry["gemma3"].chat is False and "{question}" in (registry["gemma3"].prompt_template or "")


def test_toml_registry_adds_models(tmp_path: Path) -> None:
    cfg = tmp_path / "chorus.toml"
    cfg.write_text(
        '[models.qwen]\nbackend = "sglang"\nendpoints = ["http://h1:30000/", "http://h2:30000"]\n'
        'model = "Qwen/Qwen3-8B"\nmax_concurrency = 128\nsampling = { temperature = 0.6, max_tokens = 4096 }\n'
        '[models.rec]\nbackend = "replay"\npath = "rec.jsonl"\n'
    )
    registry = load_registry(str(cfg))
    qwen = resolve(registry, "qwen")
    assert qwen.endpoints == ("http://h1:30000/", "http://h2:30000")
    assert qwen.sampling_params() == SamplingParams(max_tokens=4096, temperature=0.6)
    assert qwen.sampling_params(temperature=0.1).temperature == 0.1
    assert registry["rec"].path == str(tmp_path / "rec.jsonl")  # relative to the config file
    assert "smollm2" in registry


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[models.x]\nbackend = "vllm"\n', "chorus.toml: models.x.backend: must be one of"),
        ('[models.x]\nbackend = "sglang"\n', "chorus.toml: models.x: backend sglang needs endpoints"),
        ('[models.x]\nbackend = "replay"\n', "chorus.toml: models.x: a replay model needs path"),
        ('[models.x]\nbackend = "openai"\nendpoints = ["http://a"]\ncolour = 1\n', "models.x.colour: unknown key"),
        ("[models\n", r"chorus.toml:1: not valid TOML"),
    ],
)
def test_bad_registry_is_one_clear_error(tmp_path: Path, toml: str, message: str) -> None:
    cfg = tmp_path / "chorus.toml"
    cfg.write_text(toml)
    with pytest.raises(ChorusError, match=message):
        load_registry(str(cfg))


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(ChorusError, match=r"--model nope: unknown model \(known: gemma3, smollm2\)"):
        resolve(load_registry(), "nope")


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"max_tokens": 0}, "--max-tokens"),
        ({"temperature": -1.0}, "--temperature"),
        ({"temperature": float("nan")}, "--temperature"),
        ({"top_p": 0.0}, "--top-p"),
        ({"top_p": 1.5}, "--top-p"),
    ],
)
def test_invalid_sampling_parameters_name_the_flag(kwargs: dict[str, float], flag: str) -> None:
    with pytest.raises(ChorusError, match=flag):
        load_registry()["smollm2"].sampling_params(**kwargs)


def test_prompt_keeps_template_default_system_prompt() -> None:
    spec = load_registry()["smollm2"]
    prompt = spec.build_prompt("What is 2+2?")
    assert prompt.chat_messages() == [{"role": "user", "content": "What is 2+2?"}]  # no empty system message
    gemma = load_registry()["gemma3"].build_prompt("What is {x} + 1?")
    assert gemma.text is not None and gemma.text.endswith("Q: What is {x} + 1?\nA:")


def test_fingerprint_ignores_endpoint_but_not_model(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[models.a]\nbackend = "sglang"\nendpoints = ["http://h1"]\nmodel = "M"\n'
        '[models.b]\nbackend = "sglang"\nendpoints = ["http://h2"]\nmodel = "M"\n'
        '[models.c]\nbackend = "sglang"\nendpoints = ["http://h1"]\nmodel = "N"\n'
    )
    reg = load_registry(str(cfg))
    assert model_fingerprint(reg["a"]) == model_fingerprint(reg["b"]) != model_fingerprint(reg["c"])


def test_hashes_and_seeds_are_stable() -> None:
    assert content_hash({"b": 1, "a": [1, 2]}) == content_hash({"a": [1, 2], "b": 1})
    seeds = {derive_seed("m", "p", "s", i) for i in range(1000)}
    assert len(seeds) > 990 and all(0 <= s < 2**31 for s in seeds)
    assert derive_seed("m", "p", "s", 3) == derive_seed("m", "p", "s", 3) != derive_seed("m", "p", "t", 3)

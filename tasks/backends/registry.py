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
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chorus.errors import ChorusError
from storage.keys import content_hash
from tasks.backends.base import Backend, Health, Prompt, SamplingParams

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


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backend: str
    model: str = ""
    endpoints: tuple[str, ...] = ()
    chat: bool = True
    system: str | None = None
    prompt_template: str | None = None
    api_key_env: str | None = None
    supports_n: bool | None = None
    max_concurrency: int = 8
    sampling: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    n_ctx: int = 2048
    timeout_s: float = 300.0
    global_limit: str | None = None
    fingerprint: str | None = None

    def with_endpoints(self, endpoints: list[str]) -> ModelSpec:
        return replace(self, endpoints=tuple(endpoints))

    def sampling_params(self, **overrides: Any) -> SamplingParams:
        """Registry defaults, then the caller's non-None overrides, validated."""
        values = {**self.sampling, **{k: v for k, v in overrides.items() if v is not None}}
        values["stop"] = tuple(values.get("stop", ()))
        try:
            return SamplingParams(**values).validate()
        except TypeError as exc:
            raise ChorusError(f"model {self.name}: bad sampling defaults ({exc})") from None

    def build_messages_prompt(self, messages: tuple[tuple[str, str], ...]) -> Prompt:
        """An explicit chat prompt; a raw-completion model gets the turns as plain text."""
        if self.chat:
            return Prompt(messages=messages)
        turns = "\n\n".join(f"{role.upper()}:\n{content}" for role, content in messages)
        return Prompt(text=f"{turns}\n\nASSISTANT:\n")

    def build_prompt(self, question: str) -> Prompt:
        body = self.prompt_template.replace("{question}", question) if self.prompt_template else question
        if not self.chat:
            return Prompt(text=body)
        # No system message unless configured: an empty one would drop the template's default.
        messages = ((("system", self.system),) if self.system else ()) + (("user", body),)
        return Prompt(messages=messages)


def _spec(name: str, raw: dict[str, Any], where: str) -> ModelSpec:
    known = set(ModelSpec.__dataclass_fields__) - {"name"}
    unknown = set(raw) - known
    if unknown:
        raise ChorusError(f"{where}: model {name}: unknown key(s) {', '.join(sorted(unknown))}")
    backend = raw.get("backend")
    if backend not in BACKEND_KINDS:
        raise ChorusError(f"{where}: model {name}: backend must be one of {', '.join(BACKEND_KINDS)}, got {backend!r}")
    values = dict(raw)
    if "endpoints" in values:
        eps = values["endpoints"]
        values["endpoints"] = tuple([eps] if isinstance(eps, str) else eps)
    if backend == "replay" and not values.get("path"):
        raise ChorusError(f'{where}: model {name}: a replay model needs path = "FILE.jsonl"')
    if backend in ("sglang", "openai") and not values.get("endpoints"):
        raise ChorusError(f'{where}: model {name}: backend {backend} needs endpoints = ["http://..."]')
    if values.get("path") and backend == "replay" and not Path(values["path"]).is_absolute():
        values["path"] = (
            str((Path(where).parent / values["path"]).resolve()) if Path(where).is_file() else values["path"]
        )
    try:
        return ModelSpec(name=name, **values)
    except TypeError as exc:
        raise ChorusError(f"{where}: model {name}: {exc}") from None


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
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ChorusError(f"--config {path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ChorusError(f"{path}: not valid TOML ({exc})") from None
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise ChorusError(f"{path}: [models] must be a table of model tables")
    for name, raw in models.items():
        if not isinstance(raw, dict):
            raise ChorusError(f"{path}: models.{name} must be a table")
        registry[name] = _spec(name, raw, str(path))
    return registry


def resolve(registry: dict[str, ModelSpec], name: str) -> ModelSpec:
    if name not in registry:
        raise ChorusError(f"--model {name}: unknown model (known: {', '.join(sorted(registry))})")
    return registry[name]


def create_backend(spec: ModelSpec) -> Backend:
    """A backend client for `spec`; a llamacpp spec must already carry its server's endpoint."""
    from tasks.backends.openai_compat import OpenAIBackend
    from tasks.backends.replay import ReplayBackend
    from tasks.backends.sglang import SGLangBackend

    if spec.backend == "replay":
        return ReplayBackend(spec.name, path=str(spec.path), max_concurrency=spec.max_concurrency)
    if spec.backend == "sglang":
        return SGLangBackend(
            spec.name,
            endpoints=list(spec.endpoints),
            model=spec.model,
            chat=spec.chat,
            max_concurrency=spec.max_concurrency,
            timeout_s=spec.timeout_s,
        )
    supports_n = spec.supports_n if spec.supports_n is not None else spec.backend == "openai"
    backend = OpenAIBackend(
        spec.name,
        endpoints=list(spec.endpoints),
        model=spec.model or spec.name,
        chat=spec.chat,
        api_key_env=spec.api_key_env,
        supports_n=supports_n,
        max_concurrency=spec.max_concurrency,
        timeout_s=spec.timeout_s,
    )
    if spec.backend == "llamacpp":
        backend.kind = "llamacpp"
    return backend


async def endpoint_health(spec: ModelSpec) -> Health:
    """Ask the model's server(s) whether they can generate, with a client opened and closed for it."""
    backend = create_backend(spec)
    try:
        return await backend.health()
    finally:
        await backend.aclose()


def model_fingerprint(spec: ModelSpec) -> str:
    """What generated, not where: the same weights and prompt format share a cache on any server."""
    if spec.fingerprint:
        return spec.fingerprint
    parts: dict[str, Any] = {
        "mode": "chat" if spec.chat else "text",
        "system": spec.system,
        "template": spec.prompt_template,
    }
    if spec.backend == "llamacpp":
        from tasks.backends.local_server import embedded_model_path

        gguf = embedded_model_path(spec.model or spec.name)
        parts |= {"kind": "gguf", "file": gguf.name, "size": gguf.stat().st_size}
    elif spec.backend == "replay":
        path = Path(str(spec.path))
        if not path.is_file():
            raise ChorusError(f"model {spec.name}: replay file {path} not found")
        parts |= {"kind": "replay", "file": path.name, "size": path.stat().st_size}
    else:
        parts |= {"kind": "hf", "model": spec.model}
    return content_hash(parts)[:32]

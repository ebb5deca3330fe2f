"""The one place that turns a ModelSpec into a backend client, its health, and its cache identity.

Live servers (SGLang, OpenAI-compatible, the embedded llama.cpp) and recorded answers (replay) are
chosen here and nowhere else: flows and services only see the Backend protocol.
"""

from __future__ import annotations

from typing import Any

from storage.errors import ChorusError
from storage.keys import content_hash
from tasks.algorithms.replay_files import replay_identity
from tasks.backends.base import Backend, Health
from tasks.backends.local_server import embedded_model_path
from tasks.backends.openai_compat import OpenAIBackend
from tasks.backends.replay import ReplayBackend
from tasks.backends.sglang import SGLangBackend
from tasks.backends.spec import ModelSpec


def create_backend(spec: ModelSpec) -> Backend:
    """A backend client for `spec`; a llamacpp spec must already carry its server's endpoint."""
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
        kind=spec.backend,
    )
    return backend


async def endpoint_health(spec: ModelSpec) -> Health:
    """Ask the model's server(s) whether they can generate, with a client opened and closed for it."""
    backend = create_backend(spec)
    try:
        return await backend.health()
    finally:
        await backend.aclose()


async def server_slots(spec: ModelSpec) -> int | None:
    """Sequences the model's servers decode at once, when they say so (SGLang); None when unknown."""
    if spec.backend != "sglang":
        return None
    backend = create_backend(spec)
    try:
        return await backend.decode_slots()  # type: ignore[attr-defined]
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
        gguf = embedded_model_path(spec.model or spec.name)
        parts |= {"kind": "gguf", "file": gguf.name, "size": gguf.stat().st_size}
    elif spec.backend == "replay":
        try:
            file_name, size = replay_identity(str(spec.path))
        except ChorusError as exc:
            raise ChorusError(f"model {spec.name}: {exc}") from None
        parts |= {"kind": "replay", "file": file_name, "size": size}
    else:
        parts |= {"kind": "hf", "model": spec.model}
    return content_hash(parts)[:32]

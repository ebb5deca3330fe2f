"""What the registry says about one model: backend, endpoints, prompt format, sampling defaults."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from storage.errors import ChorusError
from tasks.algorithms.special_tokens import neutralise
from tasks.backends.base import Prompt, SamplingParams


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
        # The question is untrusted: its special-token spellings are broken; the template is kept as written.
        question = neutralise(question)
        body = self.prompt_template.replace("{question}", question) if self.prompt_template else question
        if not self.chat:
            return Prompt(text=body)
        # No system message unless configured: an empty one would drop the template's default.
        messages = ((("system", self.system),) if self.system else ()) + (("user", body),)
        return Prompt(messages=messages)

"""What every request shares: the served models (with their backend clients), the cache and its engine.

Backends are created once, at start-up, so their HTTP connection pools and per-endpoint bounds are
shared by all requests; the embedded llama.cpp servers are started by the CLI for the server's lifetime.
One `SampleBatcher` merges the cache reads and writes of all requests in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from chorus.serve.errors import Redactor, bad_request, not_found
from chorus.serve.schemas import ChorusSettings
from storage.cache import GenerationCache
from storage.errors import ChorusError
from tasks.algorithms.answers import AnswerKind
from tasks.algorithms.datasets import Problem
from tasks.backends.base import Backend, SamplingParams
from tasks.backends.factory import model_fingerprint
from tasks.backends.spec import ModelSpec
from tasks.services.sample_batcher import SampleBatcher
from tasks.services.sampling import SamplingJob

# Defaults of the voting strategies (a request's `chorus` object overrides them).
DEFAULT_MAX_SAMPLES = 32
DEFAULT_ANSWER_KIND: AnswerKind = "math"


@dataclass(frozen=True)
class SeededParams(SamplingParams):
    """Sampling parameters of a request that carries `seed`: the seed joins the cache key, so seed s
    reads and writes its own cache indices (and derived server seeds). Without a seed a request uses
    the plain key, shared with `chorus sample` / `chorus vote` on the same prompt."""

    seed: int = 0

    def as_key(self) -> dict[str, object]:
        return {**super().as_key(), "seed": self.seed}


@dataclass(frozen=True)
class Ask:
    """One request, as the strategies see it."""

    problem: Problem  # id: the prompt's last user text (the replay stand-in looks problems up by it)
    question: str  # what a fusor or judge is told the question was
    overrides: dict[str, object]
    seed: int | None
    n: int
    settings: ChorusSettings = field(default_factory=ChorusSettings)


@dataclass
class ServeContext:
    specs: dict[str, ModelSpec]  # the served base models, endpoints filled in
    backends: dict[str, Backend]
    cache: GenerationCache
    engine: Engine
    redact: Redactor
    fingerprints: dict[str, str] = field(default_factory=dict)
    batcher: SampleBatcher = field(init=False)

    def __post_init__(self) -> None:
        self.batcher = SampleBatcher(self.cache)

    def spec(self, name: str) -> ModelSpec:
        if name not in self.specs:
            raise not_found(f"model {name!r} is not served here (served: {', '.join(sorted(self.specs))})")
        return self.specs[name]

    def job(self, name: str, ask: Ask, **extra: object) -> SamplingJob:
        """The sampling job of model `name` for this request: registry defaults, then the request's values."""
        spec = self.spec(name)
        try:
            params = spec.sampling_params(**{**ask.overrides, **extra})
        except ChorusError as exc:
            raise bad_request(str(exc).replace("--", "")) from None
        if ask.seed is not None:
            params = SeededParams(params.max_tokens, params.temperature, params.top_p, params.stop, seed=ask.seed)
        return SamplingJob(spec, self.fingerprint(name), params)

    def fingerprint(self, name: str) -> str:
        if name not in self.fingerprints:
            self.fingerprints[name] = model_fingerprint(self.spec(name))
        return self.fingerprints[name]

    def backend(self, name: str) -> Backend:
        self.spec(name)
        return self.backends[name]

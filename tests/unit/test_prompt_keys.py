"""A prompt's cache key: the hash registered with its JSON is the hash of that JSON, made once."""

from __future__ import annotations

from storage.keys import canonical_json, content_hash
from tasks.algorithms.datasets import Problem
from tasks.backends.base import SamplingParams
from tasks.backends.spec import ModelSpec
from tasks.services.sampling import SamplingJob


def test_prompt_record_is_the_prompt_its_content_hash_and_that_json() -> None:
    for chat in (False, True):
        spec = ModelSpec("m", "openai", model="m", endpoints=("http://127.0.0.1:1",), chat=chat)
        job = SamplingJob(spec, "fp", SamplingParams(max_tokens=8))
        for problem in (
            Problem("q", "What is 2 + 2? ünïcode"),
            Problem("c", "", messages=(("system", "be brief"), ("user", "hi"))),
        ):
            prompt, prompt_hash, body = job.prompt_record(problem)
            assert body == canonical_json(prompt.as_key())
            assert prompt_hash == content_hash(prompt.as_key())
            assert job.prompt(problem) == (prompt, prompt_hash)

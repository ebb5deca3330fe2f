"""`chorus serve` in front of the embedded llama.cpp model (a real server process, slow on CPU)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.serve.conftest import launch, stop

pytestmark = pytest.mark.llama


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_bo_inf_on_the_embedded_model_is_cached_and_the_model_server_stops(tmp_path: Path) -> None:
    from storage.errors import ChorusError
    from tasks.backends.local_server import embedded_model_path

    try:
        embedded_model_path("smollm2")
    except ChorusError as exc:
        pytest.skip(str(exc))
    served = launch(tmp_path / "home", ready_s=240)  # no registry file: serves the embedded smollm2
    try:
        model_servers = _children(served.proc.pid)
        assert model_servers, "the embedded llama.cpp server should run for the server's lifetime"
        client = served.client()
        ask = {
            "messages": [{"role": "user", "content": "What is 2 + 3? Put the final answer in \\boxed{}."}],
            "max_tokens": 48,
            "seed": 7,
            "extra_body": {"chorus": {"max_samples": 3}},
        }
        first = client.chat.completions.create(model="bo-inf/smollm2", **ask)
        c = first.model_extra["chorus"]
        assert 1 <= c["samples"] <= 3 and c["generated"] == c["samples"]
        assert first.usage.prompt_tokens > 0 and first.usage.completion_tokens > 0
        again = client.chat.completions.create(model="bo-inf/smollm2", **ask)
        assert again.model_extra["chorus"]["generated"] == 0
        assert again.choices[0].message.content == first.choices[0].message.content
        streamed = client.chat.completions.create(model="smollm2", stream=True, **{**ask, "extra_body": {}})
        text = "".join(ch.choices[0].delta.content or "" for ch in streamed if ch.choices)
        assert text  # sample 0 of this seed: generated in the vote above, served again from the cache
    finally:
        stop(served.proc)
    for pid in model_servers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()

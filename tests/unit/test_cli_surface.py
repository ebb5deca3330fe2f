"""The CLI's surface: fast help without heavy imports, flags without a type, readable summaries, 80 columns."""

from __future__ import annotations

from chorus.cli_common import human
from tests.fixtures.helpers import chorus, packages_imported_by


def test_help_and_models_import_neither_prefect_nor_the_numeric_stack() -> None:
    code = "import sys\nfrom chorus import cli\nsys.argv = ['chorus', 'models', '--no-check']\ncli.main()\n"
    assert packages_imported_by(code, {"prefect", "matplotlib", "scipy", "fastapi"}) == []


def test_help_imports_no_pydantic() -> None:
    """`chorus --help` loads only the command modules: pydantic is imported where options are checked."""
    code = "import sys\nfrom chorus import cli\nsys.argv = ['chorus', '--help']\ncli.main()\n"
    assert packages_imported_by(code, {"pydantic", "numpy", "prefect"}) == []


def test_flags_show_no_type_but_valued_options_do() -> None:
    top = chorus("--help", env={"COLUMNS": "100"})
    assert top.returncode == 0 and "--help" in top.stdout and "<bool>" not in top.stdout
    vote = chorus("vote", "--help", env={"COLUMNS": "100"})
    assert "<bool>" not in vote.stdout and "<int>" in vote.stdout


def test_models_table_fits_80_columns_without_cutting_words() -> None:
    proc = chorus("models", env={"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    assert all(len(line) <= 80 for line in proc.stdout.splitlines())
    assert "…" not in proc.stdout
    assert "gguf)" in proc.stdout  # the health cell's file name is folded, not cut


def test_summary_values_read_as_text_not_python() -> None:
    assert human(["qwen4b", "smollm2"]) == "qwen4b, smollm2"
    assert human({"n": 24, "accuracy": 0.2}) == "n 24, accuracy 0.2"
    assert human([1.0]) == "1"
    assert human(None) == "-" and human(True) == "yes"
    assert human(0.123456) == "0.1235"


def test_a_command_runs_under_fewer_gc_passes_from_its_first_import() -> None:
    """The thresholds are set before a command's own imports (Prefect's among them) and restored when
    `main()` returns, whatever the command (here a stand-in for the Typer app)."""
    code = (
        "import gc, sys\nfrom chorus import cli\nfrom flows.run_policy import FLOW_THRESHOLDS\n"
        "seen = []\ncli.app = lambda **_: seen.append(gc.get_threshold())\nsys.argv = ['chorus']\n"
        "before = gc.get_threshold()\ncli.main()\n"
        "assert seen == [FLOW_THRESHOLDS] and gc.get_threshold() == before != FLOW_THRESHOLDS, (seen, before)\n"
    )
    assert packages_imported_by(code, {"prefect"}) == []

"""The checks behind the bad-input table, at their limits: values just inside pass, the table covers outside."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from chorus.input_checks import check_output_folder, check_replay_files
from chorus.validation import check_flow_parameters
from storage.errors import ChorusError
from tasks.algorithms.datasets import load_dataset
from tasks.algorithms.stopping import check_threshold
from tasks.backends.registry import load_registry
from tasks.backends.registry_schema import ModelEntry
from tasks.backends.spec import ModelSpec


def _flows() -> dict[str, object]:
    from flows.distill_flow import distill_flow
    from flows.ensemble_flow import ensemble_flow
    from flows.fuse_flow import fuse_flow
    from flows.sample_flow import sample_flow
    from flows.simulate_flow import simulate_flow
    from flows.vote_flow import vote_flow

    return {
        "sample": sample_flow,
        "vote": vote_flow,
        "simulate": simulate_flow,
        "ensemble": ensemble_flow,
        "fuse": fuse_flow,
        "distill": distill_flow,
    }


INSIDE = [
    ("sample", {"n": 1}),
    ("sample", {"n": 100_000}),
    ("sample", {"chunk_size": 1}),
    ("sample", {"chunk_size": 10_000}),
    ("sample", {"temperature": 0.0}),
    ("sample", {"temperature": 5.0}),
    ("sample", {"top_p": 1.0}),
    ("sample", {"max_tokens": 1}),
    ("sample", {"max_tokens": 1_000_000}),
    ("sample", {"limit": 1}),
    ("vote", {"threshold": 1e-9}),
    ("vote", {"max_samples": 1}),
    ("vote", {"seed": 0}),
    ("vote", {"batch": 1}),
    ("vote", {"alpha": 1e-9}),
    ("vote", {"answer_kind": "choice"}),
    ("vote", {"rule": "esc"}),
    ("simulate", {"trials": 1}),
    ("simulate", {"trials": 100_000}),
    ("simulate", {"fixed": [1, 100_000]}),
    ("simulate", {"thresholds": [1e-9]}),
    ("simulate", {"weights": [0.0, 1.0]}),
    ("simulate", {"keys": "canonical"}),
    ("ensemble", {"train_frac": 0.001}),
    ("ensemble", {"train_frac": 0.999}),
    ("ensemble", {"folds": 2}),
    ("ensemble", {"trials": 0}),
    ("ensemble", {"time_limit": 86_400}),
    ("ensemble", {"token_budget": 1e-9}),
    ("ensemble", {"lower": [0.0, 1.0]}),
    ("ensemble", {"samples": 1}),
    ("ensemble", {"solver": "highs"}),
    ("fuse", {"n": 2}),
    ("fuse", {"n": 64}),
    ("fuse", {"fusor_context": 256}),
    ("fuse", {"answer_kind": "number"}),
    ("distill", {"teachers": ["a", "b"]}),
    ("distill", {"temperature": 0.0}),
    ("distill", {"chunk_size": 1}),
]


@pytest.mark.parametrize(("flow", "values"), INSIDE, ids=[f"{f}-{v}" for f, v in INSIDE])
def test_values_at_the_limits_pass(flow: str, values: dict[str, object]) -> None:
    check_flow_parameters(_flows()[flow], **values)


def test_first_error_names_the_option_and_value() -> None:
    with pytest.raises(ChorusError, match=r"^--chunk-size 0: must be ≥ 1$"):
        check_flow_parameters(_flows()["sample"], chunk_size=0)
    with pytest.raises(ChorusError, match=r"^--folds 0: must be ≥ 2$"):
        check_flow_parameters(_flows()["ensemble"], models=["a", "b", "c"], folds=0)  # models pass, folds fails
    with pytest.raises(TypeError, match="no parameter"):
        check_flow_parameters(_flows()["sample"], colour=1)


@pytest.mark.parametrize(("rule", "threshold"), [("bayes", 1e6), ("fixed", 3), ("esc", 1), ("beta", 0.999)])
def test_thresholds_inside_each_rule_pass(rule: str, threshold: float) -> None:
    assert check_threshold(rule, threshold) == threshold


def _replay(path: Path, ids: list[str], gold: bool = True) -> Path:
    rows = [{"problem_num": i, "all_answers": [["1", 5]], **({"gold_answer": "1"} if gold else {})} for i in ids]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_partial_overlap_is_a_warning_with_counts_in_any_order(tmp_path: Path) -> None:
    files = [("a", _replay(tmp_path / "a.jsonl", ["1", "2", "3"])), ("b", _replay(tmp_path / "b.jsonl", ["2", "3"]))]
    full = [("c", _replay(tmp_path / "c.jsonl", ["1", "2", "3"])), ("a", files[0][1])]
    assert check_replay_files([(n, str(p)) for n, p in full]) == []
    for _ in range(3):
        random.shuffle(files)
        [warning] = check_replay_files([(n, str(p)) for n, p in files])
        assert "only 2 of 3 problems" in warning and "a has 2 of its 3" in warning


def test_gold_only_needed_where_accuracy_is_measured(tmp_path: Path) -> None:
    nogold = [("a", str(_replay(tmp_path / "a.jsonl", ["1"], gold=False)))]
    assert check_replay_files(nogold, need_gold=False) == []
    with pytest.raises(ChorusError, match="no problem has a gold_answer"):
        check_replay_files(nogold)
    some = tmp_path / "some.jsonl"
    some.write_text(
        _replay(tmp_path / "g.jsonl", ["1"]).read_text() + json.dumps({"problem_num": 2, "all_answers": [["1", 5]]})
    )
    assert check_replay_files([("s", str(some))]) == [
        f"warning: {some}: 1 of 2 problems have no gold_answer; they count as wrong"
    ]


def test_csv_with_a_byte_order_mark_keeps_its_id_column(tmp_path: Path) -> None:
    data = tmp_path / "excel.csv"
    data.write_bytes("\ufeffid,question,answer\nq1,What is 2+2?,4\n".encode())
    [problem] = load_dataset(data)
    assert (problem.id, problem.question, problem.answer) == ("q1", "What is 2+2?", "4")


def test_output_folder_may_be_created_below_an_existing_one(tmp_path: Path) -> None:
    check_output_folder(str(tmp_path / "new" / "deeper"), "--out")
    assert not (tmp_path / "new").exists()  # checked, not created


def test_registry_schema_has_every_model_spec_attribute() -> None:
    spec_fields = {f.name for f in dataclasses.fields(ModelSpec)} - {"name"}
    assert set(ModelEntry.model_fields) == spec_fields


def test_a_full_registry_entry_keeps_its_values(tmp_path: Path) -> None:
    cfg = tmp_path / "chorus.toml"
    cfg.write_text(
        '[models.m]\nbackend = "sglang"\nendpoints = "http://h:1"\nmodel = "M"\nchat = false\nsystem = "s"\n'
        'prompt_template = "Q: {question}"\napi_key_env = "M_KEY"\nsupports_n = true\nmax_concurrency = 3\n'
        'sampling = { temperature = 0.5, stop = ["\\n"] }\nn_ctx = 4096\ntimeout_s = 30\nglobal_limit = "gpu"\n'
    )
    spec = load_registry(str(cfg))["m"]
    assert spec.endpoints == ("http://h:1",) and spec.sampling == {"temperature": 0.5, "stop": ["\n"]}
    assert (spec.chat, spec.system, spec.api_key_env, spec.supports_n) == (False, "s", "M_KEY", True)
    assert (spec.max_concurrency, spec.n_ctx, spec.timeout_s, spec.global_limit) == (3, 4096, 30.0, "gpu")
    assert spec.sampling_params().temperature == 0.5 and spec.sampling_params().max_tokens == 256

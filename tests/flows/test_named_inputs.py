"""Multi-file inputs are matched by model name, never by position: every such input is shuffled here and
the results must be identical (a silent wrong number is the worst outcome)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from flows.ensemble_flow import ensemble_flow
from flows.simulate_flow import simulate_flow
from tasks.algorithms.ensemble_eval import build_dists, single_accuracy
from tasks.algorithms.options import model_name_of
from tasks.algorithms.replay_files import load_replay
from tests.conftest import SHARED_DATA
from tests.flows.test_cli import assert_one_line_error, chorus

pytestmark = pytest.mark.usefixtures("prefect_api")

# the models recorded on both MATH500 and AIME2024: train on one set, transfer to the other
COMMON = sorted(
    {model_name_of(str(p)) for p in SHARED_DATA.glob("analysis_math500_*.jsonl")}
    & {model_name_of(str(p)) for p in SHARED_DATA.glob("analysis_aime2024_*.jsonl")}
)


def _files(kind: str, models: list[str]) -> list[str]:
    return [str(SHARED_DATA / f"analysis_{kind}_{m}.jsonl") for m in models]


def _shuffled(items: list[str], seed: int) -> list[str]:
    out = list(items)
    random.Random(seed).shuffle(out)
    return out if out != items else out[1:] + out[:1]  # never the given order


def test_transfer_matches_test_files_by_name_in_any_order(tmp_path: Path) -> None:
    assert len(COMMON) >= 5
    train, test = _files("math500", COMMON), _files("aime2024", COMMON)
    db = f"sqlite:///{tmp_path / 'c.db'}"
    kw = {"trials": 0, "db": db, "time_limit": 60, "ties": "right"}
    base = asyncio.run(ensemble_flow(name="t0", replay=train, test_replay=test, **kw))
    mixed = asyncio.run(ensemble_flow(name="t1", replay=_shuffled(train, 1), test_replay=_shuffled(test, 2), **kw))
    for key in ("models", "weights", "accuracy"):
        assert mixed[key] == base[key], key
    # each model's transfer column is that model's own AIME2024 Bo∞, computed here independently
    transfer = base["accuracy"]["transfer"]
    for name in COMMON:
        own = build_dists([load_replay(_files("aime2024", [name])[0])])
        assert transfer[name] == round(single_accuracy(own, 0, "right"), 4), name


def test_ensemble_inputs_shuffled_with_their_bounds(tmp_path: Path) -> None:
    names = COMMON[:4]
    db = f"sqlite:///{tmp_path / 'c.db'}"
    items = [f"{n}={f}" for n, f in zip(names, _files("aime2024", names), strict=True)]
    upper = {n: u for n, u in zip(names, (0.6, 0.5, 0.4, 0.3), strict=True)}  # bounds go with names
    runs = []
    for seed in (0, 3):
        order = _shuffled(items, seed) if seed else items
        ub = [upper[i.split("=", 1)[0]] for i in order]
        runs.append(asyncio.run(ensemble_flow(name=f"b{seed}", replay=order, upper=ub, trials=5, max_samples=8, db=db)))
    assert runs[0]["weights"] == runs[1]["weights"] and runs[0]["accuracy"] == runs[1]["accuracy"]
    assert runs[0]["finite_n"] == runs[1]["finite_n"]
    assert all(runs[0]["weights"][n] <= upper[n] + 1e-6 for n in names)


def test_simulate_mixture_weights_go_with_their_files() -> None:
    names = COMMON[:3]
    files = dict(zip(names, _files("aime2024", names), strict=True))
    weights = dict(zip(names, (0.6, 0.3, 0.1), strict=True))
    kw = {"thresholds": [5.0, 30.0], "fixed": [1, 5], "trials": 40, "max_samples": 30, "seed": 4}
    base = simulate_flow(replay=[files[n] for n in names], weights=[weights[n] for n in names], **kw)
    order = _shuffled(list(names), 5)
    mixed = simulate_flow(replay=[files[n] for n in order], weights=[weights[n] for n in order], **kw)
    assert mixed == base
    assert base["models"] == sorted(names) and base["weights"] == pytest.approx([weights[n] for n in sorted(names)])
    # and the weights matter: the same files with the weights moved to other models give other numbers
    moved = simulate_flow(replay=[files[n] for n in names], weights=[weights[n] for n in order], **kw)
    assert moved["adaptive"] != base["adaptive"]


def test_test_set_missing_or_unknown_model_is_one_line_error(tmp_path: Path) -> None:
    train, test = _files("math500", COMMON[:3]), _files("aime2024", COMMON[:3])
    db = f"sqlite:///{tmp_path / 'c.db'}"
    args = ["ensemble", "--db", db, "--trials", "0"]
    for f in train:
        args += ["--replay", f]
    missing = chorus(*args, "--test", test[0], "--test", test[1])
    assert_one_line_error(missing, "--test", f"no file for trained model(s) {COMMON[2]}")
    extra = _files("aime2024", [COMMON[3]])[0]
    unknown = chorus(*args, *[x for f in test for x in ("--test", f)], "--test", extra)
    assert_one_line_error(unknown, "--test", f"{COMMON[3]} not in the ensemble")
    assert not (tmp_path / "c.db").exists()

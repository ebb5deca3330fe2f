"""The bad-input table: (id, command line, fragments the one error line must contain, registry TOML or None).

Placeholders, filled per test: {A} a good dataset, {D} a SQLite URL in the test's folder, {T} that folder,
{R1} {R2} recorded answers of two models on AIME 2024, {M1} {M2} the same two models on MATH500,
{F} an existing plain file, {CFG} the registry file written from the case's TOML. Bad files made by
`make_bad_files` are `{T}/NAME`.
"""

from __future__ import annotations

import json
from pathlib import Path

S = "sample --dataset {A} --db {D}"
V = "vote --dataset {A} --db {D}"
SIM = "simulate --replay {R1}"
SIM2 = "simulate --replay {R1} --replay {R2}"
E = "ensemble --replay {R1} --replay {R2} --db {D}"
FU = "fuse --dataset {A} --db {D}"
DI = "distill --prompts {A} --teacher smollm2 --teacher gemma3 --out {T}/out --db {D}"
REG = "sample --dataset {A} --db {D} --model x --config {CFG}"
OK_MODEL = '[models.x]\nbackend = "openai"\nendpoints = ["http://127.0.0.1:9"]\nmodel = "m"\n'


def flag_cases(base: str, flag: str, values: list[str]) -> list[tuple]:
    """One case per value: the error line must name the flag."""
    command = base.split()[0]
    return [(f"{command}{flag}={value}", f"{base} {flag} {value}", (flag,), None) for value in values]


CASES: list[tuple] = [
    # The 18 limits the issue found enforced only by Prefect.
    ("issue-sample-n", f"{S} -n 100001", ("-n 100001", "≤ 100000"), None),
    ("issue-chunk-size", f"{S} --chunk-size 0", ("--chunk-size 0", "≥ 1"), None),
    ("issue-vote-threshold", f"{V} --threshold -5", ("--threshold -5", "> 0"), None),
    ("issue-vote-alpha-nan", f"{V} --alpha nan", ("--alpha nan", "finite"), None),
    ("issue-vote-seed", f"{V} --seed -1", ("--seed -1", "≥ 0"), None),
    ("issue-sim-rule", f"{SIM} --rule bogus", ("--rule bogus", "'bayes'"), None),
    ("issue-sim-keys", f"{SIM} --keys bogus", ("--keys bogus", "'raw'"), None),
    ("issue-sim-compat", f"{SIM} --compat bogus", ("--compat bogus", "'authors'"), None),
    ("issue-sim-trials", f"{SIM} --trials 0", ("--trials 0", "≥ 1"), None),
    ("issue-sim-max-samples", f"{SIM} --max-samples 0", ("--max-samples 0", "≥ 1"), None),
    ("issue-sim-thresholds-empty", f"{SIM} --thresholds ''", ("--thresholds",), None),
    ("issue-ens-train-frac-0", f"{E} --train-frac 0", ("--train-frac 0", "> 0"), None),
    ("issue-ens-train-frac-1.5", f"{E} --train-frac 1.5", ("--train-frac 1.5", "< 1"), None),
    ("issue-ens-folds", f"{E} --folds 1", ("--folds 1", "≥ 2"), None),
    ("issue-ens-time-limit", f"{E} --time-limit -1", ("--time-limit -1", "> 0"), None),
    ("issue-ens-token-budget", f"{E} --token-budget -5", ("--token-budget -5", "> 0"), None),
    ("issue-ens-trials", f"{E} --trials -1", ("--trials -1", "≥ 0"), None),
    (
        "issue-ens-samples",
        "ensemble --dataset {A} --model smollm2 --model gemma3 --samples 0 --db {D}",
        ("--samples 0", "≥ 1"),
        None,
    ),
    # Tracebacks, silent acceptances and misleading messages named in the issue.
    ("issue-fixed-nan", f"{V} --rule fixed --threshold nan", ("--threshold nan", "finite"), None),
    ("issue-fixed-inf", f"{V} --rule fixed --threshold inf", ("--threshold inf", "finite"), None),
    ("issue-weights-nan", f"{SIM2} --weights nan,1", ("--weights nan,1", "finite"), None),
    ("issue-json-missing-folder", f"{SIM} --json /nodir/out.json", ("--json /nodir/out.json", "does not exist"), None),
    ("issue-replay-latin1", "simulate --replay {T}/latin1.jsonl", ("latin1.jsonl:2", "not UTF-8"), None),
    ("issue-config-latin1", "sample --dataset {A} --db {D} --config {T}/latin1.toml", ("latin1.toml:2", "UTF-8"), None),
    ("issue-model-inf", f"{V} --model smollm2=inf", ("--model smollm2=inf", "finite"), None),
    ("issue-model-nan", f"{V} --model smollm2=nan", ("--model smollm2=nan", "finite"), None),
    ("issue-beta-5", f"{V} --rule beta --threshold 5", ("--threshold 5", "probability"), None),
    ("issue-sim-thresholds-neg", f"{SIM} --thresholds -5,0", ("--thresholds -5,0", "> 0"), None),
    ("issue-sim-fixed-1.5", f"{SIM} --fixed 1.5", ("--fixed 1.5", "whole numbers"), None),
    (
        "issue-replay-no-gold",
        "simulate --replay {T}/nogold.jsonl",
        ("nogold.jsonl", "no problem has a gold_answer"),
        None,
    ),
    ("issue-replay-negative-tokens", "simulate --replay {T}/negtok.jsonl", ("negtok.jsonl:1", "negative token"), None),
    (
        "issue-replay-no-overlap",
        "simulate --replay {R1} --replay {T}/disjoint.jsonl",
        ("--replay", "share no problem"),
        None,
    ),
    ("issue-ens-two-replay-one-test", f"{E} --test {{M1}}", ("--test", "no file for trained model"), None),
    (
        "issue-ens-test-wrong-names",
        f"{E} --test {{M1}} --test {{T}}/analysis_math500_Other.jsonl",
        ("--test", "not in the ensemble"),
        None,
    ),
    ("issue-fusor-max-tokens", f"{FU} --fusor-max-tokens 0", ("--fusor-max-tokens 0", "≥ 1"), None),
    ("issue-vote-answer-kind", f"{V} --answer-kind bogus", ("--answer-kind bogus", "'math'"), None),
    (
        "issue-cache-stats-typo",
        "cache stats --db sqlite:///{T}/typo/deep/dir/cache.db",
        ("--db", "no cache database"),
        None,
    ),
    (
        "issue-distill-out-file",
        "distill --prompts {A} --teacher smollm2 --teacher gemma3 --out {F} --db {D}",
        ("--out", "not a folder"),
        None,
    ),
    (
        "issue-distill-out-under-file",
        "distill --prompts {A} --teacher smollm2 --teacher gemma3 --out {F}/sub --db {D}",
        ("--out", "is a file"),
        None,
    ),
    (
        "issue-registry-endpoints",
        REG,
        ("chorus.toml: models.x.endpoints: must be a list",),
        'models.x = { backend = "openai", endpoints = 5 }\n',
    ),
    (
        "issue-registry-concurrency-str",
        REG,
        ("chorus.toml: models.x.max_concurrency: must be a whole number",),
        OK_MODEL + 'max_concurrency = "lots"\n',
    ),
    (
        "issue-registry-timeout-str",
        REG,
        ("chorus.toml: models.x.timeout_s: must be a number",),
        OK_MODEL + 'timeout_s = "slow"\n',
    ),
    (
        "issue-registry-concurrency-neg",
        REG,
        ("models.x.max_concurrency: must be ≥ 1",),
        OK_MODEL + "max_concurrency = -3\n",
    ),
    (
        "issue-registry-concurrency-0",
        REG,
        ("models.x.max_concurrency: must be ≥ 1",),
        OK_MODEL + "max_concurrency = 0\n",
    ),
    (
        "issue-registry-template",
        REG,
        ("models.x.prompt_template: must contain {question}",),
        OK_MODEL + 'prompt_template = "Solve it."\n',
    ),
]

CASES += [
    ("registry-not-a-table", REG, ("chorus.toml: models.x: must be a table",), "[models]\nx = 5\n"),
    ("registry-models-not-table", REG, ("chorus.toml", "[models] must be a table"), "models = 5\n"),
    ("registry-replay-no-path", REG, ("models.x: a replay model needs path",), '[models.x]\nbackend = "replay"\n'),
    (
        "registry-sglang-no-endpoints",
        REG,
        ("models.x: backend sglang needs endpoints",),
        '[models.x]\nbackend = "sglang"\n',
    ),
    ("registry-bad-toml", REG, ("chorus.toml:5", "not valid TOML"), OK_MODEL + "max_concurrency = \n"),
    ("registry-missing-file", "sample --dataset {A} --db {D} --config {T}/none.toml", ("--config", "not found"), None),
]

# Every file kind with wrong content or encoding.
FILES = {
    "latin1.jsonl": b'{"problem_num": 1, "gold_answer": "1", "all_answers": [["1", 5]]}\n{"x": "caf\xe9"}\n',
    "latin1.toml": b'[models.x]\nmodel = "caf\xe9"\n',
    "latin1-data.jsonl": b'{"id": 1, "question": "ok"}\n{"id": 2, "question": "caf\xe9"}\n',
    "nogold.jsonl": b'{"problem_num": 1, "all_answers": [["1", 5]]}\n{"problem_num": 2, "all_answers": [["2", 5]]}\n',
    "disjoint.jsonl": b'{"problem_num": "x1", "gold_answer": "1", "all_answers": [["1", 5]]}\n',
    "negtok.jsonl": b'{"problem_num": 1, "gold_answer": "1", "all_answers": [["1", -62]]}\n',
    "dup.jsonl": b'{"problem_num": 1, "gold_answer": "1", "all_answers": [["1", 5]]}\n' * 2,
    "noanswers.jsonl": b'{"problem_num": 1, "gold_answer": "1", "all_answers": []}\n',
    "notreplay.jsonl": b'{"id": 1, "question": "q"}\n',
    "badjson.jsonl": b'{"problem_num": 1,\n',
    "empty.jsonl": b"",
    "list.jsonl": b"[1, 2]\n",
    "noid.jsonl": b'{"question": "q"}\n',
    "emptyq.jsonl": b'{"id": 1, "question": "  "}\n',
    "numq.jsonl": b'{"id": 1, "question": 5}\n',
    "noquestion.csv": b"id,answer\n1,2\n",
    "bom-noquestion.csv": b"\xef\xbb\xbfid,answer\n1,2\n",
}
CASES += [
    ("replay-dup", "simulate --replay {T}/dup.jsonl", ("dup.jsonl:2", "duplicate"), None),
    ("replay-noanswers", "simulate --replay {T}/noanswers.jsonl", ("noanswers.jsonl:1", "no recorded answers"), None),
    ("replay-not-replay", "simulate --replay {T}/notreplay.jsonl", ("notreplay.jsonl:1", "not a replay record"), None),
    ("replay-badjson", "simulate --replay {T}/badjson.jsonl", ("badjson.jsonl:1",), None),
    ("replay-empty", "simulate --replay {T}/empty.jsonl", ("empty.jsonl", "no problems"), None),
    ("replay-missing", "simulate --replay {T}/none.jsonl", ("none.jsonl", "not found"), None),
    ("replay-folder", "simulate --replay {T}", ("is a folder",), None),
    ("ens-replay-latin1", "ensemble --replay {R1} --replay {T}/latin1.jsonl --db {D}", ("latin1.jsonl:2",), None),
    (
        "ens-replay-nogold",
        "ensemble --replay {T}/nogold.jsonl --replay {R1} --db {D}",
        ("nogold.jsonl", "no problem has a gold_answer"),
        None,
    ),
    ("ens-one-replay", "ensemble --replay {R1} --db {D}", ("--replay", "at least two"), None),
    ("ens-replay-and-dataset", f"{E} --dataset {{A}}", ("not both or neither",), None),
    ("ens-same-name", "ensemble --replay {R1} --replay {R1} --db {D}", ("--replay", "same model name"), None),
    ("data-latin1", "sample --dataset {T}/latin1-data.jsonl --db {D}", ("latin1-data.jsonl:2", "not UTF-8"), None),
    ("data-badjson", "sample --dataset {T}/badjson.jsonl --db {D}", ("badjson.jsonl:1", "not valid JSON"), None),
    ("data-empty", "sample --dataset {T}/empty.jsonl --db {D}", ("empty.jsonl", "no problems"), None),
    ("data-list", "sample --dataset {T}/list.jsonl --db {D}", ("list.jsonl:1", "expected an object"), None),
    ("data-noid", "sample --dataset {T}/noid.jsonl --db {D}", ("noid.jsonl:1", "missing id"), None),
    ("data-emptyq", "sample --dataset {T}/emptyq.jsonl --db {D}", ("emptyq.jsonl:1", "empty question"), None),
    ("data-numq", "sample --dataset {T}/numq.jsonl --db {D}", ("numq.jsonl:1", "missing question"), None),
    (
        "data-csv-noquestion",
        "sample --dataset {T}/noquestion.csv --db {D}",
        ("noquestion.csv:2", "missing question"),
        None,
    ),
    (
        "data-bom-csv-noquestion",
        "sample --dataset {T}/bom-noquestion.csv --db {D}",
        ("bom-noquestion.csv:2", "missing question"),
        None,
    ),
    ("data-folder", "sample --dataset {T} --db {D}", ("--dataset", "is a folder"), None),
    ("vote-data-latin1", "vote --dataset {T}/latin1-data.jsonl --db {D}", ("latin1-data.jsonl:2",), None),
    ("fuse-data-latin1", "fuse --dataset {T}/latin1-data.jsonl --db {D}", ("latin1-data.jsonl:2",), None),
    (
        "distill-prompts-latin1",
        "distill --prompts {T}/latin1-data.jsonl --teacher smollm2 --teacher gemma3 --out {T}/out --db {D}",
        ("latin1-data.jsonl:2",),
        None,
    ),
    ("distill-one-teacher", "distill --prompts {A} --teacher smollm2 --out {T}/out --db {D}", ("--teacher",), None),
    (
        "distill-same-teacher",
        "distill --prompts {A} --teacher smollm2 --teacher smollm2 --out {T}/out --db {D}",
        ("--teacher", "each teacher once"),
        None,
    ),
    ("distill-scorer-and-reward", f"{DI} --scorer smollm2 --reward gemma3", ("--scorer and --reward",), None),
    ("vote-ensemble-and-model", f"{V} --ensemble e --model smollm2", ("--ensemble and --model",), None),
    ("vote-batch-and-schedule", f"{V} --batch 2 --batch-schedule 1,2", ("--batch and --batch-schedule",), None),
    ("vote-fixed-fraction", f"{V} --rule fixed --threshold 2.5", ("--threshold 2.5", "whole number"), None),
    ("vote-esc-fraction", f"{V} --rule esc --threshold 1.5", ("--threshold 1.5", "whole number"), None),
    ("vote-beta-1", f"{V} --rule beta --threshold 1", ("--threshold 1", "probability"), None),
    ("sim-beta-thresholds", f"{SIM} --rule beta --thresholds 0.9,5", ("--thresholds 5", "probability"), None),
    ("sim-fixed-rule-fraction", f"{SIM} --rule fixed --thresholds 2.5", ("--thresholds 2.5", "whole number"), None),
    ("serve-local-port-0", "serve-local --port 0", ("--port",), None),
    ("serve-local-port-high", "serve-local --port 65536", ("--port",), None),
    ("serve-local-n-ctx", "serve-local --n-ctx 0", ("--n-ctx",), None),
    ("serve-local-unknown-model", "serve-local --model nope", ("model file nope", "not found"), None),
    ("server-port", "server --port -1", ("--port",), None),
    (
        "models-bad-registry",
        "models --no-check --config {CFG}",
        ("models.x.max_concurrency",),
        OK_MODEL + "max_concurrency = 0\n",
    ),
    ("models-missing-config", "models --no-check --config {T}/none.toml", ("--config", "not found"), None),
    ("vote-unknown-ensemble-no-db", f"{V} --ensemble nope", ("--db", "no cache database"), None),
    ("db-upgrade-under-file", "db upgrade --db sqlite:///{F}/c.db", ("--db", "cannot create"), None),
    ("db-not-a-url", "sample --dataset {A} --db nonsense", ("--db nonsense", "not a usable database URL"), None),
    ("db-unknown-driver", "sample --dataset {A} --db nosuchdb://x/y", ("--db nosuchdb://x/y",), None),
    ("cache-stats-not-a-url", "cache stats --db nonsense", ("--db nonsense",), None),
    ("cache-stats-missing-file", "cache stats --db sqlite:///{T}/none.db", ("--db", "no cache database"), None),
    ("usage-unknown-option", f"{S} --bogus 1", ("--bogus",), None),
    ("usage-missing-dataset", "sample", ("--dataset",), None),
    ("usage-unknown-command", "bogus", ("bogus",), None),
]


def make_bad_files(folder: Path) -> None:
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    other = folder / "analysis_math500_Other.jsonl"
    other.write_text(json.dumps({"problem_num": 1, "gold_answer": "1", "all_answers": [["1", 5]]}) + "\n")

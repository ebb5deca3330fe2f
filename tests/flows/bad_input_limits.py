"""The bad-input table, generated part: every option of every command at and past its limits (and of the
wrong type), and every registry key with a wrong type or value. Placeholders as in bad_input_cases."""

from __future__ import annotations

from tests.flows.bad_input_cases import DI, FU, REG, SIM, SIM2, E, S, V, flag_cases

# Every option of every command at and past its limits (and of the wrong type).
LIMITS = [
    (S, "-n", ["0", "-1", "100001", "abc", "1.5"]),
    (S, "--max-tokens", ["0", "-5", "1000001", "x"]),
    (S, "--temperature", ["-0.1", "5.1", "nan", "inf", "x"]),
    (S, "--top-p", ["0", "1.1", "nan", "-1"]),
    (S, "--limit", ["0", "-1"]),
    (S, "--chunk-size", ["-3", "10001", "x"]),
    (V, "--threshold", ["0", "inf", "x"]),
    (V, "--max-samples", ["0", "100001", "-1"]),
    (V, "--alpha", ["0", "-1", "inf"]),
    (V, "--batch", ["0", "-2", "100001"]),
    (V, "--batch-schedule", ["0,1", "a,b", "1,-1"]),
    (V, "--rule", ["bogus", "BAYES"]),
    (V, "--compat", ["bogus"]),
    (V, "--chunk-size", ["0"]),
    (V, "--limit", ["0"]),
    (V, "--max-tokens", ["0"]),
    (V, "--temperature", ["6", "nan"]),
    (V, "--model", ["smollm2=-1", "=1", "smollm2=x", "smollm2=0", "nope"]),
    (SIM, "--trials", ["-1", "100001", "x"]),
    (SIM, "--max-samples", ["-1", "100001"]),
    (SIM, "--thresholds", ["a", "nan", "inf", "1,,2"]),
    (SIM, "--fixed", ["0", "''", "101", "-3", "x"]),
    (SIM, "--alpha", ["0", "nan"]),
    (SIM, "--seed", ["-1"]),
    (SIM, "--json", ["{T}", "{F}/x.json"]),
    (SIM, "--plot", ["/nodir/x.png", "{T}"]),
    (SIM2, "--weights", ["1", "-1,1", "0,0", "inf,1", "1,2,3", "a,b"]),
    (E, "--train-frac", ["1", "-0.1", "nan", "inf"]),
    (E, "--folds", ["0", "-1", "1001"]),
    (E, "--time-limit", ["0", "nan", "inf", "86401"]),
    (E, "--token-budget", ["0", "nan"]),
    (E, "--trials", ["100001"]),
    (E, "--keys", ["bogus"]),
    (E, "--ties", ["bogus"]),
    (E, "--solver", ["gurobi"]),
    (E, "--lower", ["2,0", "nan,0", "0.5", "x"]),
    (E, "--upper", ["-1,1", "0.1,0.1"]),
    (E, "--name", ["''"]),
    (E, "--seed", ["-1"]),
    (FU, "-n", ["1", "0", "65"]),
    (FU, "--fusor-max-tokens", ["-1", "1000001"]),
    (FU, "--judge-max-tokens", ["0"]),
    (FU, "--fusor-context", ["0", "100"]),
    (FU, "--answer-kind", ["bogus"]),
    (FU, "--max-tokens", ["0"]),
    (FU, "--temperature", ["-1"]),
    (FU, "--chunk-size", ["0"]),
    (FU, "--limit", ["0"]),
    (FU, "--select", ["bogus", "judge"]),
    (FU, "--fusor", ["nope"]),
    (DI, "--temperature", ["-1", "nan"]),
    (DI, "--max-tokens", ["0"]),
    (DI, "--fusor-max-tokens", ["0"]),
    (DI, "--fusor-context", ["0"]),
    (DI, "--chunk-size", ["0"]),
    (DI, "--limit", ["0"]),
    (DI, "--fusor", ["nope"]),
]
LIMIT_CASES: list[tuple] = [case for base, flag, values in LIMITS for case in flag_cases(base, flag, values)]

# Every registry key with a wrong type or value: `chorus.toml: models.x.KEY: ...`.
REGISTRY = [
    ("backend", ["5", '"vllm"']),
    ("model", ["5"]),
    ("endpoints", ['["ftp://x"]', "[5]", "true"]),
    ("chat", ['"yes"', "1"]),
    ("system", ["1"]),
    ("prompt_template", ["5"]),
    ("api_key_env", ['"sk-abc def"', "5"]),
    ("supports_n", ['"no"']),
    ("max_concurrency", ["1.5", "100001"]),
    (
        "sampling",
        [
            "5",
            '{ temperature = "hot" }',
            "{ temperature = 9.0 }",
            "{ max_tokens = 0 }",
            "{ top_p = 0.0 }",
            '{ stop = "x" }',
            "{ colour = 1 }",
        ],
    ),
    ("path", ["5", '""']),
    ("n_ctx", ['"big"', "0", "100"]),
    ("timeout_s", ["0", "-1", "nan", "inf"]),
    ("global_limit", ["5", '""']),
    ("fingerprint", ["5"]),
    ("colour", ['"red"']),
]
REGISTRY_BASE = {"backend": '"openai"', "endpoints": '["http://127.0.0.1:9"]', "model": '"m"'}
for key, values in REGISTRY:
    for value in values:
        toml = "[models.x]\n" + "".join(f"{k} = {v}\n" for k, v in {**REGISTRY_BASE, key: value}.items())
        LIMIT_CASES.append((f"registry-{key}={value}", REG, (f"chorus.toml: models.x.{key}",), toml))

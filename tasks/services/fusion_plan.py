"""Resolve every model of a fuse/distill run and validate every choice before anything is generated."""

from __future__ import annotations

from storage.errors import ChorusError
from tasks.algorithms.answers import AnswerKind
from tasks.backends.factory import model_fingerprint
from tasks.backends.registry import load_registry, resolve
from tasks.services.fusing import REWARD_PARAMS, SELECT_MODES, FusionPlan
from tasks.services.sampling import SamplingJob


def build_fusion_plan(
    samplers: list[str],
    n: int,
    fusor: str,
    *,
    config: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    fusor_max_tokens: int | None = None,
    fusor_context: int | None = None,
    judge: str | None = None,
    judge_max_tokens: int | None = None,
    reward: str | None = None,
    select: str | None = None,
    kind: AnswerKind = "math",
    compare_with_judge: bool = False,
    chars_per_token: float = 3.0,
) -> FusionPlan:
    """Resolve every model and validate every choice before anything is generated."""
    registry = load_registry(config)

    def job(name: str, flag: str = "--model", **overrides: object) -> SamplingJob:
        spec = resolve(registry, name, flag)
        return SamplingJob(spec, model_fingerprint(spec), spec.sampling_params(**overrides))

    if judge and reward and select is None:
        select = "reward"
    mode = select or ("reward" if reward else "judge" if judge else "majority")
    if mode not in SELECT_MODES:
        raise ChorusError(f"--select {mode}: choose {', '.join(SELECT_MODES)}")
    if mode == "judge" and not judge:
        raise ChorusError("--select judge needs --judge NAME (an LLM that grades each candidate 1-10)")
    if mode == "reward" and not reward:
        raise ChorusError("--select reward needs --reward NAME (a reward model served by SGLang)")
    if compare_with_judge and not judge:
        raise ChorusError("comparing fusion with Best-of-N needs --judge NAME")
    reward_job = None
    if reward:
        spec = resolve(registry, reward, "--reward")
        if spec.backend != "sglang":
            raise ChorusError(f'--reward {reward}: reward models are served by SGLang (backend = "sglang")')
        if not spec.prompt_template or "{answer}" not in spec.prompt_template:
            raise ChorusError(
                f"--reward {reward}: set prompt_template to the reward model's chat template with {{question}} "
                "and {answer} (SGLang's /classify scores the text as given)"
            )
        reward_job = SamplingJob(spec, model_fingerprint(spec), REWARD_PARAMS)
    fusor_job = job(fusor, "--fusor", max_tokens=fusor_max_tokens)
    context = fusor_context or fusor_job.spec.n_ctx
    if context < 1:
        raise ChorusError(f"--fusor-context {context}: must be a positive number of tokens")
    return FusionPlan(
        samplers=tuple(job(s, max_tokens=max_tokens, temperature=temperature, top_p=top_p) for s in samplers),
        n=n,
        fusor=fusor_job,
        context_tokens=context,
        chars_per_token=chars_per_token,
        select=mode,
        judge=job(judge, "--judge", max_tokens=judge_max_tokens) if judge else None,
        reward=reward_job,
        kind=kind,
        compare=compare_with_judge,
    )

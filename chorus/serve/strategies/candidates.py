"""N candidates of one model for Fusion-of-N and Best-of-N: cache indices 0..N-1 of the request's job."""

from __future__ import annotations

from chorus.serve.context import Ask, ServeContext
from chorus.serve.errors import bad_request
from storage.cache import Generation
from tasks.services.sampling import SampleStats


def parse_options(rest: list[str], allowed: tuple[str, ...], model_name: str) -> dict[str, str]:
    """`+key=value` suffixes of a model name, e.g. `fusion-5/smollm2+fusor=gemma3`."""
    options: dict[str, str] = {}
    for part in rest:
        key, sep, value = part.partition("=")
        if not sep or key not in allowed or not value or key in options:
            raise bad_request(
                f"model {model_name!r}: unknown option {part!r} (allowed: "
                f"{', '.join(k + '=MODEL' for k in allowed)}, each once)",
                code="model_not_found",
            )
        options[key] = value
    return options


async def draw_candidates(ctx: ServeContext, model: str, n: int, ask: Ask) -> tuple[list[Generation], SampleStats]:
    job = ctx.job(model, ask)
    gens, stats = await ctx.batcher.draw(job, ask.problem, 0, n, ctx.backend(model))
    if not gens:
        raise bad_request("no candidates were drawn")
    return gens, stats

"""Outcomes of the `fuse` and `distill` flows: per-problem rows, summaries, and the distilled files.

Pure apart from ``write_atomically``: no prefect, sqlalchemy or httpx.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from storage.errors import ChorusError
from tasks.algorithms.judging import win_rate
from tasks.services.fusing import PAIRS, Fused, FusionPlan, Tally, correctness
from tasks.services.sampling import SampleStats

SYSTEMS = ("fusion", "best_of_n", "single")


class State(Protocol):
    """The fields of a chunk's state that reporting reads (``tasks.services.fusion_pipeline.ChunkState``)."""

    problems: list[Any]
    candidates: dict[str, list[str]]
    sources: dict[str, list[str]]
    failed: dict[str, str]
    fused: dict[str, Fused]
    scores: dict[str, list[float | None]]
    picks: dict[str, int | None]
    compared: dict[str, dict[str, str | None]]
    tally: Tally


def system_answers(state: State, pid: str) -> dict[str, str | None]:
    """The three systems' answers to one problem: fusion, Best-of-N pick, single sample (sample 0)."""
    cands = state.candidates.get(pid) or []
    fused = state.fused.get(pid)
    pick = state.picks.get(pid)
    return {
        "fusion": fused.text if fused is not None else None,
        "best_of_n": cands[pick] if pick is not None else None,
        "single": cands[0] if cands else None,
    }


def fuse_rows(plan: FusionPlan, states: Sequence[State]) -> list[dict[str, Any]]:
    """One row per problem: answers' keys and correctness, truncation, scores, pick, comparisons."""
    rows = []
    for state in states:
        for p in state.problems:
            fused = state.fused.get(p.id)
            row: dict[str, Any] = {"id": p.id, "gold": p.answer, "skipped": state.failed.get(p.id)}
            for system, text in system_answers(state, p.id).items():
                row[f"{system}_answer"], row[f"{system}_correct"] = correctness(text, p.answer, plan.kind)
            cands = state.candidates.get(p.id) or []
            row["oracle_correct"] = (
                None if p.answer is None else any(correctness(c, p.answer, plan.kind)[1] for c in cands)
            )
            row["fusion_error"] = fused.error if fused else None
            row["fusion_finish"] = fused.finish_reason if fused else None
            row["truncated_chars"] = sum(fused.truncated) if fused else 0
            row["scores"] = state.scores.get(p.id)
            row["pick"] = state.picks.get(p.id)
            row.update(state.compared.get(p.id, {}))
            rows.append(row)
    return rows


def merge_tally(states: Sequence[State]) -> dict[str, dict[str, int]]:
    merged: dict[str, SampleStats] = {}
    for state in states:
        for role, stats in state.tally.roles.items():
            merged.setdefault(role, SampleStats()).add(stats)
    return {role: asdict(stats) for role, stats in merged.items()}


def summarise_fuse(plan: FusionPlan, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy of each system over the problems with gold (a missing answer counts as wrong), the
    judge's win rates of fusion against each baseline, and what went missing on the way."""
    gold = [r for r in rows if r["gold"] is not None]
    summary: dict[str, Any] = {
        "problems": len(rows),
        "skipped": sum(r["skipped"] is not None for r in rows),
        "n": plan.n,
        "select": plan.select,
        "with_gold": len(gold),
    }
    for system in (*SYSTEMS, "oracle"):
        if gold:
            summary[f"{system}_accuracy"] = round(sum(bool(r[f"{system}_correct"]) for r in gold) / len(gold), 4)
    summary["fusion_failed"] = sum(r["fusion_error"] is not None for r in rows if r["skipped"] is None)
    summary["fusion_truncated_output"] = sum(r["fusion_finish"] == "length" for r in rows)
    summary["prompts_with_truncated_candidates"] = sum(r["truncated_chars"] > 0 for r in rows)
    live = [r for r in rows if r["skipped"] is None]
    summary["missing_scores"] = sum(s is None for r in live for s in (r["scores"] or []))
    summary["no_pick"] = sum(r["pick"] is None for r in live)
    if plan.compare:
        for x, y in PAIRS:
            wr = win_rate([r.get(f"{x}_vs_{y}") for r in live])
            summary[f"{x}_vs_{y}"] = {
                "win_rate": round(wr.rate, 4),
                "ci95": [round(wr.ci_low, 4), round(wr.ci_high, 4)],
                "wins": wr.wins,
                "ties": wr.ties,
                "losses": wr.losses,
                "missing": wr.missing,
            }
    return summary


def failure(plan: FusionPlan, rows: Sequence[Mapping[str, Any]]) -> str | None:
    """The one-line reason when nothing at all could be produced, else None."""
    live = [r for r in rows if r["skipped"] is None]
    if not live:
        first = rows[0]["skipped"] if rows else "no prompts"
        return f"no prompt had all its candidates ({len(rows)} skipped; first: {first})"
    if all(r["fusion_error"] is not None for r in live):
        return f"no fused answer was produced ({live[0]['fusion_error']})"
    if plan.select != "majority" and all(r["pick"] is None for r in live):
        scorer = plan.judge if plan.select == "judge" else plan.reward
        name = scorer.spec.name if scorer else "?"
        asked = sum(len(r["scores"] or []) for r in live)
        return (
            f"{plan.select} {name} returned no usable score for any of {asked} candidates "
            "(each judge prompt asked twice); Best-of-N could not be produced"
        )
    return None


def markdown(title: str, summary: Mapping[str, Any]) -> str:
    lines = [f"# {title}", "", "| metric | value |", "| --- | --- |"]
    lines += [f"| {k} | {json.dumps(v) if isinstance(v, dict | list) else v} |" for k, v in summary.items()]
    return "\n".join(lines)


def chat_record(question: str, answer: str) -> str:
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return json.dumps({"messages": messages}, ensure_ascii=False)


def distill_outputs(plan: FusionPlan, states: Sequence[State]) -> tuple[dict[str, str], dict[str, Any]]:
    """File name → content (fusion.jsonl, best_of_n.jsonl, provenance.json) and a summary.

    A prompt goes into a method's file only when that method produced a non-empty answer; every
    prompt left out is listed, with the reason, in the provenance and the summary.
    """
    fusion, best, records, skipped = [], [], [], []
    for state in states:
        for p in state.problems:
            if p.id in state.failed:
                skipped.append({"id": p.id, "reason": state.failed[p.id]})
                continue
            fused = state.fused[p.id]
            answers = system_answers(state, p.id)
            pick = state.picks.get(p.id)
            records.append(
                {
                    "id": p.id,
                    "teachers": state.sources[p.id],
                    "candidates": state.candidates[p.id],
                    "fusion_truncated_chars": fused.truncated,
                    "fusion_finish": fused.finish_reason,
                    "fusion_error": fused.error,
                    "scores": state.scores.get(p.id),
                    "best_of_n_teacher": state.sources[p.id][pick] if pick is not None else None,
                }
            )
            for method, out in (("fusion", fusion), ("best_of_n", best)):
                text = answers[method]
                if text is not None and text.strip():
                    out.append(chat_record(p.question, text))
                else:
                    why = fused.error if method == "fusion" and fused.error else _why_missing(method, state, p.id)
                    skipped.append({"id": p.id, "method": method, "reason": why})
    # Exit non-zero only when nothing at all came out. A method that produced nothing (a judge that
    # never scores) still gets its file, empty, so no stale file of an earlier run survives; and a warning.
    total = sum(len(s.problems) for s in states)
    warnings = []
    for method, rows in (("fusion", fusion), ("best_of_n", best)):
        if not rows:
            reasons = [s["reason"] for s in skipped if s.get("method", method) == method]
            first = reasons[0] if reasons else "no prompts"
            warnings.append(f"no {method} answer for any of {total} prompts (first reason: {first})")
    if len(warnings) == 2:
        raise ChorusError(f"distill produced nothing: {warnings[0]}; {warnings[1]}")
    scorer = plan.judge if plan.select == "judge" else plan.reward
    provenance = {
        "teachers": [
            {"name": j.spec.name, "fingerprint": j.model_fp, "params": j.params.as_key()} for j in plan.samplers
        ],
        "fusor": {
            "name": plan.fusor.spec.name,
            "fingerprint": plan.fusor.model_fp,
            "params": plan.fusor.params.as_key(),
        },
        "fusor_context_tokens": plan.context_tokens,
        "select": plan.select,
        "scorer": None if scorer is None else {"name": scorer.spec.name, "fingerprint": scorer.model_fp},
        "prompts": records,
        "skipped": skipped,
    }
    files = {
        "fusion.jsonl": "".join(line + "\n" for line in fusion),
        "best_of_n.jsonl": "".join(line + "\n" for line in best),
        "provenance.json": json.dumps(provenance, indent=1, ensure_ascii=False) + "\n",
    }
    summary = {
        "prompts": total,
        "fusion_rows": len(fusion),
        "best_of_n_rows": len(best),
        "skipped_prompts": sum(1 for s in skipped if "method" not in s),
        "prompts_with_truncated_candidates": sum(any(r["fusion_truncated_chars"]) for r in records),
        "missing_scores": sum(s is None for r in records for s in (r["scores"] or [])),
        "warnings": warnings,
    }
    return files, summary


def _why_missing(method: str, state: State, pid: str) -> str:
    if method == "best_of_n" and state.picks.get(pid) is None:
        return "the scorer gave no usable score to any candidate"
    return "empty answer"


def write_atomically(out_dir: str | Path, files: Mapping[str, str]) -> list[str]:
    """Write every file to a temp file in `out_dir`, then rename each over its target: a reader sees the
    old file or the new one, never a half-written one. Returns the paths written."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ChorusError(f"--out {out}: cannot create ({exc.strerror})") from None
    staged: list[tuple[str, Path]] = []
    try:
        for name, text in files.items():
            fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            staged.append((name, Path(tmp)))
        for name, tmp in staged:
            os.replace(tmp, out / name)
    except OSError as exc:
        for _, tmp in staged:
            tmp.unlink(missing_ok=True)
        raise ChorusError(f"--out {out}: cannot write ({exc.strerror})") from None
    return [str(out / name) for name in files]

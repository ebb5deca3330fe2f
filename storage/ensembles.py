"""Saved ensemble weights: written once per `chorus ensemble` run, read by `chorus vote --ensemble`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from storage.errors import ChorusError
from storage.models import EnsembleRow


@dataclass(frozen=True)
class SavedEnsemble:
    name: str
    models: list[str]
    weights: list[float]
    provenance: dict[str, Any]
    created_at: datetime


def save_ensemble(
    engine: Engine, name: str, models: list[str], weights: list[float], provenance: dict[str, Any]
) -> None:
    if len(models) != len(weights):
        raise ChorusError(f"ensemble {name}: {len(models)} models but {len(weights)} weights")
    row = {
        "name": name,
        "models": json.dumps(models),
        "weights": json.dumps([float(w) for w in weights]),
        "provenance": json.dumps(provenance, default=str),
        "created_at": datetime.now(UTC),
    }
    with engine.begin() as conn:
        conn.execute(insert(EnsembleRow), [row])


def load_ensemble(engine: Engine, name: str) -> SavedEnsemble:
    """The newest weights saved under `name`."""
    with engine.connect() as conn:
        row = conn.execute(
            select(EnsembleRow).where(EnsembleRow.name == name).order_by(EnsembleRow.id.desc()).limit(1)
        ).first()
        if row is None:
            names = conn.execute(select(EnsembleRow.name).distinct()).scalars().all()
            known = ", ".join(sorted(names)) or "none saved yet"
            raise ChorusError(f"--ensemble {name}: no such ensemble in the cache (known: {known})")
    r = row
    return SavedEnsemble(r.name, json.loads(r.models), json.loads(r.weights), json.loads(r.provenance), r.created_at)


def list_ensembles(engine: Engine) -> list[str]:
    """Names of every saved ensemble, sorted."""
    with engine.connect() as conn:
        return sorted(conn.execute(select(EnsembleRow.name).distinct()).scalars().all())

"""SQLAlchemy 2 models of the generation cache. The schema itself is owned by the Alembic migrations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class ModelRow(Base):
    """A model as the cache knows it: the fingerprint names what generated, not where it was served."""

    __tablename__ = "models"
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    backend: Mapped[str] = mapped_column(String(32))
    model_ref: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PromptRow(Base):
    """A prompt's full text (chat messages or raw completion text as canonical JSON), stored once."""

    __tablename__ = "prompts"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ParamsRow(Base):
    """A set of sampling parameters as canonical JSON."""

    __tablename__ = "sampling_params"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)


class GenerationRow(Base):
    """One sample. Never updated: a key is written once and then only read."""

    __tablename__ = "generations"
    __table_args__ = (
        UniqueConstraint("model_fp", "prompt_hash", "params_hash", "sample_index", name="uq_generation_key"),
    )
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    model_fp: Mapped[str] = mapped_column(String(64))
    prompt_hash: Mapped[str] = mapped_column(String(64))
    params_hash: Mapped[str] = mapped_column(String(64))
    sample_index: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    finish_reason: Mapped[str] = mapped_column(String(32))
    latency_s: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EnsembleRow(Base):
    """Weights learned by `chorus ensemble`; a name may be saved again, and the newest row wins."""

    __tablename__ = "ensembles"
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    models: Mapped[str] = mapped_column(Text)  # JSON list of model names
    weights: Mapped[str] = mapped_column(Text)  # JSON list of floats, same order
    provenance: Mapped[str] = mapped_column(Text)  # JSON: data, split, solver status, accuracy
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

"""Progress and summary artifacts that a person reads in the Prefect UI."""

from __future__ import annotations

from uuid import UUID

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact


class ProgressArtifact:
    """A progress artifact advanced as chunks finish (percent of problems done)."""

    def __init__(self, total: int, description: str) -> None:
        self.total = max(total, 1)
        self.description = description
        self.done = 0
        self.artifact_id: UUID | None = None

    async def start(self) -> ProgressArtifact:
        self.artifact_id = await acreate_progress_artifact(progress=0.0, description=self.description)
        return self

    async def advance(self, problems: int) -> None:
        self.done += problems
        if self.artifact_id is not None:
            await aupdate_progress_artifact(self.artifact_id, progress=100.0 * self.done / self.total)

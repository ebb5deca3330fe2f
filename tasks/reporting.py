"""Progress and summary artifacts that a person reads in the Prefect UI."""

from __future__ import annotations

from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact


class ProgressArtifact:
    """A progress artifact advanced as chunks finish (percent of problems done)."""

    def __init__(self, total: int, description: str) -> None:
        self.total = max(total, 1)
        self.done = 0
        artifact_id = create_progress_artifact(progress=0.0, description=description)
        self.artifact_id: UUID | None = artifact_id if isinstance(artifact_id, UUID) else None

    def advance(self, problems: int) -> None:
        self.done += problems
        if self.artifact_id is not None:
            update_progress_artifact(self.artifact_id, progress=100.0 * self.done / self.total)

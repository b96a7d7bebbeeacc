"""The library: one SQLite database and one content-addressed store under a home folder."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from core.library.batches import BatchRepository, GridRepository
from core.library.database import Database, open_database
from core.library.history import History
from core.library.repositories import (
    AssetRepository,
    FileHashRepository,
    MaskRepository,
    ModelVariantRepository,
    ProjectRepository,
    PromptRepository,
    SeedRepository,
)
from core.library.runs import RunRepository
from core.library.store import ContentStore
from core.library.training_runs import TrainingRunRepository

if TYPE_CHECKING:
    from core.queue.jobs import JobRepository
    from core.queue.service import QueueService

DATABASE_NAME = "library.sqlite"
STORE_NAME = "store"


def default_home() -> Path:
    """`ATELIER_HOME` when set, else the per-user data folder."""
    override = os.environ.get("ATELIER_HOME")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("atelier"))


class Library:
    """The open library of one home folder: database, store, repositories and the queue.

    The repositories own the database's sessions: nothing outside them opens one. Every job
    enters the queue through `queue` (`QueueService.submit`).
    """

    def __init__(self, home: Path, db: Database, store: ContentStore) -> None:
        self.home = home
        self.db = db
        self.store = store
        sessions = db.session_factory
        self.projects = ProjectRepository(sessions)
        self.models = ModelVariantRepository(sessions)
        self.assets = AssetRepository(sessions)
        self.runs = RunRepository(sessions)
        self.file_hashes = FileHashRepository(sessions)
        self.prompts = PromptRepository(sessions)
        self.seeds = SeedRepository(sessions)
        self.masks = MaskRepository(sessions)
        self.training_runs = TrainingRunRepository(sessions)
        self.history = History(sessions)
        self.batches = BatchRepository(sessions)
        self.grids = GridRepository(sessions)
        from core.queue.jobs import JobRepository  # the queue's modules read the library's
        from core.queue.service import QueueService

        self.jobs: JobRepository = JobRepository(sessions)
        self.queue: QueueService = QueueService(self.jobs, self)

    @classmethod
    def open(cls, home: Path) -> Library:
        """Open `home/library.sqlite` (migrating it) and `home/store` (removing crash leftovers)."""
        home = Path(home).expanduser()
        home.mkdir(parents=True, exist_ok=True)
        store = ContentStore(home / STORE_NAME)
        store.clean_temporaries()
        return cls(home, open_database(home / DATABASE_NAME), store)

    def delete_outputs(self, output_ids: list[int]) -> int:
        """Remove outputs from history and their image files from the store (not copies the
        user asked for in an output folder). Returns how many store files were removed."""
        removed = 0
        for relpath in self.runs.delete_outputs(output_ids):
            try:
                (self.store.root / relpath).unlink()
                removed += 1
            except FileNotFoundError:
                pass
        return removed

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["ContentStore", "Database", "Library", "default_home", "open_database"]

"""Models reach cluster workers by fingerprint.

The head sends each job's resolved model (source, path on the head, fingerprint). A worker uses
its own copy when it has one with the same fingerprint: the same demo model, the same hub
snapshot in its own cache, or the same folder or file at the same path (or at the path
`ATELIER_CLUSTER_PATHS` maps it to: `HEAD_PREFIX=WORKER_PREFIX`, several joined with `;`).
Otherwise it receives the model from the head once, through Ray's object store, checks its
fingerprint and keeps it under `ATELIER_CLUSTER_MODELS` (default: the user cache's
`cluster-models`), named by fingerprint. A node started with `ATELIER_CLUSTER_RECEIVE=0` never
takes models from the head; the head then skips it for the models it lacks.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path

from core.errors import ModelError
from core.models.fingerprint import MemoryFingerprintCache, fingerprint_model
from core.models.resolve import ResolvedModel
from core.models.sources import local_path
from core.paths import user_cache_dir

MODELS_ENV = "ATELIER_CLUSTER_MODELS"
PATHS_ENV = "ATELIER_CLUSTER_PATHS"
RECEIVE_ENV = "ATELIER_CLUSTER_RECEIVE"
_COMPLETE = ".complete"  # written last into a received model's folder


def pack_model(model: ResolvedModel) -> bytes:
    """The model's weights and configs (and a single file's config folder) as one tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(str(model.path), arcname="model" + _suffix(model))
        if model.config_path is not None:
            tar.add(str(model.config_path), arcname="config")
    return buffer.getvalue()


class ModelStore:
    """A worker's models: found by fingerprint among its own copies and those it received."""

    def __init__(
        self, root: Path, path_map: list[tuple[str, str]] | None = None, receive: bool = True
    ) -> None:
        self.root = root
        self.path_map = path_map or []
        self.receive_allowed = receive
        self.hashes = MemoryFingerprintCache()
        self._found: dict[str, tuple[Path, Path | None]] = {}  # fingerprint -> path, config

    @classmethod
    def from_env(cls) -> ModelStore:
        root = os.environ.get(MODELS_ENV)
        pairs = [p.split("=", 1) for p in os.environ.get(PATHS_ENV, "").split(";") if "=" in p]
        return cls(
            Path(root) if root else user_cache_dir() / "cluster-models",
            [(a, b) for a, b in pairs],
            receive=os.environ.get(RECEIVE_ENV, "1") != "0",
        )

    def find(self, model: ResolvedModel) -> ResolvedModel | None:
        """`model` as this worker holds it (its path here), or None when it has no copy."""
        if model.fingerprint not in self._found:
            found = self._own_copy(model) or self._received(model.fingerprint)
            if found is None:
                return None
            self._found[model.fingerprint] = found
        path, config = self._found[model.fingerprint]
        return replace(model, path=path, config_path=config)

    def receive(self, model: ResolvedModel, package: bytes) -> ResolvedModel:
        """Unpack a model the head sent, check its fingerprint, keep it; ModelError if refused."""
        if not self.receive_allowed:
            raise ModelError(
                f"{model.name}: this node takes no models from the head ({RECEIVE_ENV}=0)"
            )
        target = self.root / model.fingerprint
        if not (target / _COMPLETE).is_file():
            self.root.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=".receiving-", dir=self.root))
            try:
                with tarfile.open(fileobj=io.BytesIO(package), mode="r") as tar:
                    tar.extractall(work, filter="data")
                got = fingerprint_model(work / ("model" + _suffix(model))).sha256
                if got != model.fingerprint:
                    raise ModelError(
                        f"{model.name}: received weights hash to {got[:12]}, "
                        f"not {model.fingerprint[:12]}; not kept"
                    )
                (work / _COMPLETE).write_text(model.name, encoding="utf-8")
                shutil.rmtree(target, ignore_errors=True)
                os.rename(work, target)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        found = self.find(model)
        assert found is not None
        return found

    # ---- where a copy may be ---------------------------------------------------------------
    def _own_copy(self, model: ResolvedModel) -> tuple[Path, Path | None] | None:
        try:
            if model.source.type in ("demo", "hub"):
                path = local_path(model.source)  # this worker's demo folder or hub cache
            else:
                path = self._mapped(model.path)
            config = self._mapped(model.config_path) if model.config_path else None
            if not path.exists() or (config is not None and not config.is_dir()):
                return None
            if fingerprint_model(path, self.hashes).sha256 != model.fingerprint:
                return None
        except ModelError:
            return None
        return path, config

    def _received(self, fingerprint: str) -> tuple[Path, Path | None] | None:
        folder = self.root / fingerprint
        if not (folder / _COMPLETE).is_file():
            return None
        model = next((p for p in folder.iterdir() if p.name.startswith("model")), None)
        if model is None:
            return None
        config = folder / "config"
        return model, config if config.is_dir() else None

    def _mapped(self, path: Path) -> Path:
        text = str(path)
        for head, worker in self.path_map:
            if text == head or text.startswith(head.rstrip("/") + "/"):
                return Path(worker.rstrip("/") + text[len(head.rstrip("/")) :])
        return path


def _suffix(model: ResolvedModel) -> str:
    """A single weights file keeps its suffix (the loader tells formats by it)."""
    return model.path.suffix if model.source.type == "single_file" else ""

"""Downloading a diffusers model from the Hugging Face hub into the standard hub cache.

Only what a pipeline needs is fetched: `model_index.json`, each component's configs and
tokenizer files, and its `.safetensors` weights (one variant: `--variant fp16` picks the
`*.fp16.safetensors` files where a component has them). Pickled weights (`.bin`, `.ckpt`) are
left out unless allowed, and then only for a component with no safetensors. The safety checker
is never fetched: Atelier loads pipelines without it.

Files land in the cache layout `huggingface_hub` reads (`models--org--name/blobs`, `snapshots`,
`refs`), so `hub_snapshot` and every other hub tool find them. A transfer is written to
`blobs/<etag>.incomplete` and picks up where it stopped: after a dropped connection (retried
here) and after a cancel or a crash (the next download of the same model). LFS files are
checked against the sha256 the hub lists.

The token of a gated or private repository is the standard one (`HF_TOKEN`, or `hf auth
login`), read through `huggingface_hub`; Atelier never stores it. HTTP is the standard
library's, so `HF_ENDPOINT` can point at any server that speaks the hub's API.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from core.errors import ModelError
from core.models.http_transfer import (
    DownloadProgress,
    ProgressMeter,
    fetch_json,
    transfer,
)

ProgressCallback = Callable[[DownloadProgress], None]

# The files of a component a pipeline reads, besides its weights.
_COMPONENT_FILES = re.compile(
    r"^(?:[\w.-]+\.json|merges\.txt|vocab\.txt|[\w.-]+\.model|[\w.-]+\.tiktoken)$"
)
_NEVER = ("safety_checker",)  # loaded as None by the engine: 1.2 GB saved on SD 1.x
_SAFE = ".safetensors"
_PICKLED = (".bin", ".ckpt", ".pt", ".pth")
_VARIANT = re.compile(r"^(?P<stem>[\w-]+?)\.(?P<variant>\w+)(?P<shard>-\d+-of-\d+)?\.safetensors$")


@dataclass(frozen=True)
class RemoteFile:
    path: str  # in the repository, with '/'
    size: int
    blob: str  # the cache's blob name: the LFS sha256, else the git blob id
    sha256: str | None  # LFS files only


@dataclass(frozen=True)
class DownloadPlan:
    repo_id: str
    revision: str  # as asked; "main" when none was
    commit: str
    files: tuple[RemoteFile, ...]
    skipped: tuple[str, ...]  # repository files left out

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def endpoint() -> str:
    """The hub's address: `HF_ENDPOINT`, read at each call, else huggingface.co."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def token() -> str | None:
    """The user's hub token from the standard places (`HF_TOKEN`, `hf auth login`)."""
    from huggingface_hub import get_token

    found = get_token()
    return str(found) if found else None


def repo_cache_dir(repo_id: str) -> Path:
    from core.models.sources import hf_cache_dir

    return hf_cache_dir() / f"models--{repo_id.replace('/', '--')}"


def plan_download(
    repo_id: str,
    revision: str | None = None,
    *,
    variant: str | None = None,
    allow_pickle: bool = False,
) -> DownloadPlan:
    """Ask the hub for the repository's files at `revision` and choose the ones to fetch."""
    rev = revision or "main"
    base = endpoint()
    info = fetch_json(
        f"{base}/api/models/{repo_id}/revision/{quote(rev, safe='')}?blobs=true",
        what=_ref(repo_id, revision),
        token=token(),
    )
    commit = info.get("sha")
    siblings = info.get("siblings")
    if not isinstance(commit, str) or not isinstance(siblings, list):
        raise ModelError(f"{base}: the hub's answer for {repo_id} has no commit or file list")
    remote = {s["rfilename"]: _remote_file(s) for s in siblings if isinstance(s, dict)}
    if "model_index.json" not in remote:
        raise ModelError(
            f"{_ref(repo_id, revision)}: no model_index.json, so not a diffusers pipeline "
            "repository; for one checkpoint file, download it by its URL "
            f"({base}/{repo_id}/resolve/{rev}/FILE.safetensors)"
        )
    index = fetch_json(
        _file_url(repo_id, commit, "model_index.json"),
        what=f"{repo_id}/model_index.json",
        token=token(),
    )
    components = {
        key for key, value in index.items() if isinstance(value, list) and value[0] is not None
    }
    chosen = _choose(remote, components - set(_NEVER), variant, allow_pickle)
    if variant and not any(_variant_of(PurePosixPath(p).name) == variant for p in chosen):
        raise ModelError(f"{_ref(repo_id, revision)}: no {variant} weights (--variant {variant})")
    files = tuple(remote[p] for p in sorted(chosen))
    skipped = tuple(sorted(set(remote) - chosen))
    return DownloadPlan(repo_id, rev, commit, files, skipped)


def download(
    plan: DownloadPlan,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Fetch the plan's files into the hub cache (resuming partial ones); the snapshot folder.
    A set `cancel` stops it with `Cancelled`, keeping what arrived for the next try."""
    repo = repo_cache_dir(plan.repo_id)
    snapshot = repo / "snapshots" / plan.commit
    meter = ProgressMeter(plan.total_bytes, on_progress)
    for remote in plan.files:
        blob = repo / "blobs" / remote.blob
        link = snapshot / remote.path
        if not blob.is_file():
            blob.parent.mkdir(parents=True, exist_ok=True)
            transfer(
                _file_url(plan.repo_id, plan.commit, remote.path),
                blob,
                partial=blob.with_name(blob.name + ".incomplete"),
                size=remote.size,
                sha256=remote.sha256,
                token=token(),
                meter=meter.file(remote.path),
                cancel=cancel,
            )
        else:
            meter.skip(remote.size)
        _link(blob, link)
    if plan.revision != plan.commit:
        ref = repo / "refs" / plan.revision
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(plan.commit)
    return snapshot


# ---- choosing files ------------------------------------------------------------------------
def _choose(
    remote: dict[str, RemoteFile], components: set[str], variant: str | None, allow_pickle: bool
) -> set[str]:
    chosen = {"model_index.json"}
    by_component: dict[str, list[str]] = {}
    for path in remote:
        parts = PurePosixPath(path).parts
        if len(parts) == 2 and parts[0] in components:
            by_component.setdefault(parts[0], []).append(parts[1])
    for component, names in by_component.items():
        chosen.update(f"{component}/{n}" for n in names if _is_component_file(n, variant))
        weights = _weights(names, variant)
        if not weights and allow_pickle:
            weights = [n for n in names if n.endswith(_PICKLED)]
        chosen.update(f"{component}/{n}" for n in weights)
    return chosen


def _is_component_file(name: str, variant: str | None) -> bool:
    if not _COMPONENT_FILES.match(name):
        return False
    if name.endswith(".index.json") or ".safetensors.index." in name:  # a sharded weights index
        tagged = re.search(r"\.index\.(\w+)\.json$", name)
        return (tagged.group(1) if tagged else None) == variant
    return True


def _weights(names: list[str], variant: str | None) -> list[str]:
    safe = [n for n in names if n.endswith(_SAFE)]
    if variant:
        tagged = [n for n in safe if _variant_of(n) == variant]
        if tagged:
            return tagged
    return [n for n in safe if _variant_of(n) is None]


def _variant_of(name: str) -> str | None:
    match = _VARIANT.match(name)
    return match["variant"] if match else None


def _remote_file(sibling: dict[str, object]) -> RemoteFile:
    path = str(sibling["rfilename"])
    lfs = sibling.get("lfs")
    if isinstance(lfs, dict) and isinstance(lfs.get("sha256"), str):
        sha = str(lfs["sha256"])
        return RemoteFile(path, int(str(lfs.get("size") or sibling.get("size") or 0)), sha, sha)
    blob = sibling.get("blobId")
    if not isinstance(blob, str):
        raise ModelError(f"{endpoint()}: the hub's file list has no blob id for {path}")
    return RemoteFile(path, int(str(sibling.get("size") or 0)), blob, None)


# ---- cache layout --------------------------------------------------------------------------
def _file_url(repo_id: str, commit: str, path: str) -> str:
    return f"{endpoint()}/{repo_id}/resolve/{commit}/{quote(path)}"


def _link(blob: Path, link: Path) -> None:
    """The snapshot entry pointing at its blob (a relative symlink, as the hub's own cache;
    a copy where symlinks are not allowed)."""
    if link.is_file():
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(os.path.relpath(blob, link.parent), link)
    except OSError:
        import shutil

        shutil.copyfile(blob, link)


def _ref(repo_id: str, revision: str | None) -> str:
    return f"{repo_id}@{revision}" if revision else repo_id


def download_file(
    url: str,
    folder: Path,
    *,
    sha256: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """One `.safetensors` file from a URL into `folder` (resumed like the hub's files); the
    hub's token goes only to the hub's own host. With `sha256`, the bytes are checked."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    name = unquote(PurePosixPath(parts.path).name)
    if parts.scheme not in ("http", "https") or not name:
        raise ModelError(f"{url}: not an http(s) URL of a file")
    if not name.endswith(_SAFE):
        raise ModelError(
            f"{url}: only .safetensors files are downloaded by URL (pickled .ckpt/.bin weights "
            "can run code); convert it, or download it yourself and add it with --allow-pickle"
        )
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ModelError(f"--sha256: expected 64 hex digits, got {sha256!r}")
    dest = folder / name
    if dest.is_file():
        raise ModelError(f"{dest}: already exists; remove it or add it with `atelier models add`")
    folder.mkdir(parents=True, exist_ok=True)
    hub_host = urlsplit(endpoint()).netloc
    transfer(
        url,
        dest,
        partial=dest.with_name(dest.name + ".incomplete"),
        size=None,
        sha256=sha256.lower() if sha256 else None,
        token=token() if parts.netloc == hub_host else None,
        meter=ProgressMeter(0, on_progress).file(name),
        cancel=cancel,
    )
    return dest

"""Test helper: a local HTTP server speaking enough of the Hugging Face hub's API for a download.

`GET /api/models/ORG/NAME/revision/REV?blobs=true` answers the file list (with sizes, blob ids
and LFS sha256s) and `GET /ORG/NAME/resolve/REV/PATH` the bytes, honouring `Range`. A missing
repository is a 404, a gated one's files without the right token a 401, each with the hub's
`X-Error-Code`. A path in `drop_once` is cut off halfway through its first transfer, as a
dropped connection would. Every request is logged as (method, path, Range header).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

GOOD_TOKEN = "hf_good_token"


@dataclass
class FakeRepo:
    commit: str
    files: dict[str, bytes]
    gated: bool = False


@dataclass
class FakeHub:
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    drop_once: set[str] = field(default_factory=set)
    log: list[tuple[str, str, str | None]] = field(default_factory=list)
    url: str = ""

    def served(self, suffix: str) -> list[tuple[str, str, str | None]]:
        return [entry for entry in self.log if entry[1].endswith(suffix)]


def sibling(path: str, data: bytes) -> dict[str, Any]:
    entry: dict[str, Any] = {"rfilename": path, "size": len(data)}
    entry["blobId"] = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    if path.endswith((".safetensors", ".bin")):
        entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    return entry


def tiny_sd_repo(resources: Path) -> FakeRepo:
    """The shipped demo-sd folder as a hub repository, with files a pipeline does not need."""
    folder = resources / "models" / "demo-sd"
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }
    index = json.loads(files["model_index.json"])
    index["safety_checker"] = ["stable_diffusion", "StableDiffusionSafetyChecker"]
    files["model_index.json"] = json.dumps(index).encode()
    files["safety_checker/config.json"] = b"{}"
    files["safety_checker/model.safetensors"] = b"\0" * 4096
    files["unet/diffusion_pytorch_model.bin"] = b"pickled" * 100
    files["vae/diffusion_pytorch_model.fp16.safetensors"] = files[
        "vae/diffusion_pytorch_model.safetensors"
    ]
    files["README.md"] = b"# tiny\n"
    files["vae/empty.json"] = b""  # an empty file arrives too
    files["v1-inference.ckpt"] = b"pickled" * 100
    return FakeRepo(commit="c0ffee" + "0" * 34, files=files)


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        self.hub.log.append(("GET", path, self.headers.get("Range")))
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 6 and parts[4] == "revision":
            self._info("/".join(parts[2:4]), "/".join(parts[5:]))
        elif len(parts) >= 5 and parts[2] == "resolve":
            self._file("/".join(parts[:2]), parts[3], "/".join(parts[4:]))
        else:
            self._error(404, "EntryNotFound")

    def _repo(self, repo_id: str, files: bool = True) -> FakeRepo | None:
        """The repository; a gated one's files only with the token (its file list is public,
        as on the hub)."""
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound")
            return None
        if files and repo.gated and self.headers.get("Authorization") != f"Bearer {GOOD_TOKEN}":
            self._error(401, "GatedRepo")
            return None
        return repo

    def _info(self, repo_id: str, revision: str) -> None:
        repo = self._repo(repo_id, files=False)
        if repo is None:
            return
        if revision not in ("main", repo.commit):
            self._error(404, "RevisionNotFound")
            return
        body = {
            "id": repo_id,
            "sha": repo.commit,
            "gated": "auto" if repo.gated else False,
            "siblings": [sibling(p, d) for p, d in sorted(repo.files.items())],
        }
        self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _file(self, repo_id: str, revision: str, path: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return
        if revision not in ("main", repo.commit) or path not in repo.files:
            self._error(404, "EntryNotFound")
            return
        data = repo.files[path]
        start = 0
        asked = self.headers.get("Range")
        if asked:
            start = int(asked.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
        headers = {"Content-Length": str(len(data) - start), "X-Repo-Commit": repo.commit}
        if asked:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        self.send_response(206 if asked else 200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if path in self.hub.drop_once and not asked:
            self.hub.drop_once.discard(path)
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # the connection drops halfway
            return
        self.wfile.write(data[start:])

    def _error(self, code: int, error_code: str) -> None:
        body = json.dumps({"error": error_code}).encode()
        self._send(code, body, {"X-Error-Code": error_code, "Content-Type": "application/json"})

    def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start(hub: FakeHub) -> tuple[ThreadingHTTPServer, threading.Thread]:
    handler = type("Handler", (_Handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread

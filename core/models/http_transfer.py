"""HTTP for model downloads (the standard library's): JSON from the hub's API, and resumable
file transfers with progress, cancel, retries after a dropped connection and a sha256 check.

A failure is a `ModelError` a person can act on: a missing or gated repository, a login
needed, no network, offline mode.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.errors import Cancelled, ModelError

CHUNK = 1 << 20
RETRIES = 5  # dropped connections in a row, per file, before giving up
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DownloadProgress:
    done_bytes: int
    total_bytes: int
    file: str  # the file being transferred
    bytes_per_s: float  # over the last few seconds
    eta_s: float | None  # None until the speed is known

    def describe(self) -> str:
        """'1.2 GB / 2.0 GB (60%) 35.1 MB/s, 0:23 left: unet/diffusion_pytorch_model.safetensors'"""
        total = self.total_bytes
        share = f" ({100 * self.done_bytes // total}%)" if total else ""
        of = f" / {size_text(total)}" if total else ""
        eta = self.eta_s
        left = f", {int(eta) // 60}:{int(eta) % 60:02d} left" if eta is not None else ""
        speed = f"{size_text(self.bytes_per_s)}/s"
        return f"{size_text(self.done_bytes)}{of}{share} {speed}{left}: {self.file}"


def size_text(n: float) -> str:
    """Bytes for people: '812 B', '12.3 MB', '4.1 GB'."""
    for unit in ("B", "KB", "MB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class ProgressMeter:
    """Bytes done over a whole download, with speed and time left, for one callback."""

    def __init__(self, total: int, callback: Callable[[DownloadProgress], None] | None) -> None:
        self.total = total
        self.done = 0
        self.callback = callback
        self.name = ""
        self._window: list[tuple[float, int]] = [(time.monotonic(), 0)]

    def file(self, name: str) -> ProgressMeter:
        self.name = name
        return self

    def skip(self, size: int) -> None:
        """Bytes already in the cache: counted as done, not in the speed."""
        self.done += size
        self._window = [(t, d + size) for t, d in self._window]
        self._report()

    def add(self, size: int) -> None:
        self.done += size
        now = time.monotonic()
        self._window.append((now, self.done))
        while len(self._window) > 2 and now - self._window[0][0] > 5.0:
            self._window.pop(0)
        self._report()

    def _report(self) -> None:
        if self.callback is None:
            return
        (t0, d0), (t1, d1) = self._window[0], self._window[-1]
        speed = (d1 - d0) / (t1 - t0) if t1 > t0 else 0.0
        left = max(self.total - self.done, 0)
        eta = left / speed if speed > 0 else None
        self.callback(DownloadProgress(self.done, self.total, self.name, speed, eta))


def fetch_json(url: str, *, what: str, token: str | None) -> dict[str, Any]:
    with _open(url, what=what, token=token) as response:
        data = json.loads(response.read())
    if not isinstance(data, dict):
        raise ModelError(f"{what}: {url} did not answer a JSON object")
    return data


def transfer(
    url: str,
    dest: Path,
    *,
    partial: Path,
    size: int | None,
    sha256: str | None,
    token: str | None,
    meter: ProgressMeter,
    cancel: threading.Event | None = None,
) -> None:
    """Download `url` to `dest` through `partial`, continuing what `partial` already holds."""
    digest = hashlib.sha256()
    have = 0
    if partial.is_file():
        with partial.open("rb") as f:
            while block := f.read(CHUNK):
                digest.update(block)
                have += len(block)
        meter.skip(have)
    partial.touch()  # an empty file has no bytes to append, but must still arrive
    failures = 0
    while size is None or have < size:
        try:
            received = _get_into(url, partial, have, digest, token, meter, cancel, dest.name)
        except _Restart:  # the server ignored the range, or the partial file is stale
            meter.skip(-have)
            have, digest = 0, hashlib.sha256()
            partial.unlink(missing_ok=True)
            continue
        except _Dropped as exc:
            have = exc.have
            failures = 0 if exc.progressed else failures + 1
            if failures >= RETRIES:
                raise ModelError(
                    f"{dest.name}: the connection kept dropping ({exc}); {have} bytes are kept, "
                    "run the download again to continue"
                ) from exc
            time.sleep(min(0.2 * 2**failures, 5.0))
            continue
        have = received
        break
    if size is not None and have != size:
        raise ModelError(f"{url}: got {have} bytes, the hub lists {size}; run it again")
    if sha256 is not None and digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise ModelError(
            f"{url}: the downloaded bytes have sha256 {digest.hexdigest()}, expected {sha256}; "
            "the file was deleted, run the download again"
        )
    os.replace(partial, dest)


class _Restart(Exception):
    pass


class _Dropped(Exception):
    def __init__(self, cause: BaseException, have: int, progressed: bool) -> None:
        super().__init__(str(cause) or type(cause).__name__)
        self.have = have
        self.progressed = progressed


def _get_into(
    url: str,
    partial: Path,
    have: int,
    digest: Any,
    token: str | None,
    meter: ProgressMeter,
    cancel: threading.Event | None,
    name: str,
) -> int:
    """One GET from byte `have` on, appended to `partial`; the new byte count."""
    start = have
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        response = _open(url, what=name, token=token, headers=headers, allow_416=True)
    except _Dropped as exc:
        raise _Dropped(exc, have, False) from exc
    with response, partial.open("ab") as out:
        if response.status == 416 or (have and response.status != 206):
            raise _Restart
        length = response.headers.get("Content-Length")
        if not meter.total and length and length.isdigit():  # a file by URL: size unknown so far
            meter.total = have + int(length)
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled(
                    f"download cancelled; {have} bytes of {name} are kept for the next try"
                )
            dropped: BaseException | None = None
            try:
                block = response.read(CHUNK)
            except http.client.IncompleteRead as exc:
                block, dropped = exc.partial, exc
            except (ConnectionError, TimeoutError) as exc:
                block, dropped = b"", exc
            if block:
                out.write(block)
                digest.update(block)
                have += len(block)
                meter.add(len(block))
            if not block and dropped is None and getattr(response, "length", None):
                dropped = ConnectionError("the connection closed before the end of the file")
            if dropped is not None:
                raise _Dropped(dropped, have, have > start) from dropped
            if not block:
                return have


class _NoAuthAcrossHosts(urllib.request.HTTPRedirectHandler):
    """Follow redirects, dropping the token when the target is another host (a CDN)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urlsplit(newurl).netloc != urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


_opener = urllib.request.build_opener(_NoAuthAcrossHosts)


def _open(
    url: str,
    *,
    what: str,
    token: str | None,
    headers: dict[str, str] | None = None,
    allow_416: bool = False,
) -> Any:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise ModelError(f"{what}: offline mode (HF_HUB_OFFLINE is set); unset it to download")
    from core import __version__

    request = urllib.request.Request(url, headers=dict(headers or {}))
    request.add_header("User-Agent", f"atelier/{__version__}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        return _opener.open(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if allow_416 and exc.code == 416:
            return exc
        raise _http_error(exc, what, url, token) from exc
    except urllib.error.URLError as exc:
        host = urlsplit(url).netloc
        raise ModelError(
            f"{what}: cannot reach {host} ({exc.reason}); check the network connection "
            "(HF_ENDPOINT chooses another hub)"
        ) from exc
    except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
        raise _Dropped(exc, 0, False) from exc


def _http_error(exc: urllib.error.HTTPError, what: str, url: str, token: str | None) -> ModelError:
    code = exc.headers.get("X-Error-Code", "") if exc.headers else ""
    detail = exc.headers.get("X-Error-Message", "") if exc.headers else ""
    login = "log in with `hf auth login` or set HF_TOKEN (Atelier never stores the token)"
    if code == "GatedRepo":
        page = url.split("/resolve/")[0].split("/revision/")[0].replace("/api/models/", "/")
        return ModelError(
            f"{what}: a gated repository; accept its conditions on its hub page "
            f"({page}) with your account, then "
            + (login if not token else "check that your token has access")
        )
    if code == "RepoNotFound" or (exc.code == 401 and not code):
        why = "no such repository, or it is private or gated"
        return ModelError(f"{what}: {why}; check the id, or " + login)
    if code == "RevisionNotFound":
        return ModelError(f"{what}: no such revision (branch, tag or commit)")
    if code == "EntryNotFound" or exc.code == 404:
        return ModelError(f"{what}: not found on the hub ({url})")
    if exc.code in (401, 403):
        return ModelError(f"{what}: access refused (HTTP {exc.code}); " + login)
    return ModelError(
        f"{what}: the hub answered HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")
    )

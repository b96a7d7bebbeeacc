"""Model variants in a library: adding one (kind and fingerprint found once) and verifying its
weights against the recorded fingerprint. The CLI and the GUI both call these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import BadInput

if TYPE_CHECKING:
    from core.library import Library
    from core.library.entities import ModelVariant
    from core.request import GenerationRequest


@dataclass(frozen=True)
class Verification:
    name: str
    ok: bool
    fingerprint: str
    recorded: str | None
    changed_components: tuple[str, ...]


def add_variant(
    library: Library,
    source_text: str,
    name: str,
    *,
    config: str | None = None,
    revision: str | None = None,
    allow_pickle: bool = False,
) -> ModelVariant:
    """Add a folder, a weights file, a hub id or a demo name under `name` (reads the weights)."""
    from core.models.resolve import resolve_source
    from core.models.sources import parse_source

    if not name.strip():
        raise BadInput("name", "a model variant needs a name")
    if library.models.get(name) is not None:
        raise BadInput("name", f"a model variant named {name!r} already exists")
    source = parse_source(source_text, config=config, revision=revision, allow_pickle=allow_pickle)
    resolved = resolve_source(source, name, library.file_hashes)
    return library.models.add(
        name=name,
        source_type=source.type,
        location=source.location,
        revision=source.revision,
        config_path=source.config,
        kind=resolved.kind,
        default_dtype=None,
        fingerprint=resolved.fingerprint,
        components=dict(resolved.components),
        size_bytes=resolved.size_bytes,
        allow_pickle=source.allow_pickle,
    )


def verify_variant(library: Library, name: str) -> Verification:
    """Hash every weight file again (no cache) and compare with the recorded fingerprint."""
    from core.models.fingerprint import fingerprint_model
    from core.models.sources import ModelSource, local_path

    variant = library.models.get(name)
    if variant is None:
        raise BadInput("name", f"no model variant named {name!r}")
    source = ModelSource(
        variant.source_type, variant.location, variant.revision, variant.config_path
    )
    fresh = fingerprint_model(local_path(source))
    changed = tuple(
        sorted(
            c
            for c in set(fresh.components) | set(variant.components)
            if fresh.components.get(c) != variant.components.get(c)
        )
    )
    return Verification(
        name, fresh.sha256 == variant.fingerprint, fresh.sha256, variant.fingerprint, changed
    )


def with_adapter_files(library: Library, request: GenerationRequest) -> GenerationRequest:
    """`request` with each LoRA or embedding given by a library name replaced by its file
    (`--lora NAME:0.8`, `--embedding NAME`); paths and unknown names stay as they are."""
    import dataclasses

    from core.request import EmbeddingRef, LoraRef

    def file_of(ref: str, kind: str) -> str:
        if Path(ref).exists():
            return ref
        variant = library.models.get(ref)
        if variant is None:
            return ref
        if variant.kind != kind:
            field = "loras" if kind == "lora" else "embeddings"
            raise BadInput(field, f"{ref!r} is a {variant.kind} model, not a {kind}")
        return variant.location

    if not request.loras and not request.embeddings:
        return request
    return dataclasses.replace(
        request,
        loras=tuple(LoraRef(file_of(x.path, "lora"), x.weight) for x in request.loras),
        embeddings=tuple(
            EmbeddingRef(file_of(e.path, "embedding"), e.token) for e in request.embeddings
        ),
    )

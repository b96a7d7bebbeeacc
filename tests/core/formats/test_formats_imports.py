"""The format readers and the importer import one another in one direction only: no cycle."""

from __future__ import annotations

import grimp


def test_no_import_cycle_among_the_format_modules() -> None:
    graph = grimp.build_graph("core")
    modules = sorted(m for m in graph.modules if m.startswith("core.formats."))
    cycles = [
        (a, b)
        for i, a in enumerate(modules)
        for b in modules[i + 1 :]
        if graph.chain_exists(importer=a, imported=b) and graph.chain_exists(importer=b, imported=a)
    ]
    assert cycles == []
    readers = ("a1111", "comfyui", "invokeai", "novelai", "fooocus", "swarmui")
    for reader in readers:
        assert not graph.chain_exists(
            importer=f"core.formats.{reader}", imported="core.formats.importer"
        )

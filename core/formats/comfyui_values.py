"""ComfyUI's vocabulary and the checks every graph passes before it is walked.

A ComfyUI API graph is `{node_id: {"class_type": ..., "inputs": {...}}}`; an input that is a
link is `[node_id, output_index]`. `check_graph` bounds its size and refuses a graph whose links
form a cycle, so no walk over it can loop without end.
"""

from __future__ import annotations

from typing import Any

from core.errors import BadInput
from core.formats.parsed import show

MAX_NODES = 2000
MAX_INPUTS = 256

# ComfyUI sampler_name -> ours with its default schedule; the Karras variants we have.
SAMPLERS = {
    "euler": "euler",
    "euler_ancestral": "euler_a",
    "heun": "heun",
    "dpm_2": "dpm2",
    "dpm_2_ancestral": "dpm2_a",
    "dpmpp_2m": "dpmpp_2m",
    "ddim": "ddim",
    "ddpm": "ddpm",
    "uni_pc": "unipc",
    "uni_pc_bh2": "unipc",
    "lcm": "lcm",
}
KARRAS = {"dpmpp_2m": "dpmpp_2m_karras"}
DEFAULT_SCHEDULES = ("normal", "simple")
EXTRA_DEFAULTS = {"ddim": ("ddim_uniform",), "lcm": ("sgm_uniform",)}

Node = dict[str, Any]
Graph = dict[str, Node]


def from_comfyui_sampler(sampler: str, schedule: str) -> str | None:
    """Our scheduler name for a ComfyUI sampler_name + scheduler; None when we have none."""
    sampler = sampler.removeprefix("sample_")  # early ComfyUI wrote "sample_euler"
    if schedule == "karras":
        return KARRAS.get(sampler)
    if schedule in DEFAULT_SCHEDULES or schedule in EXTRA_DEFAULTS.get(sampler, ()):
        return SAMPLERS.get(sampler)
    return None


def check_graph(graph: dict[str, Any], source: str) -> Graph:
    """The graph, once every node is an object with a class and inputs, and there is no cycle."""
    if len(graph) > MAX_NODES:
        raise BadInput(source, f"the ComfyUI graph has {len(graph)} nodes; expected <= {MAX_NODES}")
    for key, node in graph.items():
        where = f"ComfyUI node {show(key)}"
        if not isinstance(node, dict):
            raise BadInput(source, f"{where} is a {type(node).__name__}; expected an object")
        if not isinstance(node.get("class_type"), str) or not isinstance(node.get("inputs"), dict):
            raise BadInput(source, f"{where} needs a 'class_type' text and an 'inputs' object")
        if len(node["inputs"]) > MAX_INPUTS:
            raise BadInput(source, f"{where} has more than {MAX_INPUTS} inputs")
    _check_acyclic(graph, source)
    return graph


def is_api_graph(data: dict[str, Any]) -> bool:
    """Does a JSON object look like a ComfyUI API graph: nodes with a class, and beside them at
    most entries with names that are not node ids (Civitai adds `extra`, `extraMetadata`)?"""
    entries = list(data.items())[:MAX_NODES]
    nodes = [k for k, v in entries if _is_node(v)]
    return bool(nodes) and all(_is_node(v) or not _is_node_id(k) for k, v in entries)


def extras(graph: dict[str, Any]) -> dict[str, Any]:
    """The entries of a graph that are not nodes and not named like nodes (set aside)."""
    return {k: v for k, v in graph.items() if not _is_node(v) and not _is_node_id(k)}


def _is_node(value: Any) -> bool:
    return (
        isinstance(value, dict) and isinstance(value.get("class_type"), str) and "inputs" in value
    )


def _is_node_id(key: str) -> bool:
    return bool(key) and all(part.isdigit() for part in key.split(":"))


def link(value: Any) -> tuple[str, int] | None:
    """(node id, output index) of a `[node_id, output_index]` link, or None for a plain value."""
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and not isinstance(value[0], bool)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    ):
        return str(value[0]), value[1]
    return None


def order(key: str) -> tuple[int, str]:
    """Node ids in numeric order where they are numbers."""
    return (int(key), key) if key.isdigit() and len(key) < 10 else (1 << 40, key)


def _check_acyclic(nodes: Graph, source: str) -> None:
    """Iterative depth-first search over every link: BadInput naming a node on a cycle."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in nodes:
        if start in state:
            continue
        stack = [(start, iter(nodes[start]["inputs"].values()))]
        state[start] = 1
        while stack:
            key, pending = stack[-1]
            for value in pending:
                found = link(value)
                target = None if found is None else found[0]
                if target is None or target not in nodes or state.get(target) == 2:
                    continue
                if state.get(target) == 1:
                    raise BadInput(
                        source, f"the ComfyUI graph's links form a cycle (at node {target})"
                    )
                state[target] = 1
                stack.append((target, iter(nodes[target]["inputs"].values())))
                break
            else:
                state[key] = 2
                stack.pop()


__all__ = [
    "MAX_NODES",
    "SAMPLERS",
    "Graph",
    "Node",
    "check_graph",
    "extras",
    "from_comfyui_sampler",
    "is_api_graph",
    "link",
    "order",
]

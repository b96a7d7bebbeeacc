"""ComfyUI's `prompt` chunk: the API-format graph of a generation, read as a request.

The graph is `{node_id: {"class_type": ..., "inputs": {...}}}`; an input that is a link is
`[node_id, output_index]`. The standard text-to-image nodes are followed from the KSampler:
model -> (LoraLoader ->)* CheckpointLoaderSimple, positive/negative -> CLIPTextEncode (whose clip
may pass CLIPSetLastLayer), latent_image -> EmptyLatentImage. Every other node is listed in
unmapped by its class_type. The graph is bounded in size and checked for cycles before any link is
followed, so no graph can make the reader loop or recurse without end.
"""

from __future__ import annotations

from typing import Any

from core.errors import BadInput
from core.formats.importer import Parsed, as_float, as_int, as_str, load_json_object, show

MAX_NODES = 2000
MAX_INPUTS = 256
CHAIN = ("LoraLoader", "CLIPSetLastLayer")
KNOWN = (
    "CheckpointLoaderSimple", "CLIPTextEncode", "KSampler", "EmptyLatentImage", "LoraLoader",
    "CLIPSetLastLayer", "VAEDecode", "SaveImage", "PreviewImage",
)  # fmt: skip

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


def from_comfyui_sampler(sampler: str, schedule: str) -> str | None:
    """Our scheduler name for a ComfyUI sampler_name + scheduler; None when we have none."""
    if schedule == "karras":
        return KARRAS.get(sampler)
    if schedule in DEFAULT_SCHEDULES or schedule in EXTRA_DEFAULTS.get(sampler, ()):
        return SAMPLERS.get(sampler)
    return None


def parse_comfyui_prompt(text: str, source: str) -> Parsed:
    nodes = _nodes(load_json_object(text, "prompt", source), source)
    _check_acyclic(nodes, source)
    samplers = sorted((k for k, n in nodes.items() if n["class_type"] == "KSampler"), key=_order)
    if not samplers:
        raise BadInput(
            source, "the ComfyUI graph has no KSampler node (expected the standard nodes)"
        )
    empty = [k for k in samplers if _latent_class(nodes, nodes[k]) == "EmptyLatentImage"]
    main = (empty or samplers)[0]
    p = Parsed()
    _sampler(nodes, main, p, source)
    for key in samplers:
        if key != main:
            p.unmap(f"KSampler (node {key}): a second sampling pass is not mapped")
    for key in sorted(nodes, key=_order):
        if nodes[key]["class_type"] not in KNOWN:
            p.unmap(f"{nodes[key]['class_type']} (node {key})")
    return p


def _nodes(graph: dict[str, Any], source: str) -> dict[str, Node]:
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
    return graph


def _link(value: Any) -> str | None:
    """The node id a `[node_id, output_index]` link points at, or None for a plain value."""
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], (str, int))
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    ):
        return str(value[0])
    return None


def _check_acyclic(nodes: dict[str, Node], source: str) -> None:
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
                target = _link(value)
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


def _order(key: str) -> tuple[int, str]:
    return (int(key), key) if key.isdigit() and len(key) < 10 else (1 << 40, key)


def _latent_class(nodes: dict[str, Node], sampler: Node) -> str | None:
    target = _link(sampler["inputs"].get("latent_image"))
    return None if target is None or target not in nodes else str(nodes[target]["class_type"])


def _follow(nodes: dict[str, Node], node: Node, name: str, source: str) -> tuple[str, Node] | None:
    """The node an input links to; None when the input is missing or not a link."""
    value = node["inputs"].get(name)
    target = _link(value)
    if target is None:
        return None
    if target not in nodes:
        raise BadInput(source, f"a ComfyUI link points at node {show(target)}, which is missing")
    return target, nodes[target]


def _plain(
    nodes: dict[str, Node], key: str, name: str, p: Parsed, source: str, default: Any = None
) -> Any:
    """A node's input as a plain value; None (and listed in unmapped) when it is a link."""
    value = nodes[key]["inputs"].get(name, default)
    target = _link(value)
    if target is None:
        return value
    if target not in nodes:
        raise BadInput(source, f"a ComfyUI link points at node {show(target)}, which is missing")
    origin = nodes[target]["class_type"]
    p.unmap(f"{nodes[key]['class_type']} (node {key}) {name}: linked from node {target} ({origin})")
    return None


def _sampler(nodes: dict[str, Node], key: str, p: Parsed, source: str) -> None:
    where = f"ComfyUI KSampler (node {key})"
    numbers = (("seed", "seed", 2**64 - 1), ("steps", "steps", 10_000))
    for name, field, hi in numbers:
        if (value := _plain(nodes, key, name, p, source)) is not None:
            p.fields[field] = as_int(
                value, f"{where} {name}", source, 0 if field == "seed" else 1, hi
            )
    if (cfg := _plain(nodes, key, "cfg", p, source)) is not None:
        p.fields["cfg_scale"] = as_float(cfg, f"{where} cfg", source, 0, 100)
    sampler = _plain(nodes, key, "sampler_name", p, source, "")
    schedule = _plain(nodes, key, "scheduler", p, source, "normal")
    if sampler is not None and schedule is not None:
        sampler = as_str(sampler, f"{where} sampler_name", source, 200)
        schedule = as_str(schedule, f"{where} scheduler", source, 200)
        ours = from_comfyui_sampler(sampler, schedule)
        if ours is not None:
            p.fields["scheduler"] = ours
        elif sampler:
            p.unmap(f"sampler_name: {sampler}, scheduler: {schedule} (no equivalent scheduler)")
    denoise = _plain(nodes, key, "denoise", p, source, 1.0)
    denoise = 1.0 if denoise is None else as_float(denoise, f"{where} denoise", source, 0, 1)
    node = nodes[key]
    _model(nodes, node, p, source)
    for name, field in (("positive", "prompt"), ("negative", "negative_prompt")):
        _prompt(nodes, node, name, field, p, source)
    _latent(nodes, node, denoise, p, source)


def _model(nodes: dict[str, Node], sampler: Node, p: Parsed, source: str) -> None:
    found = _follow(nodes, sampler, "model", source)
    while found is not None and found[1]["class_type"] == "LoraLoader":
        _lora(found, p)
        found = _follow(nodes, found[1], "model", source)
    if found is None:
        return
    key, node = found
    if node["class_type"] != "CheckpointLoaderSimple":
        p.note(f"the model comes from a {node['class_type']} node ({key}), not a checkpoint")
    elif (name := _plain(nodes, key, "ckpt_name", p, source)) is not None:
        p.model_name = as_str(name, f"ComfyUI node {key} ckpt_name", source, 1000) or None


def _lora(found: tuple[str, Node], p: Parsed) -> None:
    key, node = found
    inputs = node["inputs"]
    p.unmap(
        f"LoraLoader (node {key}): {show(inputs.get('lora_name'))}, strength_model "
        f"{show(inputs.get('strength_model'))}, strength_clip {show(inputs.get('strength_clip'))}"
        " (the LoRA file is not known)"
    )


def _prompt(
    nodes: dict[str, Node], sampler: Node, name: str, field: str, p: Parsed, source: str
) -> None:
    found = _follow(nodes, sampler, name, source)
    if found is None:
        return
    key, node = found
    if node["class_type"] != "CLIPTextEncode":
        p.note(f"the {name} conditioning comes from a {node['class_type']} node ({key})")
        return
    if (text := _plain(nodes, key, "text", p, source, "")) is not None:
        p.fields[field] = as_str(text, f"ComfyUI node {key} text", source)
    clip = _follow(nodes, node, "clip", source)
    while clip is not None and clip[1]["class_type"] in CHAIN and "clip_skip" not in p.fields:
        if clip[1]["class_type"] == "CLIPSetLastLayer":
            layer = _plain(nodes, clip[0], "stop_at_clip_layer", p, source, -1)
            what = f"ComfyUI node {clip[0]} stop_at_clip_layer"
            last = -1 if layer is None else as_int(layer, what, source, -100, -1)
            p.fields["clip_skip"] = -last - 1 or None
        clip = _follow(nodes, clip[1], "clip", source)


def _latent(nodes: dict[str, Node], sampler: Node, denoise: float, p: Parsed, source: str) -> None:
    found = _follow(nodes, sampler, "latent_image", source)
    if found is None:
        return
    key, node = found
    if node["class_type"] == "EmptyLatentImage":
        for name, hi in (("width", 65_536), ("height", 65_536), ("batch_size", 4096)):
            if (value := _plain(nodes, key, name, p, source)) is not None:
                p.fields[name] = as_int(value, f"ComfyUI node {key} {name}", source, 1, hi)
        if denoise < 1:
            p.unmap(f"denoise: {denoise} (on an empty latent)")
        return
    if denoise > 0:
        p.fields["strength"] = denoise
    p.note(
        f"made from a {node['class_type']} latent (node {key}), as img2img with denoise "
        f"{denoise}; the init image is not in the file, so the task stays text2img"
    )


__all__ = ["SAMPLERS", "from_comfyui_sampler", "parse_comfyui_prompt"]

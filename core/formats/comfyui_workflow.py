"""ComfyUI's UI `workflow` (nodes with `widgets_values`, and `links`) turned into an API graph.

A file saved with only the UI workflow (no `prompt`) still says what made the image. Each node's
`widgets_values` are positional; `WIDGETS` names them for the nodes the importer reads (a seed
widget may be followed by ComfyUI's "control after generate" value, which is skipped). Other
nodes keep their values as `widget_0`, `widget_1`, ... so they are still listed in unmapped.
Links become `[node_id, slot]`; an input fed by a PrimitiveNode gets the primitive's value, as in
the API graph; a muted node is left out and a bypassed one passes its inputs through.
"""

from __future__ import annotations

from typing import Any

from core.errors import BadInput
from core.formats.comfyui_values import MAX_INPUTS, MAX_NODES

_SEED = "seed+"  # a seed widget, possibly followed by "control after generate"
WIDGETS: dict[str, tuple[str, ...]] = {
    "KSampler": (_SEED, "steps", "cfg", "sampler_name", "scheduler", "denoise"),
    "KSamplerAdvanced": (
        "add_noise",
        "noise_seed+",
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "start_at_step",
        "end_at_step",
        "return_with_leftover_noise",
    ),
    "SamplerCustom": ("add_noise", "noise_seed+", "cfg"),
    "RandomNoise": ("noise_seed+",),
    "KSamplerSelect": ("sampler_name",),
    "BasicScheduler": ("scheduler", "steps", "denoise"),
    "SDTurboScheduler": ("steps", "denoise"),
    "KarrasScheduler": ("steps", "sigma_max", "sigma_min", "rho"),
    "CFGGuider": ("cfg",),
    "FluxGuidance": ("guidance",),
    "CLIPTextEncode": ("text",),
    "CheckpointLoaderSimple": ("ckpt_name",),
    "CheckpointLoader": ("config_name", "ckpt_name"),
    "unCLIPCheckpointLoader": ("ckpt_name",),
    "UNETLoader": ("unet_name", "weight_dtype"),
    "EmptyLatentImage": ("width", "height", "batch_size"),
    "EmptySD3LatentImage": ("width", "height", "batch_size"),
    "StableCascade_EmptyLatentImage": ("width", "height", "compression", "batch_size"),
    "LoraLoader": ("lora_name", "strength_model", "strength_clip"),
    "LoraLoaderModelOnly": ("lora_name", "strength_model"),
    "HypernetworkLoader": ("hypernetwork_name", "strength"),
    "CLIPSetLastLayer": ("stop_at_clip_layer",),
    "LatentUpscale": ("upscale_method", "width", "height", "crop"),
    "LatentUpscaleBy": ("upscale_method", "scale_by"),
    "VAELoader": ("vae_name",),
    "ModelSamplingDiscrete": ("sampling", "zsnr"),
    "SaveImage": ("filename_prefix",),
}
_CONTROLS = ("fixed", "increment", "decrement", "randomize")
MUTED, BYPASSED = 2, 4


def is_ui_workflow(data: dict[str, Any]) -> bool:
    return isinstance(data.get("nodes"), list) and isinstance(data.get("links"), list)


def workflow_to_graph(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The API graph of a UI workflow."""
    nodes = [n for n in data["nodes"] if isinstance(n, dict)]
    if len(nodes) > MAX_NODES:
        raise BadInput(
            source, f"the ComfyUI workflow has {len(nodes)} nodes; expected <= {MAX_NODES}"
        )
    links = _links(data["links"])
    by_id = {str(n.get("id")): n for n in nodes}
    graph: dict[str, Any] = {}
    for node in nodes:
        cls = node.get("type")
        if not isinstance(cls, str) or cls == "PrimitiveNode" or node.get("mode") == MUTED:
            continue
        inputs: dict[str, Any] = {}
        if node.get("mode") != BYPASSED:
            inputs.update(_widgets(cls, node.get("widgets_values")))
        for slot in node.get("inputs") or []:
            if not isinstance(slot, dict) or slot.get("link") is None:
                continue
            origin = links.get(slot["link"])
            if origin is None:
                continue
            name = str(slot.get("name") or "input")
            value = _primitive(by_id.get(origin[0]))
            inputs[name] = value if value is not None else [origin[0], origin[1]]
        if len(inputs) > MAX_INPUTS:
            raise BadInput(source, f"ComfyUI workflow node {node.get('id')} has too many inputs")
        suffix = " (bypassed)" if node.get("mode") == BYPASSED else ""
        graph[str(node.get("id"))] = {"class_type": cls + suffix, "inputs": inputs}
    return graph


def _links(rows: list[Any]) -> dict[Any, tuple[str, int]]:
    """link id -> (origin node id, origin slot); a row is [id, from, slot, to, to_slot, type]."""
    found: dict[Any, tuple[str, int]] = {}
    for row in rows[: MAX_NODES * 8]:
        if isinstance(row, list) and len(row) >= 3 and isinstance(row[2], int):
            found[row[0]] = (str(row[1]), row[2])
        elif isinstance(row, dict) and isinstance(row.get("origin_slot"), int):
            found[row.get("id")] = (str(row.get("origin_id")), row["origin_slot"])
    return found


def _primitive(node: dict[str, Any] | None) -> Any:
    if node is None or node.get("type") != "PrimitiveNode":
        return None
    values = node.get("widgets_values")
    return values[0] if isinstance(values, list) and values else None


def _widgets(cls: str, values: Any) -> dict[str, Any]:
    if isinstance(values, dict):  # some custom nodes keep their widgets by name
        return {str(k): v for k, v in list(values.items())[:MAX_INPUTS]}
    if not isinstance(values, list):
        return {}
    names = WIDGETS.get(cls)
    if names is None:
        return {f"widget_{i}": v for i, v in enumerate(values[:MAX_INPUTS])}
    inputs: dict[str, Any] = {}
    position = 0
    for name in names:
        if position >= len(values):
            break
        inputs[name.rstrip("+")] = values[position]
        position += 1
        if name.endswith("+") and position < len(values):
            after = values[position]
            if isinstance(after, bool) or after in _CONTROLS:
                position += 1
    return inputs


__all__ = ["WIDGETS", "is_ui_workflow", "workflow_to_graph"]

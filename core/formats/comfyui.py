"""ComfyUI's API graph (the `prompt` chunk, or `prompt:` in EXIF) read as a request.

The sampling passes are found first: KSampler, KSamplerAdvanced, SamplerCustom(Advanced), and
custom samplers of the same shape. A pass whose latent comes from another pass is a later pass;
the first pass becomes the request. From its inputs the graph is walked upstream (see
`comfyui_walk`) to the prompt texts, the checkpoint and the latent. A KSamplerAdvanced split of
base and refiner becomes the SDXL refiner handoff; any other later pass (a hires fix, an
upscale) is listed in full in unmapped. Every node whose settings did not go into the request is
listed in unmapped with its settings.
"""

from __future__ import annotations

from typing import Any

from core.errors import BadInput
from core.formats.comfyui_values import (
    SAMPLERS,
    Graph,
    check_graph,
    extras,
    from_comfyui_sampler,
    is_api_graph,
    link,
    order,
)
from core.formats.comfyui_walk import FOREIGN_NODES, SAMPLER_CLASSES, Latent, Walker
from core.formats.parsed import Parsed, as_float, as_int, as_str, brief, load_json_object

# Nodes whose every setting is taken into the request or has no bearing on the image.
QUIET = (
    "CheckpointLoaderSimple", "CheckpointLoader", "CLIPTextEncode", "CLIPSetLastLayer",
    "EmptyLatentImage", "VAEDecode", "VAEDecodeTiled", "SaveImage", "PreviewImage", "Reroute",
    "PrimitiveNode", "KSamplerSelect", "BasicScheduler", "RandomNoise", "BasicGuider",
    "CFGGuider", "Note", "MarkdownNote",
)  # fmt: skip
_SAMPLER_INPUTS = ("seed", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "denoise")
_PASS_INPUTS = (*_SAMPLER_INPUTS, "start_at_step", "end_at_step", "guidance", "cfg_conds")
# Inputs of a pass's nodes with no bearing on the image made (ComfyUI's seed widget controls).
_IGNORED = ("control_after_generate", "Random seed after every gen", "add_noise")


def parse_comfyui_prompt(text: str, source: str) -> Parsed:
    """The request in a ComfyUI `prompt` chunk (the API-format graph as JSON text)."""
    return parse_comfyui_graph(load_json_object(text, "prompt", source), source)


def parse_comfyui_graph(graph: dict[str, Any], source: str) -> Parsed:
    aside = extras(graph) if is_api_graph(graph) else {}
    nodes = check_graph({k: v for k, v in graph.items() if k not in aside}, source)
    samplers = [
        k for k in sorted(nodes, key=order) if _is_sampler(nodes[k]["class_type"], nodes[k])
    ]
    if not samplers:
        classes = sorted({str(n["class_type"]) for n in nodes.values()})[:30]
        raise BadInput(
            source,
            "the ComfyUI graph has no sampler node (expected KSampler, KSamplerAdvanced, "
            f"SamplerCustom or SamplerCustomAdvanced; found {', '.join(classes)})",
        )
    p = Parsed()
    walk = Walker(nodes, source, p)
    latents = {
        k: walk.latent(walk.target(nodes[k], "latent_image"), set(samplers)) for k in samplers
    }
    first = [k for k in samplers if latents[k].kind != "pass"]
    main = ([k for k in first if latents[k].kind == "empty"] or first or samplers)[0]
    _pass(walk, main, latents[main])
    later = _later_passes(main, latents)
    if later:
        _refiner_or_note(walk, main, later)
    _early_stop(nodes[main], p)
    for key in samplers:
        if key != main and key not in later:
            walk.p.unmap(f"{nodes[key]['class_type']} (node {key}): another sampling pass, "
                         f"not imported: {walk.plain_inputs(key)}")  # fmt: skip
            walk.seen.add(key)
    _architecture(nodes, p)
    for name, value in aside.items():
        p.unmap(f"{name}: {brief(value)} (beside the ComfyUI graph)")
    for key in sorted(nodes, key=order):
        cls = nodes[key]["class_type"]
        if key not in walk.seen and cls not in QUIET:
            p.unmap(f"{cls} (node {key}): {walk.plain_inputs(key)}")
    return p


def _is_sampler(cls: str, node: dict[str, Any]) -> bool:
    if cls in SAMPLER_CLASSES:
        return True
    inputs = node["inputs"]
    custom = (
        "positive" in inputs and "steps" in inputs and ("seed" in inputs or "noise_seed" in inputs)
    )
    return custom and ("latent_image" in inputs or "latent" in inputs)


def _later_passes(main: str, latents: dict[str, Latent]) -> list[str]:
    """The passes that continue from `main`, directly or through other passes, in order."""
    chain, current = [], main
    for _ in range(len(latents)):
        nxt = [k for k, lat in latents.items() if lat.kind == "pass" and lat.key == current]
        if not nxt:
            break
        chain.append(nxt[0])
        current = nxt[0]
    return chain


# ---- one pass ------------------------------------------------------------------------------
def _pass(walk: Walker, key: str, latent: Latent) -> None:
    nodes, p = walk.nodes, walk.p
    node = nodes[key]
    walk.seen.add(key)
    inputs = _sampler_inputs(walk, key)
    _numbers(walk, inputs)
    guider = _guider(walk, node)
    model_link = walk.target(guider or node, "model")
    walk.model(model_link)
    for name, field in (("positive", "prompt"), ("negative", "negative_prompt")):
        start = _conditioning(walk, guider or node, name)
        if start is None:
            continue
        found = walk.text(start)
        if found is None:
            if field == "prompt":
                p.prompt_lost = f"the positive conditioning of node {key} ({node['class_type']})"
            p.unmap(f"{field}: could not be read from the graph (node {start[0]}, "
                    f"{nodes[start[0]]['class_type']})")  # fmt: skip
            continue
        p.set(field, as_str(found[0], found[1], walk.source), found[1])
        walk.clip_skip(walk.target(nodes[found[2]], "clip"))
    _latent(walk, latent, inputs)


def _sampler_inputs(walk: Walker, key: str) -> dict[str, tuple[Any, str]]:
    """seed, steps, cfg, sampler_name, scheduler, denoise, ... wherever this pass keeps them:
    on the sampler, or on its noise, guider, sampler and sigmas nodes."""
    node = walk.nodes[key]
    found: dict[str, tuple[Any, str]] = {}
    sources = [key]
    for name in ("noise", "guider", "sampler", "sigmas"):
        target = walk.target(node, name)
        if target is not None:
            sources.append(target[0])
    for source in sources:
        walk.seen.add(source)
        for name, raw in walk.nodes[source]["inputs"].items():
            if name in _PASS_INPUTS and name not in found:
                value = walk.value(source, name)
                if value is not None:
                    found[name] = value
            elif name not in _IGNORED and link(raw) is None and name not in found:
                walk.p.unmap(f"{walk.where(source, name)}: {brief(raw)}")
    if "cfg_conds" in found and "cfg" not in found:
        found["cfg"] = found["cfg_conds"]
    cls = {walk.nodes[s]["class_type"] for s in sources}
    if "KarrasScheduler" in cls and "scheduler" not in found:
        found["scheduler"] = ("karras", "ComfyUI KarrasScheduler")
    if "BasicGuider" in cls and "cfg" not in found:
        found["cfg"] = (1.0, "ComfyUI BasicGuider (no classifier-free guidance)")
    return found


def _numbers(walk: Walker, inputs: dict[str, tuple[Any, str]]) -> None:
    p, source = walk.p, walk.source
    for name, field, lo, hi in (
        ("seed", "seed", 0, 2**64 - 1), ("noise_seed", "seed", 0, 2**64 - 1),
        ("steps", "steps", 1, 10_000),
    ):  # fmt: skip
        if name in inputs and field not in p.fields:
            value, where = inputs[name]
            p.set(field, as_int(value, where, source, lo, hi), where)
    if "cfg" in inputs:
        value, where = inputs["cfg"]
        p.set("cfg_scale", as_float(value, where, source, 0, 100), where)
    if "sampler_name" in inputs:
        sampler, where = inputs["sampler_name"]
        schedule, _ = inputs.get("scheduler", ("normal", ""))
        sampler = as_str(sampler, where, source, 200)
        schedule = as_str(schedule, f"{where} scheduler", source, 200)
        ours = from_comfyui_sampler(sampler, schedule)
        if ours is not None:
            p.set("scheduler", ours, f"{where} + scheduler")
        else:
            p.unmap(f"sampler_name: {sampler}, scheduler: {schedule} (no equivalent scheduler)")
    if "guidance" in inputs:
        p.unmap(f"guidance: {inputs['guidance'][0]} ({inputs['guidance'][1]})")


def _guider(walk: Walker, node: dict[str, Any]) -> dict[str, Any] | None:
    target = walk.target(node, "guider")
    return None if target is None else walk.nodes[target[0]]


def _conditioning(walk: Walker, node: dict[str, Any], name: str) -> tuple[str, int] | None:
    if name == "positive":
        for candidate in ("positive", "conditioning", "cond1"):
            if link(node["inputs"].get(candidate)):
                return walk.target(node, candidate)
        return None
    return walk.target(node, "negative") if link(node["inputs"].get("negative")) else None


def _latent(walk: Walker, latent: Latent, inputs: dict[str, tuple[Any, str]]) -> None:
    p, source, nodes = walk.p, walk.source, walk.nodes
    denoise = 1.0
    if "denoise" in inputs:
        denoise = as_float(inputs["denoise"][0], inputs["denoise"][1], source, 0, 1)
    start = inputs.get("start_at_step")
    if latent.kind == "empty":
        walk.seen.add(latent.key)
        for name, hi in (("width", 65_536), ("height", 65_536), ("batch_size", 4096)):
            found = walk.value(latent.key, name)
            if found is not None:
                p.set(name, as_int(found[0], found[1], source, 1, hi), found[1])
        if denoise < 1:
            p.unmap(f"denoise: {denoise} (on an empty latent)")
        if start is not None and start[0] not in (0, None):
            p.unmap(f"start_at_step: {start[0]} (on an empty latent)")
        return
    if latent.kind == "image":
        walk.seen.add(latent.key)
        cls = nodes[latent.key]["class_type"]
        if denoise > 0:
            p.set("strength", denoise, inputs["denoise"][1] if "denoise" in inputs else "ComfyUI")
        kind = "inpaint" if "Inpaint" in cls else "img2img"
        p.note(
            f"made as {kind} from an image encoded by node {latent.key} ({cls}), denoise "
            f"{denoise}; the init image is not in the file, so the task stays text2img"
        )
        return
    p.note("the sampler's latent comes from no node Atelier knows; width and height are not set")


# ---- later passes --------------------------------------------------------------------------
def _refiner_or_note(walk: Walker, main: str, later: list[str]) -> None:
    nodes, p = walk.nodes, walk.p
    base, second = nodes[main], nodes[later[0]]
    end = base["inputs"].get("end_at_step")
    start = second["inputs"].get("start_at_step")
    steps = p.fields.get("steps")
    handoff = (
        base["class_type"] == second["class_type"] == "KSamplerAdvanced"
        and isinstance(end, int) and isinstance(start, int) and isinstance(steps, int)
        and start == end and 0 < end < steps
    )  # fmt: skip
    for index, key in enumerate(later):
        walk.seen.add(key)
        if index == 0 and handoff:
            refiner = Parsed()
            Walker(nodes, walk.source, refiner).model(walk.target(second, "model"))
            if refiner.model_name and refiner.model_name != p.model_name:
                where = f"ComfyUI node {key} (KSamplerAdvanced) model"
                p.set("refiner", refiner.model_name, where)
                p.set(
                    "high_noise_frac",
                    round(end / steps, 4),
                    f"ComfyUI node {main} end_at_step / steps",
                )
                p.note(f"the refiner pass (node {key}) starts at step {start} of {steps}")
                _refiner_prompts(walk, second)
                continue
        latent = walk.latent(walk.target(nodes[key], "latent_image"), {main, *later})
        how = f" after an upscale (node {latent.via_upscale})" if latent.via_upscale else ""
        kind = "a hires fix" if latent.via_upscale else "a refine"
        p.note(f"the image was finished by a later sampling pass, {kind} (node {key}); only the "
               "first pass is imported")  # fmt: skip
        p.unmap(
            f"a later sampling pass{how}, not imported (a hires fix or a refine): "
            f"{nodes[key]['class_type']} (node {key}): {walk.plain_inputs(key)}"
        )
        if latent.via_upscale:
            walk.seen.add(latent.via_upscale)
            p.unmap(f"{nodes[latent.via_upscale]['class_type']} (node {latent.via_upscale}): "
                    f"{walk.plain_inputs(latent.via_upscale)}")  # fmt: skip


def _early_stop(node: dict[str, Any], p: Parsed) -> None:
    """A KSamplerAdvanced that stops before its last step, with no refiner handoff mapped."""
    end, steps = node["inputs"].get("end_at_step"), p.fields.get("steps")
    if "refiner" in p.fields or not isinstance(end, int) or not isinstance(steps, int):
        return
    if 0 < end < steps:
        p.unmap(f"end_at_step: {end} of {steps} steps (the first pass stops early; other "
                "passes finish the image)")  # fmt: skip


def _refiner_prompts(walk: Walker, second: dict[str, Any]) -> None:
    """The refiner's own prompts are marked seen; a prompt unlike the base's is unmapped."""
    for name, field in (("positive", "prompt"), ("negative", "negative_prompt")):
        found = walk.text(walk.target(second, name))
        if found is not None and found[0] != walk.p.fields.get(field):
            walk.p.unmap(f"the refiner's {name} prompt ({found[1]}): {found[0]}")


def _architecture(nodes: Graph, p: Parsed) -> None:
    for key in sorted(nodes, key=order):
        cls = nodes[key]["class_type"]
        if cls in FOREIGN_NODES:
            p.foreign(FOREIGN_NODES[cls])
        elif "Video" in cls or "LatentVideo" in cls:
            p.foreign(f"a video model ({cls})")


__all__ = ["SAMPLERS", "from_comfyui_sampler", "parse_comfyui_graph", "parse_comfyui_prompt"]

"""Walking a ComfyUI graph upstream: from a sampler's inputs to the values that made the image.

Each walk follows links through pass-through nodes (conditioning combiners and area nodes,
FluxGuidance, ControlNet, model patches, LoRA and hypernetwork loaders, latent upscales,
reroutes, primitives) until it reaches what it is looking for: a text, a checkpoint, an empty or
an encoded latent, a plain value. Walks are loops bounded by the graph's size (checked acyclic
beforehand), never recursion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import BadInput
from core.formats.comfyui_values import MAX_NODES, Graph, Node, link
from core.formats.parsed import Parsed, as_int, brief, show

# Input names that hold a prompt's text, in the order they are preferred.
TEXT_INPUTS = ("text", "text_g", "t5xxl", "prompt", "clip_l", "text_l", "clip_g", "string")
# Input names that hold a plain value in primitive and string nodes, whatever it feeds; and
# those that stand for one kind of value only (a seed node's seed, a text node's text).
VALUE_INPUTS = ("value", "int", "float", "number", "string", "String", "STRING", "Text")
SAME_KIND = {"seed": ("seed", "noise_seed"), "noise_seed": ("seed", "noise_seed")}
CONDITIONING_INPUTS = (
    "conditioning", "conditioning_to", "conditioning_1", "cond1", "conditioning_from",
    "conditioning_2", "cond2", "positive",
)  # fmt: skip
COMBINERS = ("ConditioningCombine", "ConditioningConcat", "ConditioningAverage")
CHECKPOINT_INPUTS = ("ckpt_name", "unet_name", "model_name", "base_ckpt_name")
ENCODERS = ("VAEEncode", "VAEEncodeForInpaint", "VAEEncodeTiled", "StableCascade_StageC_VAEEncode")
SAMPLER_CLASSES = ("KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced")
# Nodes that say the graph needs an architecture Atelier cannot run.
FOREIGN_NODES = {
    "FluxGuidance": "Flux",
    "ModelSamplingFlux": "Flux",
    "EmptyFlux2LatentImage": "Flux 2",
    "ModelSamplingSD3": "a Stable Diffusion 3-like model (ModelSamplingSD3)",
    "ModelSamplingAuraFlow": "AuraFlow or Lumina (ModelSamplingAuraFlow)",
    "StableCascade_EmptyLatentImage": "Stable Cascade",
    "StableCascade_StageB_Conditioning": "Stable Cascade",
    "EmptySD3LatentImage": "a 16-channel latent model such as SD3 or Flux (EmptySD3LatentImage)",
    "TripleCLIPLoader": "Stable Diffusion 3 (TripleCLIPLoader)",
    "QuadrupleCLIPLoader": "HiDream (QuadrupleCLIPLoader)",
    "DualCLIPLoader": "a model with separate text encoders (DualCLIPLoader)",
    "CLIPLoader": "a model with a separately loaded text encoder (CLIPLoader)",
    "UNETLoader": "a diffusion model loaded on its own (UNETLoader)",
    "SVD_img2vid_Conditioning": "Stable Video Diffusion",
    "ImageOnlyCheckpointLoader": "an image-conditioned model (ImageOnlyCheckpointLoader)",
    "StableZero123_Conditioning": "Stable Zero123",
}
VIDEO_LATENT = "Video"


@dataclass(frozen=True)
class Latent:
    """Where a sampler's latent came from: an empty latent, an encoded image, or another pass."""

    kind: str  # "empty", "image", "pass", "unknown"
    key: str
    via_upscale: str | None = None  # an upscale node between this and an earlier pass


class Walker:
    """Upstream walks over one checked graph, recording the nodes they pass through."""

    def __init__(self, nodes: Graph, source: str, p: Parsed) -> None:
        self.nodes = nodes
        self.source = source
        self.p = p
        self.seen: set[str] = set()  # nodes whose meaning was taken into the request

    # ---- links and plain values --------------------------------------------------------
    def target(self, node: Node, name: str) -> tuple[str, int] | None:
        found = link(node["inputs"].get(name))
        if found is not None and found[0] not in self.nodes:
            raise BadInput(
                self.source, f"a ComfyUI link points at node {show(found[0])}, which is missing"
            )
        return found

    def where(self, key: str, name: str) -> str:
        return f"ComfyUI node {key} ({self.nodes[key]['class_type']}) {name}"

    def value(self, key: str, name: str) -> tuple[Any, str] | None:
        """A node's input as a plain value and where it was, following primitive and seed
        nodes; None when it is missing or comes from a node that computes it."""
        for _ in range(MAX_NODES):
            node = self.nodes[key]
            if name not in node["inputs"]:
                return None
            found = self.target(node, name)
            if found is None:
                return node["inputs"][name], self.where(key, name)
            origin = self.nodes[found[0]]
            inputs = origin["inputs"]
            kind = SAME_KIND.get(name, ("text",) if name in TEXT_INPUTS else ())
            names = (name, *kind, *VALUE_INPUTS)
            plain = [k for k in names if k in inputs and link(inputs[k]) is None]
            if plain:
                self.seen.add(found[0])
                return inputs[plain[0]], self.where(found[0], plain[0])
            links = [k for k, v in inputs.items() if link(v) is not None]
            if len(links) != 1:
                self.p.unmap(
                    f"{self.where(key, name)}: computed by node {found[0]} "
                    f"({origin['class_type']}), not a plain value"
                )
                return None
            self.seen.add(found[0])
            key, name = found[0], links[0]
        return None

    # ---- prompts -----------------------------------------------------------------------
    def text(self, start: tuple[str, int] | None) -> tuple[str, str, str] | None:
        """The prompt text behind a conditioning link, where it was, and its encoder node."""
        current = start
        for _ in range(MAX_NODES):
            if current is None:
                return None
            key, index = current
            node = self.nodes[key]
            cls = node["class_type"]
            if not any(link(v) is None for v in node["inputs"].values()):
                self.seen.add(key)  # a pure pass-through; a node with settings stays listed
            if cls == "ConditioningZeroOut":
                self.p.note(f"a conditioning is zeroed by node {key} (ConditioningZeroOut)")
                return "", self.where(key, "conditioning"), key
            names = [name for name in TEXT_INPUTS if name in node["inputs"]]
            for name in names:
                found = self.value(key, name)
                if found is not None and isinstance(found[0], str):
                    self.seen.add(key)
                    self._other_texts(key, name)
                    return found[0], found[1], key
            if names:
                return None
            if cls in COMBINERS:
                self.p.note(
                    f"node {key} ({cls}) combines several prompts; the first one is imported"
                )
            current = self._next_conditioning(node, index)
        return None

    def _other_texts(self, key: str, used: str) -> None:
        inputs = self.nodes[key]["inputs"]
        for name in TEXT_INPUTS:
            value = inputs.get(name)
            if name != used and isinstance(value, str) and value and value != inputs.get(used):
                self.p.unmap(f"{self.where(key, name)}: {value}")

    def _next_conditioning(self, node: Node, index: int) -> tuple[str, int] | None:
        inputs = node["inputs"]
        if index == 1 and "negative" in inputs:
            return self.target(node, "negative")
        for name in CONDITIONING_INPUTS:
            if name in inputs and link(inputs[name]) is not None:
                return self.target(node, name)
        links = [k for k, v in inputs.items() if link(v) is not None]
        conditioning = [k for k in links if "cond" in k.lower()]
        if conditioning:
            return self.target(node, conditioning[0])
        return self.target(node, links[0]) if len(links) == 1 else None

    def clip_skip(self, start: tuple[str, int] | None) -> None:
        """Clip skip from a CLIPSetLastLayer between a text encoder and its checkpoint."""
        current = start
        for _ in range(MAX_NODES):
            if current is None:
                return
            key, node = current[0], self.nodes[current[0]]
            if node["class_type"] == "CLIPSetLastLayer":
                self.seen.add(key)
                found = self.value(key, "stop_at_clip_layer")
                if found is not None:
                    last = as_int(found[0], found[1], self.source, -100, -1)
                    if last < -1:
                        self.p.set("clip_skip", -last - 1, found[1])
                return
            if "clip" not in node["inputs"]:
                return
            current = self.target(node, "clip")

    # ---- the model ---------------------------------------------------------------------
    def model(self, start: tuple[str, int] | None) -> None:
        """The checkpoint behind a model link; LoRAs, hypernetworks, merges on the way noted."""
        current = start
        for _ in range(MAX_NODES):
            if current is None:
                return
            key = current[0]
            node = self.nodes[key]
            cls = node["class_type"]
            self.seen.add(key)
            inputs = node["inputs"]
            names = [n for n in CHECKPOINT_INPUTS if isinstance(inputs.get(n), str)]
            if names:
                found = self.value(key, names[0])
                if found is not None and isinstance(found[0], str):
                    self.p.set_model(found[0] or None, found[1])
                return
            if "lora_name" in inputs or "hypernetwork_name" in inputs:
                self.p.unmap(f"{cls} (node {key}): {self.plain_inputs(key)} (file not known)")
            elif cls.startswith("ModelMerge"):
                self.p.unmap(f"{cls} (node {key}): a merge of models; the first one is imported")
            elif cls not in ("Reroute",):
                self.p.unmap(f"{cls} (node {key}): {self.plain_inputs(key)}")
            nxt = next((n for n in ("model", "model1", "unet") if link(inputs.get(n))), None)
            current = self.target(node, nxt) if nxt else None

    # ---- the latent --------------------------------------------------------------------
    def latent(self, start: tuple[str, int] | None, samplers: set[str]) -> Latent:
        current, upscale = start, None
        for _ in range(MAX_NODES):
            if current is None:
                return Latent("unknown", "")
            key, index = current
            node = self.nodes[key]
            cls = node["class_type"]
            inputs = node["inputs"]
            if key in samplers:
                return Latent("pass", key, upscale)
            if cls in ENCODERS or (index == 2 and "pixels" in inputs):
                return Latent("image", key)
            if is_empty_latent(node):
                return Latent("empty", key)
            if "Upscale" in cls:
                upscale = key
            nxt = next((n for n in ("samples", "samples1", "latent") if link(inputs.get(n))), None)
            if nxt is None:
                links = [k for k, v in inputs.items() if link(v) is not None]
                nxt = links[0] if len(links) == 1 else None
            if nxt is None:
                return Latent("unknown", key)
            current = self.target(node, nxt)
        return Latent("unknown", "")

    def plain_inputs(self, key: str) -> str:
        """A node's plain (not linked) inputs as `name: value; ...`, in full."""
        parts = [
            f"{name}: {brief(value)}"
            for name, value in self.nodes[key]["inputs"].items()
            if link(value) is None
        ]
        return "; ".join(parts) or "no settings"


def is_empty_latent(node: Node) -> bool:
    """The empty-latent family: EmptyLatentImage, EmptySD3LatentImage, Stable Cascade's, video
    latents, and custom nodes of the same shape (a width, a height, no linked input)."""
    cls = str(node["class_type"])
    inputs = node["inputs"]
    if "EmptyLatent" in cls or ("Empty" in cls and "Latent" in cls):
        return True
    shaped = "width" in inputs and "height" in inputs and "batch_size" in inputs
    return shaped and "Latent" in cls and all(link(v) is None for v in inputs.values())


__all__ = ["FOREIGN_NODES", "SAMPLER_CLASSES", "Latent", "Walker", "is_empty_latent"]

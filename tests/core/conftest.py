from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from core.engine.runner import Engine
from core.generation import Generator
from core.library import Library
from core.models.demo import demo_model_path


@pytest.fixture(scope="session")
def engine() -> Engine:
    """One engine for the session: each demo model is loaded once, as in a real worker."""
    return Engine()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def library(home: Path) -> Iterator[Library]:
    lib = Library.open(home)
    yield lib
    lib.close()


@pytest.fixture
def generator(library: Library, engine: Engine) -> Generator:
    return Generator(library, engine)


@pytest.fixture
def init_png(tmp_path: Path) -> Path:
    """A red circle on a blue background, 64x64."""
    image = Image.new("RGB", (64, 64), (30, 70, 220))
    ImageDraw.Draw(image).ellipse((16, 16, 48, 48), fill=(220, 30, 30))
    path = tmp_path / "init.png"
    image.save(path)
    return path


@pytest.fixture
def mask_png(tmp_path: Path) -> Path:
    """White (repaint) on the left half."""
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, 31, 63), fill=255)
    path = tmp_path / "mask.png"
    mask.save(path)
    return path


@pytest.fixture(scope="session")
def lora_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random (non-zero) LoRA for the demo UNet, saved the way diffusers saves LoRAs."""
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = StableDiffusionPipeline.from_pretrained(
        demo_model_path("demo:sd"), local_files_only=True
    )
    torch.manual_seed(0)
    config = LoraConfig(
        r=4,
        lora_alpha=4,
        init_lora_weights=False,
        target_modules=["to_q", "to_k", "to_v", "to_out.0"],
    )
    pipe.unet.add_adapter(config)
    folder = tmp_path_factory.mktemp("lora")
    StableDiffusionPipeline.save_lora_weights(
        folder, unet_lora_layers=get_peft_model_state_dict(pipe.unet), safe_serialization=True
    )
    return folder / "pytorch_lora_weights.safetensors"

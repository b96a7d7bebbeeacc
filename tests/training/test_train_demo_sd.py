"""The training script that made demo:sd still runs, end to end, and is reproducible from its
seed: two tiny runs (a few steps per stage, the refine stage included) give byte-identical
diffusers folders, which the app loads and runs like any model folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.generation import Generator
from core.library import Library
from core.request import GenerationRequest
from training import train_demo_sd

TINY = [
    "--threads", "1",
    "--vae-steps", "2", "--vae-batch", "4", "--vae-images", "32",
    "--text-steps", "2", "--role-steps", "2",
    "--unet-steps", "2", "--unet-batch", "4", "--unet-images", "32",
    "--refine-steps", "2",
]  # fmt: skip


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.slow
def test_two_tiny_runs_with_one_seed_are_identical_and_load(tmp_path: Path) -> None:
    outs = []
    for run in ("a", "b"):
        out = tmp_path / f"out-{run}"
        train_demo_sd.main([*TINY, "--work", str(tmp_path / f"work-{run}"), "--out", str(out)])
        outs.append(out)
    first, second = (_files(o) for o in outs)
    assert "unet/diffusion_pytorch_model.safetensors" in first
    assert (tmp_path / "work-a" / "unet-refined").is_dir()  # the refine stage ran on the export
    assert first == second
    with Library.open(tmp_path / "home") as library:
        request = GenerationRequest("text2img", str(outs[0]), "a red circle", steps=2)
        [image] = Generator(library).generate(request)
        assert Path(image.path).is_file()


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--refine-steps", "2"], "is not an exported model folder"),
        ([], "--from refine needs --refine-steps N"),
        (["--grow-16"], "--grow-16 needs --refine-steps N"),
    ],
)
def test_refine_without_a_model_or_steps_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    argv = ["--from", "refine", "--out", str(tmp_path / "none"), "--work", str(tmp_path / "w")]
    with pytest.raises(SystemExit):
        train_demo_sd.main([*argv, *extra])
    assert says in capsys.readouterr().err


def test_growing_cross_attention_at_16x16_starts_as_a_no_op() -> None:
    """`--grow-16` adds text cross-attention to the outer blocks without changing the output."""
    import torch

    torch.manual_seed(0)
    unet = train_demo_sd.build_unet().eval()
    grown = train_demo_sd.grow_cross_attention_16(unet, seed=1).eval()
    assert grown.config.down_block_types[0] == "CrossAttnDownBlock2D"
    assert grown.config.up_block_types[-1] == "CrossAttnUpBlock2D"
    assert sum(p.numel() for p in grown.parameters()) > sum(p.numel() for p in unet.parameters())
    x, t, text = torch.randn(2, 4, 16, 16), torch.tensor([10, 900]), torch.randn(2, 24, 128)
    with torch.no_grad():
        assert torch.equal(unet(x, t, text).sample, grown(x, t, text).sample)
    assert train_demo_sd.grow_cross_attention_16(grown, seed=1) is grown  # grown once only


@pytest.mark.slow
def test_a_unet_trained_on_the_shipped_parts_with_the_prompt_in_its_time_embedding(
    tmp_path: Path,
) -> None:
    """`--from unet --parts-from FOLDER --text-time`: the shipped text encoder and VAE, a new
    UNet that pools the prompt into its timestep embedding; the folder still runs in the app."""
    import json

    shipped = Path(__file__).resolve().parents[2] / "core" / "resources" / "models" / "demo-sd"
    out = tmp_path / "out"
    argv = ["--from", "unet", "--parts-from", str(shipped), "--text-time", "--threads", "1"]
    argv += ["--unet-steps", "2", "--unet-batch", "4", "--unet-images", "32"]
    train_demo_sd.main([*argv, "--work", str(tmp_path / "work"), "--out", str(out)])
    for part in ("text_encoder/model.safetensors", "vae/diffusion_pytorch_model.safetensors"):
        assert (out / part).read_bytes() == (shipped / part).read_bytes(), part
    config = json.loads((out / "unet" / "config.json").read_text())
    assert config["addition_embed_type"] == "text"
    with Library.open(tmp_path / "home") as library:
        request = GenerationRequest("text2img", str(out), "a red circle", steps=2)
        [image] = Generator(library).generate(request)
        assert Path(image.path).is_file()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--parts-from", "core/resources/models/demo-sd"], "--parts-from needs --from unet"),
        (["--from", "unet", "--parts-from", "nowhere"], "nowhere has no text_encoder/config.json"),
        (["--from", "unet", "--text-from", "core/resources/models/demo-sd"], "needs --from text"),
        (["--text-from", "nowhere"], "--text-from: nowhere has no text_encoder/config.json"),
        (["--vae-from", "nowhere"], "--vae-from: nowhere has no vae/config.json"),
    ],
)
def test_parts_from_says_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    with pytest.raises(SystemExit):
        train_demo_sd.main([*argv, "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o")])
    assert says in capsys.readouterr().err


def test_role_tokens_put_one_role_per_position_after_the_prompt(tmp_path: Path) -> None:
    """`--role-tokens`: after the prompt, position p holds only role p % 3's vector (shape,
    shape colour, background), and reading those positions back finds the prompt's labels."""
    import numpy as np

    from training import shapes

    tokenizer = train_demo_sd.build_tokenizer(tmp_path / "tokenizer")
    captions, labels = train_demo_sd._caption_batch(
        np.random.default_rng(3), 64, shapes.TRAIN_PAIRS, shapes.TRAIN_TEMPLATES
    )
    ids = tokenizer(captions, padding="max_length", max_length=24, return_tensors="pt").input_ids
    eos = tokenizer.eos_token_id
    factors = train_demo_sd.Factors(5, roles=True)
    targets, after = train_demo_sd._text_targets(factors, ids, eos, labels)
    rows = factors.indices(labels)
    for n in range(len(captions)):
        first = int(after[n].int().argmax())
        assert not after[n, :first].any() and after[n, first:].all()
        for p in range(first, ids.shape[1]):
            table = factors.tables[p % 3]
            want = train_demo_sd._normalise(table[rows[p % 3][n]])
            assert train_demo_sd.torch.allclose(targets[n, p], want)
    assert train_demo_sd.text_accuracy(factors, targets, ids, eos, labels) == [1.0, 1.0, 1.0]
    swapped = labels[:, [0, 2, 1]]  # shape colour and background the wrong way round
    named = (labels[:, 1] >= 0) & (labels[:, 2] >= 0)
    assert named.sum() > 30
    colour = train_demo_sd.text_accuracy(factors, targets[named], ids[named], eos, swapped[named])[
        1
    ]
    assert colour == 0.0


@pytest.mark.slow
def test_role_tokens_from_the_shipped_encoder_and_vae(tmp_path: Path) -> None:
    """`--text-from` and `--vae-from` (how the shipped model was made from the one before it):
    the role phase goes on from that encoder, the VAE is that one byte for byte; it runs."""
    shipped = Path(__file__).resolve().parents[2] / "core" / "resources" / "models" / "demo-sd"
    out = tmp_path / "out"
    argv = ["--text-from", str(shipped), "--vae-from", str(shipped)]
    argv += ["--threads", "1", "--role-steps", "2", "--role-lr", "1e-2"]
    argv += ["--unet-steps", "2", "--unet-batch", "4", "--unet-images", "32"]
    train_demo_sd.main([*argv, "--work", str(tmp_path / "work"), "--out", str(out)])
    vae = "vae/diffusion_pytorch_model.safetensors"
    assert (out / vae).read_bytes() == (shipped / vae).read_bytes()
    text = "text_encoder/model.safetensors"
    assert (out / text).read_bytes() != (shipped / text).read_bytes()  # it was trained on
    with Library.open(tmp_path / "home") as library:
        request = GenerationRequest("text2img", str(out), "a red circle", steps=2)
        [image] = Generator(library).generate(request)
        assert Path(image.path).is_file()

"""Importing AUTOMATIC1111 infotext: from a PNG `parameters` chunk and a JPEG/WebP UserComment."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from core.formats.exif import decode_user_comment
from core.formats.importer import import_image
from core.formats.png import write_png

INFOTEXT = """a castle on a hill, <lora:add_detail:0.8>
golden hour, 日本の庭
Negative prompt: blurry, lowres,
bad hands
Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567890, \
Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, \
Clip skip: 2, Hires upscale: 2, Hires steps: 10, Hires upscaler: Latent, \
Lora hashes: "add_detail: 7c6bad76eb54, film: 0123456789ab", ADetailer model: face_yolov8n.pt, \
Version: v1.9.4"""


def _image() -> Image.Image:
    return Image.new("RGB", (32, 48), (90, 120, 200))


def user_comment(text: str, prefix: bytes = b"UNICODE\0", codec: str = "utf-16-be") -> bytes:
    """What piexif.helper.UserComment.dump(text, encoding="unicode") writes (A1111's way)."""
    return prefix + text.encode(codec)


def _save_with_comment(path: Path, comment: bytes) -> Path:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = comment
    _image().save(path, exif=exif, quality=90)
    return path


def _check_documented_example(path: Path) -> None:
    imported = import_image(path)
    request = imported.request
    assert imported.format == "a1111"
    assert imported.source_path == str(path)
    assert request.task == "text2img"
    assert request.prompt == "a castle on a hill, <lora:add_detail:0.8>\ngolden hour, 日本の庭"
    assert request.negative_prompt == "blurry, lowres,\nbad hands"
    assert (request.steps, request.cfg_scale, request.seed) == (28, 6.5, 1234567890)
    assert (request.width, request.height) == (512, 768)
    assert request.scheduler == "dpmpp_2m_karras"
    assert request.clip_skip == 1  # A1111 "Clip skip: 2" = skip one layer
    assert request.model == "v1-5-pruned-emaonly"
    assert request.strength == 0.75  # 0.45 belongs to the Hires fix pass, not an init image
    unmapped = "\n".join(imported.unmapped)
    for key in ("Hires upscale: 2", "Hires steps: 10", "Hires upscaler: Latent"):
        assert key in unmapped
    assert "ADetailer model: face_yolov8n.pt" in unmapped
    assert "Lora hashes: add_detail: 7c6bad76eb54, film: 0123456789ab" in unmapped
    assert "<lora:add_detail:0.8>" in unmapped
    assert "Denoising strength: 0.45" in unmapped
    assert any("model not in library" in note for note in imported.notes)
    assert any("v1.9.4" in note for note in imported.notes)


def test_png_parameters_chunk(tmp_path: Path) -> None:
    path = tmp_path / "a1111.png"
    write_png(_image(), path, {"parameters": INFOTEXT})
    _check_documented_example(path)


@pytest.mark.parametrize("suffix", ["jpg", "webp"])
def test_exif_user_comment_in_jpeg_and_webp(tmp_path: Path, suffix: str) -> None:
    path = _save_with_comment(tmp_path / f"a1111.{suffix}", user_comment(INFOTEXT))
    _check_documented_example(path)


def test_user_comment_encodings() -> None:
    text = "a cat, 猫\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512"
    assert decode_user_comment(user_comment(text)) == text
    assert decode_user_comment(user_comment(text, codec="utf-16-le")) == text
    assert decode_user_comment(b"UNICODE\0\xff\xfe" + text.encode("utf-16-le")) == text
    assert decode_user_comment(user_comment(text, b"ASCII\0\0\0", "utf-8")) == text
    assert decode_user_comment(user_comment(text, b"\0" * 8, "utf-8")) == text
    assert decode_user_comment(text.encode("utf-8")) == text


def test_little_endian_user_comment_in_jpeg(tmp_path: Path) -> None:
    comment = user_comment(INFOTEXT, codec="utf-16-le")
    path = _save_with_comment(tmp_path / "le.jpg", comment)
    _check_documented_example(path)


def test_old_sampler_form_unknown_sampler_and_denoising(tmp_path: Path) -> None:
    text = (
        "portrait\nSteps: 12, Sampler: DPM++ 2M Karras, CFG scale: 5, Seed: 3, Size: 512x512, "
        "Denoising strength: 0.6, Mask blur: 4"
    )
    path = tmp_path / "img2img.png"
    write_png(_image(), path, {"parameters": text})
    imported = import_image(path)
    assert imported.request.scheduler == "dpmpp_2m_karras"
    assert imported.request.strength == 0.6
    assert imported.request.task == "text2img"
    assert any("init image is not in the file" in note for note in imported.notes)
    assert "Mask blur: 4" in imported.unmapped

    write_png(_image(), path, {"parameters": text.replace("DPM++ 2M Karras", "DPM++ 3M SDE")})
    imported = import_image(path)
    assert imported.request.scheduler is None
    assert "Sampler: DPM++ 3M SDE" in imported.unmapped


def test_no_model_named_gives_unknown(tmp_path: Path) -> None:
    path = tmp_path / "bare.png"
    write_png(_image(), path, {"parameters": "just a prompt\nSteps: 20, Seed: 1, CFG scale: 7"})
    imported = import_image(path)
    assert imported.request.prompt == "just a prompt"
    assert imported.request.model == "unknown"
    assert any("unknown" in note for note in imported.notes)


def test_sdxl_refiner_becomes_the_refiner_handoff(tmp_path: Path) -> None:
    path = tmp_path / "refined.png"
    text = (
        "a lighthouse\nSteps: 30, Seed: 5, CFG scale: 7, Size: 1024x1024, Model: sd_xl_base_1.0, "
        "Refiner: sd_xl_refiner_1.0 [7440042bbd], Refiner switch at: 0.75"
    )
    write_png(_image(), path, {"parameters": text})
    imported = import_image(path)
    assert (imported.request.refiner, imported.request.high_noise_frac) == (
        "sd_xl_refiner_1.0",
        0.75,
    )
    assert imported.field_sources["refiner"] == "A1111 infotext Refiner"
    assert not any(u.startswith("Refiner") for u in imported.unmapped)

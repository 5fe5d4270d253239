"""``lslib predict``: prompts/preset/prompt-set, bands and sensors, PNG without georeferencing, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401 - the .rio accessor
import torch
import xarray as xr

from lslib.cli.main import main
from lslib.data.readers import write_geotiff
from lslib.model.build import build_model, save_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_model(build_model("tiny"), tmp_path_factory.mktemp("ckpt") / "tiny")


def image(path: Path, *, bands: int = 4, wavelengths: bool = True, size: int = 72) -> Path:
    rng = np.random.default_rng(1)
    data = rng.uniform(0.02, 0.4, (bands, size, size)).astype(np.float32)
    names = ["red", "green", "blue", "nir"][:bands]
    coords = {"band": names, "y": 5e6 - 10 * (np.arange(size) + 0.5), "x": 4e5 + 10 * (np.arange(size) + 0.5)}
    if wavelengths:
        coords["wavelength"] = ("band", [0.665, 0.56, 0.49, 0.842][:bands])
    da = xr.DataArray(data, dims=("band", "y", "x"), coords=coords).rio.write_crs("EPSG:32633")
    return write_geotiff(da, path)


def run(*args: str | Path) -> int:
    return main(["predict", *map(str, args)])


def test_prompts_with_tagged_geotiff(tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = image(tmp_path / "img.tif")
    out = tmp_path / "out"
    assert run("--image", img, "--prompts", "water, forest, cropland, built-up area", "--out", out,
               "--checkpoint", checkpoint, "--tile", 64, "--overlap", 16, "-q") == 0  # fmt: skip
    text = capsys.readouterr().out
    assert f"{72 * 72} pixels mapped" in text and str(out / "class_map.tif") in text
    doc = json.loads((out / "map.json").read_text())
    assert [c["name"] for c in doc["prompts"]["classes"]] == ["water", "forest", "cropland", "built-up area"]
    assert (out / "prompts.yaml").read_text().count("name:") >= 4
    # per-class areas are printed without -q
    out2 = tmp_path / "out2"
    assert run("--image", img, "--prompts", "water, forest", "--out", out2, "--checkpoint", checkpoint,
               "--tile", 64, "--overlap", 16) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "hectares" in text and "forest" in text and "unknown" in text


def test_png_without_georeferencing_needs_sensor_and_warns(
    tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "photo.png"
    rgb = np.random.default_rng(0).integers(0, 255, (3, 50, 60), dtype=np.uint8)
    with rasterio.open(png, "w", driver="PNG", width=60, height=50, count=3, dtype="uint8") as dst:
        dst.write(rgb)
    assert run("--image", png, "--prompts", "water, forest", "--out", tmp_path / "o1", "--checkpoint", checkpoint,
               "-q") == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "--bands" in err and "--sensor" in err
    assert run("--image", png, "--prompts", "water, forest", "--out", tmp_path / "o2", "--checkpoint", checkpoint,
               "--sensor", "rgb", "-q") == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "pixel coordinates" in err
    with rasterio.open(tmp_path / "o2" / "class_map.tif") as src:
        assert src.crs is None and src.shape == (50, 60)
    doc = json.loads((tmp_path / "o2" / "map.json").read_text())
    assert doc["pixel_coordinates"] and doc["pixels_mapped"] == 3000


@pytest.mark.parametrize(
    ("bands", "ok"),
    [("red,green,blue,nir", True), ("0.665,0.56,0.49,0.842", True), ("B04,B03,B02,B08", True),
     ("red,green,blue", False), ("red,green,blue,plaid", False)],
)  # fmt: skip
def test_bands_parsing(tmp_path: Path, checkpoint: Path, bands: str, ok: bool, capsys) -> None:  # type: ignore[no-untyped-def]
    img = image(tmp_path / "plain.tif", wavelengths=False, size=40)
    code = run("--image", img, "--prompts", "water, forest", "--out", tmp_path / "o", "--checkpoint", checkpoint,
               "--bands", bands, "-q")  # fmt: skip
    assert code == (0 if ok else 2)
    if not ok:
        err = capsys.readouterr().err
        assert "band" in err and not (tmp_path / "o" / "class_map.tif").exists()


def test_overwrite_refusal_preset_and_prompt_set(tmp_path: Path, checkpoint: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    img = image(tmp_path / "img.tif", size=40)
    out = tmp_path / "out"
    base = ["--image", img, "--out", out, "--checkpoint", checkpoint, "-q"]
    assert run(*base, "--prompts", "water, forest") == 0
    before = (out / "class_map.tif").read_bytes()
    assert run(*base, "--preset", "worldcereal") == 2
    assert "--overwrite" in capsys.readouterr().err and (out / "class_map.tif").read_bytes() == before
    assert run(*base, "--prompts", "water, forest") == 0  # same map: already complete, nothing recomputed
    assert "0 blocks computed" in capsys.readouterr().out
    assert run(*base, "--preset", "worldcereal", "--overwrite") == 0
    doc = json.loads((out / "map.json").read_text())
    assert doc["prompts"]["taxonomy"] == "worldcereal"
    # a prompt-set file round trip: the saved prompts.yaml maps the same thing again
    out3 = tmp_path / "again"
    assert run("--image", img, "--out", out3, "--checkpoint", checkpoint, "-q", "--prompt-set",
               out / "prompts.yaml") == 0  # fmt: skip
    assert (out3 / "class_map.tif").exists()
    with rasterio.open(out / "class_map.tif") as a, rasterio.open(out3 / "class_map.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
    assert run(*base, "--prompts", " , ") == 2
    assert "empty" in capsys.readouterr().err


def test_untrained_variant_warns_loudly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = image(tmp_path / "img.tif", size=32)
    assert run("--image", img, "--prompts", "water", "--out", tmp_path / "o", "--variant", "tiny", "-q") == 0
    assert "UNTRAINED" in capsys.readouterr().err


@pytest.mark.skipif(__import__("importlib.util").util.find_spec("open_clip") is None,
                    reason="the CLIP BPE vocabulary comes from `pip install --no-deps open-clip-torch` (make install)")
def test_official_fusion_with_a_local_clip_folder(tmp_path: Path, checkpoint: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """``lslib predict --clip FOLDER --mode official --phrases max``: a randomly initialised CLIP saved as a user's
    downloaded folder; the map is written and ``map.json`` says which knowledge, reduction and threshold made it."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    common = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 2}
    cfg = CLIPConfig(text_config=common | {"max_position_embeddings": 77, "eos_token_id": 49407, "pad_token_id": 49407},
                     vision_config=common | {"image_size": 64, "patch_size": 16}, projection_dim=32)
    clip = tmp_path / "clip"
    CLIPModel(cfg).save_pretrained(clip)
    img, out = image(tmp_path / "img.tif"), tmp_path / "out"
    assert run("--image", img, "--prompts", "water, forest, cropland", "--out", out, "--checkpoint", checkpoint,
               "--clip", clip, "--mode", "official", "--phrases", "max", "--thr", 0.4, "-q") == 0  # fmt: skip
    doc = json.loads((out / "map.json").read_text())
    assert (doc["fusion_mode"], doc["clip_knowledge"], doc["phrase_reduction"], doc["official_thr"]) == (
        "official", str(clip), "max", 0.4)
    with rasterio.open(out / "class_map.tif") as src:
        assert src.read(1).shape == (72, 72)
    capsys.readouterr()


def test_a_hub_clip_offline_fails_at_once(tmp_path: Path, checkpoint: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert run("--image", image(tmp_path / "img.tif"), "--prompts", "water, forest", "--out", tmp_path / "out",
               "--checkpoint", checkpoint, "--clip", "openai/clip-vit-base-patch16", "-q") == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "offline" in err and "hf download openai/clip-vit-base-patch16 --local-dir" in err
    assert not (tmp_path / "out" / "class_map.tif").exists()  # nothing written before the refusal

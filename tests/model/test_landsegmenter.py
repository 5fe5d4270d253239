"""LandSegmenter composition: any band set and any K, adapter-off = backbone, determinism, checkpoints."""

from __future__ import annotations

import math
import pickle
import time
from pathlib import Path

import pytest
import torch

from lslib.data.bands import wavelengths
from lslib.model.build import VARIANTS, build_model, count_parameters, load_model, save_model
from lslib.model.image_encoder import OfflineWeightsError
from lslib.model.landsegmenter import band_codes, rgb_composite
from lslib.model.spectral_adapter import normalise_bands, robust_band_stats

S2_L2A = list(wavelengths("sentinel2_l2a"))
BAND_SETS = {
    "rgb": [0.665, 0.56, 0.49],
    "rgbn": list(wavelengths("naip")),
    "landsat6": list(wavelengths("landsat8", ["SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7"])),
    "s2-12": S2_L2A,
    "s2-13": list(wavelengths("sentinel2_l1c")),
    "s1-sar": list(wavelengths("sentinel1")),
}


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("tiny").eval()


def _text(k: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(k)
    return torch.nn.functional.normalize(torch.randn(k, 384, generator=g), dim=-1)


def _image(c: int, h: int = 64, w: int = 96, sar: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(c)
    x = torch.rand(2, c, h, w, generator=g)
    return x * 20 - 25 if sar else x * 0.4


@pytest.mark.parametrize("bands", list(BAND_SETS))
@pytest.mark.parametrize("k", [1, 5, 20])
def test_shapes_for_every_band_set_and_k(model: torch.nn.Module, bands: str, k: int) -> None:
    waves = BAND_SETS[bands]
    names = ["VV", "VH"] if bands == "s1-sar" else None
    with torch.inference_mode():
        out = model(_image(len(waves), sar=bands == "s1-sar"), waves, _text(k), band_names=names)
    assert out.mask_logits.shape == (2, k, 64, 96)
    assert out.presence_logits.shape == (2, k)
    assert out.similarity.shape == (2, k, 64, 96)
    assert torch.isfinite(out.mask_logits).all() and out.similarity.abs().max() <= 1.0


def test_nan_nodata_and_odd_sizes(model: torch.nn.Module) -> None:
    x = _image(12, 37, 50)
    x[:, :, :5] = float("nan")
    with torch.inference_mode():
        out = model(x, S2_L2A, _text(3))
    assert out.mask_logits.shape == (2, 3, 37, 50) and torch.isfinite(out.mask_logits).all()


def test_bad_inputs(model: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="C = 3 wavelengths"):
        model.encode_image(_image(4), [0.6, 0.5, 0.4])
    with pytest.raises(ValueError, match="must be"):
        model.encode_image(torch.rand(4, 32, 32), [0.6, 0.5, 0.4, 0.8])


def test_sar_polarisations_get_their_own_tokens(model: torch.nn.Module) -> None:
    waves = torch.tensor(BAND_SETS["s1-sar"])
    assert band_codes(waves, ["VV", "VH"]).tolist() == [1, 2]
    assert band_codes(torch.tensor(S2_L2A[:3])).tolist() == [0, 0, 0]
    embed = model.spectral.embed
    w_vv_vh, _ = embed.kernels(waves, model.pol_embed(band_codes(waves, ["VV", "VH"])))
    w_vh_vv, _ = embed.kernels(waves, model.pol_embed(band_codes(waves, ["VH", "VV"])))
    assert not torch.allclose(w_vv_vh, w_vh_vv)  # swapping polarisations changes the kernels
    torch.testing.assert_close(w_vv_vh[:, 0], w_vh_vv[:, 1])  # ... consistently per band


def test_rgb_composite_picks_true_colour() -> None:
    x = torch.arange(12, dtype=torch.float32).view(1, 12, 1, 1) / 100
    rgb = rgb_composite(x, torch.tensor(S2_L2A))
    torch.testing.assert_close(rgb.flatten(), torch.tensor([0.03, 0.02, 0.01]))  # B04, B03, B02


def test_robust_stretch_by_hand() -> None:
    # one band, values 0, 1, 2, 3 (mean 1.5, std sqrt(1.25)); k = 2 -> low = 1.5 - 2.236, high = 1.5 + 2.236
    x = torch.tensor([0.0, 1.0, 2.0, 3.0]).view(1, 1, 2, 2)
    stats = robust_band_stats(x)
    half = 2 * math.sqrt(1.25)
    torch.testing.assert_close(stats[0, 0], torch.tensor([1.5 - half, 1.5 + half]))
    unit = normalise_bands(x, stats=stats)
    torch.testing.assert_close(unit.flatten(), (torch.tensor([0.0, 1.0, 2.0, 3.0]) - 1.5 + half) / (2 * half))
    # an outlier is clipped; NaN (nodata) is ignored by the stats and becomes 0
    y = torch.tensor([0.0, 0.1, 0.2, 0.1, 0.1, 0.0, 0.2, 0.1, 50.0, float("nan")]).view(1, 1, 2, 5)
    u = normalise_bands(y)
    assert u.max() == 1.0 and u[0, 0, 1, 4] == 0.0 and torch.all((u >= 0) & (u <= 1))


def test_stretch_makes_scale_and_display_equivalent(model: torch.nn.Module) -> None:
    """Reflectance, DN x 1e4 and the same scene affinely rendered for display give one embedding."""
    x = _image(12)
    dn = x * 10_000.0
    display = x * 2.5 + 0.01
    with torch.inference_mode():
        a, b, c = (model.encode_image(v, S2_L2A).neck for v in (x, dn, display))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(a, c, rtol=1e-4, atol=1e-4)


def test_scene_stats_override_the_window_stretch(model: torch.nn.Module) -> None:
    x = _image(12)
    stats = robust_band_stats(x)
    with torch.inference_mode():
        own = model.encode_image(x, S2_L2A).neck
        given = model.encode_image(x, S2_L2A, norm_stats=stats).neck
        other = model.encode_image(x, S2_L2A, norm_stats=stats * 2).neck
    torch.testing.assert_close(own, given)
    assert not torch.allclose(own, other)


def test_adapter_off_equals_backbone_and_zero_init_is_identity(model: torch.nn.Module) -> None:
    x = _image(12)
    with torch.inference_mode():
        rgb = rgb_composite(normalise_bands(x), torch.tensor(S2_L2A))
        f = model.image_encoder(rgb)
        expected = model.neck(f[2], f[3])
        model.use_adapter = False
        try:
            off = model.encode_image(x, S2_L2A)
        finally:
            model.use_adapter = True
        on = model.encode_image(x, S2_L2A)  # fusion output convs are zero-initialised
    torch.testing.assert_close(off.neck, expected, rtol=0, atol=0)
    torch.testing.assert_close(on.neck, expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(off.high_res[0], f[0], rtol=0, atol=0)


def test_eval_is_deterministic(model: torch.nn.Module) -> None:
    x, t = _image(12), _text(5)
    with torch.inference_mode():
        a, b = model(x, S2_L2A, t), model(x, S2_L2A, t)
    assert torch.equal(a.mask_logits, b.mask_logits) and torch.equal(a.similarity, b.similarity)


def test_save_load_round_trip_is_identical(model: torch.nn.Module, tmp_path: Path) -> None:
    for p in model.fusions[0].out.parameters():  # make the adapter matter
        torch.nn.init.normal_(p, std=0.02)
    save_model(model, tmp_path / "ckpt", metadata={"trained_on": "nothing"})
    loaded = load_model(tmp_path / "ckpt")
    x, t = _image(12), _text(4)
    with torch.inference_mode():
        a, b = model(x, S2_L2A, t), loaded(x, S2_L2A, t)
    assert torch.equal(a.mask_logits, b.mask_logits) and torch.equal(a.presence_logits, b.presence_logits)
    assert build_model("tiny", checkpoint=tmp_path / "ckpt").config == model.config
    with pytest.raises(ValueError, match="is a 'tiny' model, not 'base'"):
        build_model("base", checkpoint=tmp_path / "ckpt")


def test_bad_checkpoints(model: torch.nn.Module, tmp_path: Path) -> None:
    evil = tmp_path / "model.pt"
    evil.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(ValueError, match="never unpickles"):
        load_model(evil)
    folder = save_model(model, tmp_path / "trunc")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_model(folder)
    with pytest.raises(FileNotFoundError, match="no lslib checkpoint"):
        load_model(tmp_path / "nothing")
    # weights of another project/variant: same file names, other tensors
    other = save_model(model, tmp_path / "other")
    from safetensors.torch import save_file

    save_file({"encoder.weight": torch.zeros(3, 3)}, str(other / "model.safetensors"))
    with pytest.raises(ValueError, match=r"294 \[.*\] missing, 1 \[encoder.weight\] unexpected"):
        load_model(other)


def test_offline_hub_weights_fail_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(OfflineWeightsError, match=r"facebook/sam2\.1-hiera-tiny"):
        build_model("base", pretrained_backbone=True)
    assert time.perf_counter() - t0 < 20
    with pytest.raises(ValueError, match="no released backbone"):
        build_model("tiny", pretrained_backbone=True)


def test_parameter_counts_per_variant(capsys: pytest.CaptureFixture[str]) -> None:
    counts = {}
    for name in VARIANTS:
        if name == "paper":  # ~80 M parameters: counted from the config without building twice in CI
            continue
        counts[name] = count_parameters(build_model(name))
    with capsys.disabled():
        for name, c in counts.items():
            print(f"\n{name}: " + ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in c.items()))
    assert counts["tiny"]["total"] < 5e6 < counts["base"]["total"]
    assert counts["tiny"]["image_encoder"] == pytest.approx(1.37e6, rel=0.05)


def test_class_names_end_to_end(model: torch.nn.Module) -> None:
    text = model.encode_prompts(["water", "tree cover", "cropland"], descriptions=[None, "trees taller than 5 m", None])
    assert text.shape == (3, 384) and torch.allclose(text.norm(dim=1), torch.ones(3))
    with torch.inference_mode():
        out = model(_image(12), S2_L2A, text)
    assert out.mask_logits.shape == (2, 3, 64, 96)
    again = model.encode_prompts(
        ["water", "tree cover", "cropland"], descriptions=[None, "trees taller than 5 m", None]
    )
    assert torch.equal(text, again)  # cached, deterministic

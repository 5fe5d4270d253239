"""Predictor: encode once, prompt many times; caches, georeferencing, nodata, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from lslib.inference import Predictor, assign_bands, image_tensor
from lslib.inference.predictor import resolve_prompts
from lslib.model.build import build_model
from lslib.prompt_set import ClassPrompt, from_names


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("tiny").eval()


@pytest.fixture(scope="module")
def scene(sample) -> xr.DataArray:  # type: ignore[no-untyped-def]
    from lslib.data.readers import read_sentinel2

    return read_sentinel2(sample("terramesh-examples-s2-esri-lulc/S2L2A/433D_629L_3_1.tif"))


def test_prediction_is_on_the_image_grid(model, scene) -> None:  # type: ignore[no-untyped-def]
    p = Predictor(model, device="cpu")
    p.set_image(scene)
    pred = p.predict("water, forest, cropland, built-up area", probabilities=True)
    assert pred.class_map.shape == scene.shape[1:]
    assert pred.class_map.rio.crs == scene.rio.crs
    assert pred.class_map.rio.transform() == scene.rio.transform()
    assert pred.class_map.dtype == np.int16
    assert set(np.unique(pred.class_map.values)) <= {-1, 0, 1, 2, 3}
    assert pred.probabilities is not None and pred.probabilities.shape == (4, *scene.shape[1:])
    # confidence is the winning class's fused score
    best = pred.probabilities.max("class").values
    np.testing.assert_allclose(pred.confidence.values, best, rtol=1e-6)
    rows = pred.areas()
    assert abs(sum(r["percent"] for r in rows) - 100) < 1e-6
    assert rows[0]["hectares"] == pytest.approx(rows[0]["pixels"] * 100 / 1e4)  # 10 m pixels



def test_the_engine_never_picks_a_model(model, scene) -> None:  # type: ignore[no-untyped-def]
    """``Predictor(model)`` requires a model (the app layer picks the default); ``current_key``: the image mapped."""
    with pytest.raises(TypeError):
        Predictor()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="needs a model"):
        Predictor(None)
    p = Predictor(model, device="cpu")
    assert p.current_key is None
    assert p.set_image(scene) == p.current_key == Predictor.image_key(scene)

def test_same_as_full_model_forward(model, scene) -> None:  # type: ignore[no-untyped-def]
    """Cached path == one forward pass + fusion at stride 4 + one upsampling, bit for bit; and within
    boundary pixels of fusing the upsampled maps (the slower, equivalent-in-spirit order)."""
    import torch.nn.functional as F

    from lslib.fusion import decide, fuse, fused_scores

    p = Predictor(model, device="cpu")
    p.set_image(scene)
    names = ["water", "trees", "crops"]
    pred = p.predict(names)
    image, waves, bands = image_tensor(scene)
    with torch.inference_mode():
        text = torch.stack([model.encode_prompts([n], batch_size=16)[0] for n in names])
        emb = model.encode_image(image, waves, bands)
        low = model.decode(emb, text, upsample=False)
        scores, _ = fused_scores(low.mask_logits, low.presence_logits, low.similarity,
                                 scale=model.alignment.scale(), mode=p.mode)
        full = F.interpolate(scores, size=(emb.neck.shape[-2] * 16, emb.neck.shape[-1] * 16), mode="bilinear")
        ref, _ = decide(full[..., : scene.sizes["y"], : scene.sizes["x"]])
        out = model(image, waves, text, band_names=bands)
        late = fuse(out.mask_logits, out.presence_logits, out.similarity, scale=model.alignment.scale(), mode=p.mode)
    np.testing.assert_array_equal(pred.class_map.values, ref[0].numpy())
    assert (pred.class_map.values == late.class_index[0].numpy()).mean() > 0.98


def test_caches_image_and_prompts(model, scene) -> None:  # type: ignore[no-untyped-def]
    p = Predictor(model, device="cpu")
    p.set_image(scene)
    p.predict(["water", "forest", "cropland"])
    assert p.stats == {"image_encodes": 1, "text_encodes": 3, "predicts": 1}
    p.predict(["water", "woodland", "cropland"])  # one name edited -> one new prompt encoded
    assert p.stats["text_encodes"] == 4
    p.set_image(scene)  # same pixels: not re-encoded
    assert p.stats["image_encodes"] == 1
    p.predict(["water", "woodland", "cropland"])
    assert p.stats["text_encodes"] == 4


def test_lru_is_bounded_in_bytes(model, scene) -> None:  # type: ignore[no-untyped-def]
    p = Predictor(model, device="cpu", cache_bytes=1)
    a = p.set_image(scene)
    b = p.set_image(scene.isel(x=slice(0, 128)))
    assert p.stats["image_encodes"] == 2
    assert list(p._embeddings) == [b]  # the older one was evicted, the current one is kept
    p.set_image(scene)
    assert p.stats["image_encodes"] == 3 and a in p._embeddings


def test_nodata_pixels_are_unknown(model, scene) -> None:  # type: ignore[no-untyped-def]
    holed = scene.copy()
    holed[:, :20, :30] = np.nan
    p = Predictor(model, device="cpu")
    p.set_image(holed)
    pred = p.predict(["water", "forest"])
    assert (pred.class_map.values[:20, :30] == -1).all()
    assert np.isnan(pred.confidence.values[:20, :30]).all()
    assert np.isfinite(pred.confidence.values[20:, 30:]).all()


def test_thresholds_make_unknown(model, scene) -> None:  # type: ignore[no-untyped-def]
    p = Predictor(model, device="cpu")
    p.set_image(scene)
    strict = from_names(["water", "forest"], threshold=1.0)  # fused scores stay below 1 for an untrained model
    assert (p.predict(strict).class_map.values == -1).all()
    one = strict.with_class(ClassPrompt("cropland", threshold=0.0))
    values = p.predict(one).class_map.values
    assert set(np.unique(values)) <= {-1, 2}


def test_odd_sizes_and_one_pixel(model, scene) -> None:  # type: ignore[no-untyped-def]
    p = Predictor(model, device="cpu")
    for sub in (scene.isel(y=slice(0, 37), x=slice(0, 101)), scene.isel(y=slice(5, 6), x=slice(7, 8))):
        p.set_image(sub)
        pred = p.predict(["water", "forest"])
        assert pred.class_map.shape == sub.shape[1:]


def test_input_errors_say_what_to_do(model, scene) -> None:  # type: ignore[no-untyped-def]
    p = Predictor(model, device="cpu")
    with pytest.raises(RuntimeError, match="set_image"):
        p.predict(["water"])
    with pytest.raises(ValueError, match="assign_bands"):
        p.set_image(scene.drop_vars("wavelength"))
    with pytest.raises(ValueError, match="no valid pixel"):
        p.set_image(scene * np.nan)
    with pytest.raises(ValueError, match="dims"):
        p.set_image(scene.isel(band=0))
    p.set_image(scene)
    with pytest.raises(ValueError):
        p.predict("  ,  ")
    with pytest.raises(ValueError, match="duplicate"):
        resolve_prompts(["Water", "water "])


def test_assign_bands_names_and_wavelengths() -> None:
    da = xr.DataArray(np.ones((4, 3, 3), np.float32), dims=("band", "y", "x"))
    out = assign_bands(da, sensor="naip")
    assert list(out["band"].values) == ["R", "G", "B", "N"]
    np.testing.assert_allclose(out["wavelength"].values, [0.635, 0.56, 0.46, 0.86])
    out = assign_bands(da, bands="red, green, blue, 0.842")
    np.testing.assert_allclose(out["wavelength"].values[-1], 0.842)
    with pytest.raises(ValueError, match="4 bands but 3"):
        assign_bands(da, bands="red,green,blue")
    with pytest.raises(ValueError, match="unknown band"):
        assign_bands(da, bands="red,green,blue,ultraviolet")
    with pytest.raises(ValueError, match="unknown sensor"):
        assign_bands(da, sensor="worldview")
    with pytest.raises(ValueError, match="repeat"):
        assign_bands(da, bands="red,red,blue,nir")


def test_complex_images_are_refused() -> None:
    da = xr.DataArray(np.ones((2, 4, 4), np.complex64), dims=("band", "y", "x"))
    da = assign_bands(da, sensor="sentinel1")
    with pytest.raises(TypeError, match="real-valued"):
        image_tensor(da)


def test_scene_stretch_is_shared_by_windows_and_checked(model, scene) -> None:  # type: ignore[no-untyped-def]
    """A window carrying its scene's stretch encodes unlike the same window stretched alone; bad stats are refused."""
    from lslib.inference import with_scene_stretch

    stretched = with_scene_stretch(scene)
    stats = np.asarray(stretched.attrs["norm_stats"])
    assert stats.shape == (scene.sizes["band"], 2) and np.all(stats[:, 0] < stats[:, 1])
    assert with_scene_stretch(stretched) is stretched  # kept when present
    window = stretched.isel(y=slice(0, 64), x=slice(0, 64))
    assert window.attrs["norm_stats"] == stretched.attrs["norm_stats"]
    alone = window.copy()
    alone.attrs = {k: v for k, v in window.attrs.items() if k != "norm_stats"}
    pred = Predictor(model, device="cpu")
    pred.set_image(window)
    shared = pred.embedding.neck.clone()
    pred.set_image(alone)
    assert not torch.allclose(shared, pred.embedding.neck)
    with pytest.raises(ValueError, match="norm_stats"):
        pred.set_image(window.assign_attrs(norm_stats=[[0.0, 1.0]]))

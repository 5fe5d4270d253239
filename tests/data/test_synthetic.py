"""Synthetic scenes: grid, determinism, blob labels and class-specific spectra."""

from __future__ import annotations

import numpy as np
import pytest

from lslib.data.synthetic import TAXONOMY_CLASSES, make_scene, spectral_signature

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")


def _mean_spectrum(image: np.ndarray, label: np.ndarray, code: int) -> np.ndarray:
    return image[:, label == code].mean(axis=1)


def test_grid_and_metadata() -> None:
    img, lab = make_scene(height=40, width=56, crs="EPSG:32633", gsd=20.0, seed=1)
    assert img.dims == ("band", "y", "x") and img.shape == (12, 40, 56) and img.dtype == np.float32
    assert lab.dims == ("y", "x") and lab.shape == (40, 56) and lab.dtype == np.uint8
    assert img.rio.crs.to_epsg() == 32633 and lab.rio.crs.to_epsg() == 32633
    assert img.rio.transform() == lab.rio.transform()
    assert tuple(img.rio.transform())[:6] == (20.0, 0.0, 500_000.0, 0.0, -20.0, 5_000_000.0)
    np.testing.assert_array_equal(img["x"].values, lab["x"].values)
    np.testing.assert_array_equal(img["y"].values, lab["y"].values)
    assert list(img["band"].values)[:4] == ["B01", "B02", "B03", "B04"]
    assert img["wavelength"].values[3] == pytest.approx(0.6646)
    assert img.attrs["sensor"] == "sentinel2_l2a" and img.attrs["gsd"] == 20.0
    assert img.attrs["units"] == "reflectance" and np.isnan(img.rio.nodata)
    assert lab.attrs["taxonomy"] == "esa_worldcover" and lab.rio.nodata == 0
    assert float(img.min()) >= 0.0 and not np.isnan(img.values).any()


def test_deterministic_for_a_seed() -> None:
    a_img, a_lab = make_scene(seed=7)
    b_img, b_lab = make_scene(seed=7)
    _, c_lab = make_scene(seed=8)
    np.testing.assert_array_equal(a_img.values, b_img.values)
    np.testing.assert_array_equal(a_lab.values, b_lab.values)
    assert not np.array_equal(a_lab.values, c_lab.values)


def test_all_classes_present_as_blobs() -> None:
    _, lab = make_scene(height=64, width=64, seed=0)
    codes, counts = np.unique(lab.values, return_counts=True)
    assert set(codes) == set(TAXONOMY_CLASSES["esa_worldcover"][0])
    # blob-shaped: most 4-neighbours share the label (white noise would give about 1/11)
    v = lab.values
    same = np.concatenate([(v[1:] == v[:-1]).ravel(), (v[:, 1:] == v[:, :-1]).ravel()]).mean()
    assert same > 0.85
    assert counts.min() >= 10


def test_class_spectra_are_physical() -> None:
    img, lab = make_scene(height=96, width=96, classes=[10, 50, 60, 70, 80], seed=2)
    image, label = img.values, lab.values
    band = {str(b): i for i, b in enumerate(img["band"].values)}
    water, tree, built, bare, snow = (_mean_spectrum(image, label, c) for c in (80, 10, 50, 60, 70))
    assert set(np.unique(label)) == {10, 50, 60, 70, 80}
    assert water[band["B08"]] < 0.02 and water[band["B08"]] < water[band["B02"]]
    assert tree[band["B07"]] > 3 * tree[band["B04"]]  # red edge
    assert tree[band["B08"]] > 0.25 > tree[band["B04"]]
    vis_nir = built[[band[b] for b in ("B02", "B03", "B04", "B08")]]
    assert vis_nir.max() / vis_nir.min() < 1.5 and vis_nir.min() > 0.1  # flat and bright
    assert bare[band["B02"]] < bare[band["B04"]] < bare[band["B11"]]  # rising into the SWIR
    assert snow[band["B02"]] > 0.8 and snow[band["B11"]] < 0.2  # bright VIS, dark SWIR


def test_sar_and_other_taxonomies() -> None:
    img, lab = make_scene(
        sensor="sentinel1", taxonomy="terramesh_lulc", classes=[1, 2, 5], height=48, width=48
    )
    assert list(img["band"].values) == ["VV", "VH"] and img.attrs["units"] == "dB"
    vv = _mean_spectrum(img.values, lab.values, 1)[0], _mean_spectrum(img.values, lab.values, 5)[0]
    assert vv[0] < -18 and vv[1] > -7  # calm water dark, built-up bright
    assert float(img.sel(band="VH").mean()) < float(img.sel(band="VV").mean())
    img2, lab2 = make_scene(sensor="landsat8", taxonomy="nlcd", classes=[11, 42, 82], height=32, width=32)
    assert img2.shape == (7, 32, 32) and set(np.unique(lab2.values)) == {11, 42, 82}


def test_signature_interpolation() -> None:
    np.testing.assert_allclose(spectral_signature("tree", [0.665, 0.865]), [0.03, 0.33])
    with pytest.raises(ValueError, match="valid"):
        spectral_signature("lava", [0.5])


def test_errors() -> None:
    with pytest.raises(ValueError, match="valid: esa_worldcover"):
        make_scene(taxonomy="modis")
    with pytest.raises(ValueError, match="valid codes"):
        make_scene(classes=[10, 11])
    with pytest.raises(ValueError, match="projected"):
        make_scene(crs="EPSG:4326")
    with pytest.raises(ValueError, match="valid sensors"):
        make_scene(sensor="modis")

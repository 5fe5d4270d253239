"""Band tables: names, order, wavelengths, aliases and errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lslib.data.bands import (
    S1_C_BAND_WAVELENGTH_UM,
    SENSORS,
    BandInfo,
    band_info,
    band_names,
    sensor_bands,
    wavelengths,
)

L2A = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")


def test_sensor_keys() -> None:
    assert set(SENSORS) == {
        "sentinel2_l2a", "sentinel2_l1c", "sentinel1", "landsat8", "landsat9", "landsat7", "naip", "rgb",
    }  # fmt: skip


def test_sentinel2_tables() -> None:
    assert band_names("sentinel2_l2a") == L2A
    l1c = band_names("sentinel2_l1c")
    assert len(l1c) == 13 and l1c[10] == "B10" and tuple(b for b in l1c if b != "B10") == L2A
    waves = wavelengths("sentinel2_l2a")
    assert np.all(np.diff(waves) > 0)  # L2A order is also wavelength order
    # ESA S2A central wavelengths (MTD_MSIL2A.xml): B04 664.6 nm, B8A 864.7 nm, B12 2202.4 nm
    np.testing.assert_allclose(wavelengths("sentinel2_l2a", ["B04", "B8A", "B12"]), [0.6646, 0.8647, 2.2024])
    gsd = {b.name: b.gsd_m for b in sensor_bands("sentinel2_l1c")}
    assert [k for k, v in gsd.items() if v == 10.0] == ["B02", "B03", "B04", "B08"]
    assert [k for k, v in gsd.items() if v == 60.0] == ["B01", "B09", "B10"]
    assert all(b.kind == "optical" for b in sensor_bands("sentinel2_l2a"))


@pytest.mark.parametrize(
    ("sensor", "alias", "name"),
    [
        ("sentinel2_l2a", "red", "B04"),
        ("sentinel2_l2a", "B4", "B04"),
        ("sentinel2_l2a", "b04", "B04"),
        ("sentinel2_l2a", "nir", "B08"),
        ("sentinel2_l2a", "nir08", "B8A"),
        ("sentinel2_l2a", "b8a", "B8A"),
        ("sentinel2_l2a", "swir16", "B11"),
        ("sentinel2_l1c", "cirrus", "B10"),
        ("landsat8", "red", "SR_B4"),
        ("landsat8", "B5", "SR_B5"),
        ("landsat8", "nir", "SR_B5"),
        ("landsat9", "swir22", "SR_B7"),
        ("landsat7", "nir08", "SR_B4"),
        ("naip", "nir", "N"),
        ("rgb", "R", "red"),
        ("sentinel1", "vh", "VH"),
    ],
)
def test_aliases(sensor: str, alias: str, name: str) -> None:
    assert band_info(sensor, alias).name == name


def test_landsat_tables() -> None:
    assert band_names("landsat8") == tuple(f"SR_B{i}" for i in range(1, 8))
    assert band_names("landsat7") == ("SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B7")
    # OLI band-pass midpoints: red 0.630-0.680 -> 0.655, NIR 0.845-0.885 -> 0.865
    np.testing.assert_allclose(wavelengths("landsat8", ["red", "nir08"]), [0.655, 0.865])
    assert band_info("landsat7", "red").wavelength_um == pytest.approx(0.66)
    assert all(b.gsd_m == 30.0 for b in sensor_bands("landsat9"))


def test_sar_wavelength() -> None:
    # c / 5.405 GHz = 0.0554658 m = 55 465.8 µm
    assert S1_C_BAND_WAVELENGTH_UM == pytest.approx(299_792_458 / 5.405e9 * 1e6)
    assert S1_C_BAND_WAVELENGTH_UM == pytest.approx(55_465.76, abs=0.01)
    vv, vh = sensor_bands("sentinel1")
    assert (vv.name, vh.name, vv.kind, vh.kind) == ("VV", "VH", "sar", "sar")
    assert vv.wavelength_um == vh.wavelength_um == S1_C_BAND_WAVELENGTH_UM


def test_naip_and_rgb() -> None:
    assert band_names("naip") == ("R", "G", "B", "N")
    assert band_names("rgb") == ("red", "green", "blue")
    assert np.isnan(band_info("rgb", "red").gsd_m)
    assert band_info("naip", "R").gsd_m == 0.6


def test_bandinfo_is_frozen() -> None:
    info = band_info("sentinel2_l2a", "B02")
    assert isinstance(info, BandInfo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.name = "X"  # type: ignore[misc]


def test_unknown_sensor_lists_choices() -> None:
    with pytest.raises(ValueError, match="valid sensors: sentinel2_l2a") as err:
        sensor_bands("sentinel3")
    assert "landsat8" in str(err.value)


def test_unknown_band_lists_choices() -> None:
    with pytest.raises(ValueError, match="has no band 'B10'") as err:
        band_info("sentinel2_l2a", "B10")
    assert "B8A" in str(err.value) and "red" in str(err.value)
    with pytest.raises(ValueError, match="valid bands"):
        wavelengths("landsat8", ["red", "B9"])
    with pytest.raises(TypeError):
        wavelengths("landsat8", "red")

"""Helpers of the image-input tests (``tests/data/test_images.py``, ``tests/mapui/test_reliability.py``):
a real chip, tiny GeoTIFFs written in any encoding, and ``lslib predict`` as a user runs it.

Importable from every test folder (``tests/conftest.py`` puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rioxarray  # noqa: F401 - the .rio accessor
import xarray as xr

CHIP = "terramesh-examples-s2-esri-lulc/S2L2A/282D_485L_3_3.tif"
SIZE = 48


def write_raw(
    path: Path,
    data: np.ndarray,
    like: xr.DataArray,
    *,
    descriptions: list[str] | None = None,
    scales: float | None = None,
    offsets: float | None = None,
    tags: dict[str, str] | None = None,
    nodata: float | None = None,
    crs: bool = True,
) -> Path:
    profile: dict[str, Any] = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1],
                               "count": data.shape[0], "dtype": data.dtype.name, "nodata": nodata}  # fmt: skip
    if crs:
        profile.update(crs=like.rio.crs, transform=like.rio.transform())
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if descriptions:
            for i, d in enumerate(descriptions):
                dst.set_band_description(i + 1, d)
        if scales is not None:
            dst.scales = (scales,) * data.shape[0]
        if offsets is not None:
            dst.offsets = (offsets,) * data.shape[0]
        if tags:
            dst.update_tags(**tags)
    return path


PROMPTS = "water, trees, grass, crops, built area, bare ground"


def cli_map(path: Path, out: Path, kw: dict[str, Any]) -> np.ndarray:
    """``lslib predict`` with the released default model: class index per pixel, -1 unknown/nodata."""
    from lslib.cli.main import main

    flags = [f"--{k}={v}" for k, v in kw.items()]
    assert main(["predict", "--image", str(path), "--prompts", PROMPTS, "--out", str(out), "-q", *flags]) == 0
    with rasterio.open(out / "class_map.tif") as src:
        codes = src.read(1).astype(np.int16)
    return np.where(codes >= 254, -1, codes)



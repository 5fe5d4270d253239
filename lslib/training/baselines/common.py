"""What both closed-set baselines share: per-pixel features, the chips of one subset, band checks, saved configs.

:mod:`lslib.training.baselines.forest` (the random forest, mapping and evaluation) and
:mod:`lslib.training.baselines.cnn` (the CNN) both import it; neither imports the other's internals.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from torch import Tensor

from lslib.training.dataset import LASDataset

__all__ = ["check_bands", "pixel_features", "read_config", "subset_indices"]

Array = npt.NDArray[Any]
#: (lo, hi) µm windows for the bands of the spectral indices; the band closest to the centre is used.
_WINDOWS = {"green": (0.52, 0.60), "red": (0.62, 0.70), "nir": (0.76, 0.90)}


# --- features ----------------------------------------------------------------------------------------------
def _band_in(wl: Array, window: str) -> int | None:
    lo, hi = _WINDOWS[window]
    inside = np.flatnonzero((wl >= lo) & (wl <= hi))
    return None if inside.size == 0 else int(inside[np.argmin(np.abs(wl[inside] - (lo + hi) / 2))])


def _ratio_index(a: Array, b: Array) -> Array:
    den = a + b
    out = np.zeros_like(a)
    np.divide(a - b, den, out=out, where=np.abs(den) > 1e-6)
    return np.clip(out, -1.0, 1.0)


def pixel_features(image: Tensor | Array, wavelengths: Tensor | Array | Sequence[float]) -> tuple[Array, list[str]]:
    """Per-pixel features of an image: the bands, then NDVI and NDWI where the bands exist.

    Args:
        image: ``(C, H, W)`` physical units (reflectance, dB), NaN nodata.
        wavelengths: ``(C,)`` central wavelengths in µm. NDVI = (NIR - red) / (NIR + red) and NDWI
            (McFeeters) = (green - NIR) / (green + NIR) use the band closest to the centre of
            0.62-0.70 µm (red), 0.52-0.60 µm (green) and 0.76-0.90 µm (NIR).

    Returns:
        ``(F, H, W)`` float32 with NaN -> 0, and the ``F`` feature names.
    """
    img = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    wl = np.asarray(wavelengths, dtype=np.float64)
    if img.ndim != 3 or wl.shape != (img.shape[0],):
        raise ValueError(f"need image (C, H, W) and wavelengths (C,), got {img.shape} and {wl.shape}")
    feats, names = [img], [f"band {w:.4g} um" for w in wl]
    red, green, nir = (_band_in(wl, k) for k in ("red", "green", "nir"))
    if nir is not None and red is not None:
        feats.append(_ratio_index(img[nir], img[red])[None])
        names.append("ndvi")
    if nir is not None and green is not None:
        feats.append(_ratio_index(img[green], img[nir])[None])
        names.append("ndwi")
    return np.concatenate(feats).astype(np.float32), names


def subset_indices(dataset: LASDataset, subset: str) -> list[int]:
    """Indices of ``subset``'s chips in ``dataset``; raises unless they share one product and one band set."""
    indices = [i for i, r in enumerate(dataset.records) if r.subset == subset]
    if not indices:
        have = sorted({r.subset for r in dataset.records})
        raise ValueError(f"the dataset (split {dataset.split!r}) has no chips of subset {subset!r}; it has {have}")
    kinds = {(dataset.records[i].taxonomy, dataset.records[i].wavelengths_um) for i in indices}
    if len(kinds) > 1:
        raise ValueError(f"subset {subset!r} mixes products/band sets {sorted(kinds)}; a baseline needs one of each")
    return indices


def check_bands(name: str, fitted: Sequence[float], wavelengths: Tensor | Array | Sequence[float]) -> None:
    """Raise unless ``wavelengths`` (µm) are the band set the baseline ``name`` was ``fitted`` on."""
    got = np.asarray(wavelengths, dtype=np.float64).ravel()
    if got.shape != (len(fitted),) or not np.allclose(got, fitted, rtol=1e-4, atol=1e-4):
        raise ValueError(
            f"this {name} was fitted on {len(fitted)} bands at {[round(w, 4) for w in fitted]} µm and cannot "
            f"predict an image with {got.size} bands at {[round(float(w), 4) for w in got]} µm: closed-set "
            "baselines need the band set they were trained on (fit another one for this sensor)"
        )


def read_config(folder: Path, kind: str) -> dict[str, Any]:
    """``folder/config.json`` of a saved baseline, checked to be of ``kind`` (``pixel_forest``, ``closed_set_net``)."""
    try:
        doc: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder} has no config.json: not a saved baseline") from None
    if doc.get("kind") != kind:
        raise ValueError(f"{folder} holds a {doc.get('kind')!r} baseline, not a {kind!r}")
    return doc

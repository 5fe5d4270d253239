"""Plotting helpers shared by the demo, the notebooks and the map UI (matplotlib, imported lazily).

Legends and colours come from :mod:`lslib.taxonomy`, so a figure and the map agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    from matplotlib.axes import Axes

RGB_BANDS = {
    "sentinel2": ("B04", "B03", "B02"),
    "landsat": ("red", "green", "blue"),
}


def rgb_composite(
    image: xr.DataArray, bands: Sequence[str] = ("B04", "B03", "B02"), percentiles: tuple[float, float] = (2, 98)
) -> np.ndarray:
    """True-colour composite for display.

    Args:
        image: (band, y, x) reflectance with a ``band`` coordinate.
        bands: the red, green, blue band names in ``image``.
        percentiles: per-band contrast stretch, ignoring NaN (nodata).

    Returns:
        (y, x, 3) float array in [0, 1]; nodata pixels are 0.

    Raises:
        ValueError: a band is missing (the message lists the bands present).
    """
    present = [str(b) for b in image["band"].values]
    missing = [b for b in bands if b not in present]
    if missing:
        raise ValueError(f"bands {missing} not in the image (it has {present}); pass bands=(red, green, blue)")
    rgb = np.stack([image.sel(band=b).values.astype("float32") for b in bands], axis=-1)
    out = np.zeros_like(rgb)
    for i in range(3):
        ch = rgb[..., i]
        valid = np.isfinite(ch)
        if not valid.any():
            continue
        lo, hi = np.percentile(ch[valid], percentiles)
        out[..., i] = np.where(valid, np.clip((ch - lo) / max(hi - lo, 1e-6), 0, 1), 0)
    return out


def plot_label(
    ax: Axes, label: np.ndarray | xr.DataArray, taxonomy: Any, *, legend: bool = True, title: str | None = None
) -> None:
    """Draw a label map with the product's colours and a legend listing only the classes present.

    Args:
        ax: matplotlib axes.
        label: (y, x) integer product codes.
        taxonomy: a :class:`lslib.taxonomy.Taxonomy` or its key.
        legend: draw a legend of the classes present.
        title: the axes title (none by default).
    """
    from lslib.taxonomy import get_taxonomy

    tax = get_taxonomy(taxonomy) if isinstance(taxonomy, str) else taxonomy
    arr = np.asarray(label.values if isinstance(label, xr.DataArray) else label)
    cmap, norm = tax.mpl_cmap_norm()
    shown = np.ma.masked_equal(arr, tax.nodata) if tax.nodata is not None else arr
    ax.imshow(shown, cmap=cmap, norm=norm, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if legend:
        present = [int(c) for c in np.unique(arr) if int(c) in tax.codes and int(c) != tax.nodata]
        ax.legend(
            handles=tax.legend_handles(present),
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize="small",
            frameon=False,
        )

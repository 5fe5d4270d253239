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


#: colour of unknown pixels (below every class threshold) in :func:`plot_classes`
UNKNOWN_COLOUR = "#202020"


def plot_classes(
    ax: Axes,
    class_map: np.ndarray | xr.DataArray,
    prompts: Any,
    *,
    legend: bool = True,
    title: str | None = None,
) -> None:
    """Draw a map's class indices in its prompt set's colours, with a legend of the classes present and their share.

    The same colours as the map app's overlay, legend and export (``prompts.colours``: a class without a
    colour is drawn in its palette colour, as everywhere; :func:`lslib.inference.colours.with_suggested_colours`
    gives it its nearest product class's colour instead, as the map app does).

    Args:
        ax: matplotlib axes.
        class_map: ``(y, x)`` class indices into ``prompts`` (``-1`` unknown, drawn dark grey).
        prompts: a :class:`lslib.prompt_set.PromptSet` (or anything with ``names`` and ``colours``).
        legend: draw a legend of the classes present, each with its percentage of the mapped pixels.
        title: the axes title (none by default).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    names, colours = list(prompts.names), list(prompts.colours)
    arr = np.asarray(class_map.values if isinstance(class_map, xr.DataArray) else class_map).astype(np.int64)
    k = len(names)
    ax.imshow(
        np.where(arr < 0, k, arr),
        cmap=ListedColormap([*colours, UNKNOWN_COLOUR]),
        vmin=-0.5,
        vmax=k + 0.5,
        interpolation="nearest",
    )
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if legend:
        codes, counts = np.unique(arr, return_counts=True)
        share = {int(c): 100.0 * n / arr.size for c, n in zip(codes, counts, strict=True)}
        handles = [
            Patch(facecolor=colours[i], edgecolor="0.3", linewidth=0.5, label=f"{names[i]} ({share[i]:.0f} %)")
            for i in range(k)
            if i in share
        ]
        if -1 in share:
            handles.append(Patch(facecolor=UNKNOWN_COLOUR, label=f"unknown ({share[-1]:.0f} %)"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)


def map_figure(
    image: xr.DataArray,
    prediction: Any,
    reference: xr.DataArray | None = None,
    *,
    description: str | None = None,
    rgb_bands: Sequence[str] = ("B04", "B03", "B02"),
) -> Any:
    """The static figure of a map: true colour | reference (when given) | the map, side by side, with legends.

    Args:
        image: ``(band, y, x)`` image on the map's grid (or any grid: each panel is drawn on its own).
        prediction: a :class:`lslib.inference.Prediction` (``class_map`` and ``prompts`` with colours).
        reference: ``(y, x)`` product codes with ``attrs["taxonomy"]`` (drawn in the product's colours).
        description: one line under the panels saying what is in the scene.
        rgb_bands: the red, green and blue band names.

    Returns:
        a matplotlib Figure (``plt.show()`` or the notebook's display shows it; nothing is saved).
    """
    from matplotlib.figure import Figure

    n = 2 if reference is None else 3
    fig = Figure(figsize=(5.6 * n, 4.6), layout="constrained")
    axes = fig.subplots(1, n)
    axes[0].imshow(rgb_composite(image, rgb_bands))
    axes[0].set_title(f"true colour ({', '.join(rgb_bands)})")
    axes[0].set_axis_off()
    if reference is not None:
        key = str(reference.attrs.get("taxonomy", ""))
        plot_label(axes[1], reference, key, title=f"reference: {key}")
    plot_classes(axes[-1], prediction.class_map, prediction.prompts, title="the map (zero-shot)")
    if description:
        fig.suptitle(description, fontsize="medium")
    return fig

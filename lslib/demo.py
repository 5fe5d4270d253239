"""The main job on the embedded default: ``make demo`` / ``lslib demo``.

At this stage it loads the five real TerraMesh sites (Sentinel-2 L2A + Esri/IO 10 m LULC weak
labels) through the data manifests, prints a summary (site, CRS, bands, class histogram with the
product's class names) and writes one figure per site (true colour + LULC with a legend of the
classes present) plus ``summary.json``/``summary.md`` into the output folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lslib.atomic import atomic_path, write_text
from lslib.data.fetch import fetch, load_manifests
from lslib.data.readers import read_label, read_sentinel2
from lslib.taxonomy import class_histogram, get_taxonomy

DATASET = "terramesh-examples-s2-esri-lulc"
TAXONOMY = "terramesh_lulc"
#: TerraMesh validation sites shipped as examples (place names from the dataset's SOURCE notes).
SITES: dict[str, str] = {
    "282D_485L_3_3": "Paraná coast, Brazil",
    "38D_378R_2_3": "Mara / Lake Victoria region, Tanzania",
    "433D_629L_3_1": "Araucanía, Chile",
    "609U_541L_3_0": "Hudson Bay lowlands, Canada (winter)",
    "637U_59R_1_3": "North Jutland, Denmark",
}


@dataclass
class SiteSummary:
    site: str
    place: str
    crs: str
    shape: tuple[int, int]
    gsd_m: float
    bands: list[str]
    wavelengths_um: list[float]
    classes: dict[str, float]  # class name -> % of labelled pixels
    figure: str


def _save_figure(fig: Any, path: Path) -> None:
    """Write a figure atomically (temp file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def summarise_site(site: str, out_dir: Path) -> SiteSummary:
    """Load one TerraMesh site through the manifests, plot it and return its summary."""
    from matplotlib.figure import Figure  # no pyplot: never changes the backend of a notebook

    from lslib.viz import plot_label, rgb_composite

    image = read_sentinel2(fetch(f"{DATASET}/S2L2A/{site}.tif"))
    label = read_label(fetch(f"{DATASET}/LULC/{site}.tif"), taxonomy=TAXONOMY)
    tax = get_taxonomy(TAXONOMY)
    hist = class_histogram(np.asarray(label.values), tax)
    total = sum(hist.values()) or 1
    classes = {name: round(100.0 * n / total, 1) for name, n in sorted(hist.items(), key=lambda kv: -kv[1]) if n}

    fig = Figure(figsize=(10, 4.6))
    axes = fig.subplots(1, 2)
    axes[0].imshow(rgb_composite(image))
    axes[0].set_title("Sentinel-2 L2A true colour (B04/B03/B02)")
    axes[0].set_axis_off()
    plot_label(axes[1], label, tax, title="Esri/IO 10 m LULC (weak label)")
    fig.suptitle(f"TerraMesh {site} — {SITES.get(site, '')} — {image.rio.crs}")
    fig.text(
        0.01,
        0.01,
        "Contains modified Copernicus Sentinel data; Esri/Impact Observatory LULC (CC BY 4.0); "
        "TerraMesh (IBM/ESA, CC BY-SA 4.0)",
        fontsize=7,
    )
    fig_path = out_dir / f"{site}.png"
    _save_figure(fig, fig_path)
    return SiteSummary(
        site=site,
        place=SITES.get(site, ""),
        crs=str(image.rio.crs),
        shape=(int(image.sizes["y"]), int(image.sizes["x"])),
        gsd_m=float(abs(image.rio.resolution()[0])),
        bands=[str(b) for b in image["band"].values],
        wavelengths_um=[round(float(w), 4) for w in image["wavelength"].values],
        classes=classes,
        figure=str(fig_path),
    )


def format_summary(rows: list[SiteSummary]) -> str:
    """Human-readable summary table (Markdown) of the demo's sites."""
    lines = ["| site | place | CRS | size | GSD | classes (% of labelled pixels) |", "|---|---|---|---|---|---|"]
    for r in rows:
        cls = ", ".join(f"{k} {v:g}%" for k, v in r.classes.items())
        lines.append(f"| {r.site} | {r.place} | {r.crs} | {r.shape[0]}x{r.shape[1]} | {r.gsd_m:g} m | {cls} |")
    if rows:
        bands = ", ".join(f"{b} ({w:g} µm)" for b, w in zip(rows[0].bands, rows[0].wavelengths_um, strict=True))
        lines += ["", f"Bands: {bands}"]
    return "\n".join(lines)


def run_demo(out_dir: str | Path = "outputs/demo", *, sites: list[str] | None = None, quiet: bool = False) -> Path:
    """Run the demo and return the output folder (created if needed).

    Args:
        out_dir: where figures and summaries are written; existing files are replaced atomically.
        sites: TerraMesh site ids (default: all five).
        quiet: print nothing but the output folder.
    """
    from tqdm.auto import tqdm

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    chosen = list(sites or SITES)
    unknown = [s for s in chosen if s not in SITES]
    if unknown:
        raise ValueError(f"unknown TerraMesh site(s) {unknown}; choose from {list(SITES)}")
    rows = [summarise_site(s, out) for s in tqdm(chosen, desc="TerraMesh sites", disable=quiet)]
    manifest = load_manifests()[DATASET]
    text = format_summary(rows) + f"\n\nData: {manifest.title}. Licence: {manifest.licence}. {manifest.attribution}.\n"
    write_text(out / "summary.md", text)
    write_text(out / "summary.json", json.dumps([asdict(r) for r in rows], indent=2))
    if not quiet:
        print(text)
    print(f"Demo outputs written to {out}")
    return out

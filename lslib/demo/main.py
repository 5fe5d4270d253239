"""The main job on the embedded default: ``make demo`` / ``lslib demo``.

It loads the five real TerraMesh sites (Sentinel-2 L2A + Esri/IO 10 m LULC weak labels) through the
data manifests, prints a summary (site, CRS, bands, class histogram with the product's class names)
and writes one figure per site: true colour, the weak label, and the default LandSegmenter's map
when prompted with the product's class names (the released ``tiny`` checkpoint trained on LAS-mini, shipped in
the package: :func:`lslib.default_model.default_model`), with the pixel agreement between the two.
Then the main job: zero-shot maps of real scenes with class names the model never trained with
(:mod:`lslib.demo.zero_shot`: COG class map + confidence + PNG with legend + HTML Leaflet map per scene,
per-class areas, agreement with a reference where one exists) under ``zero-shot/``.
``summary.json``/``summary.md`` (+ ``zero_shot.md``/``.json``) go into the output folder. ``--no-model``
skips the model (figures of the data only).
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
    """What the demo reports about one TerraMesh site: image, classes, figure and model agreement."""

    site: str
    place: str
    crs: str
    shape: tuple[int, int]
    gsd_m: float
    bands: list[str]
    wavelengths_um: list[float]
    classes: dict[str, float]  # class name -> % of labelled pixels
    figure: str
    model_agreement: float | None = None  # share of labelled pixels where the model matches the weak label


def _save_figure(fig: Any, path: Path) -> None:
    """Write a figure atomically (temp file in the same folder, then rename)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def _predict(model: Any, image: Any, tax: Any) -> np.ndarray:
    """The model's class map (product codes) when prompted with every class name of ``tax``."""
    import torch

    classes = [c for c in tax.classes if c.code != tax.nodata]
    text = model.encode_prompts([c.name for c in classes], descriptions=[c.description for c in classes])
    x = torch.from_numpy(np.asarray(image.values, dtype=np.float32))[None]
    with torch.inference_mode():
        out = model(x, image["wavelength"].values.tolist(), text, band_names=[str(b) for b in image["band"].values])
    idx = out.mask_logits[0].argmax(0).numpy()
    return np.asarray([c.code for c in classes])[idx]


def summarise_site(site: str, out_dir: Path, model: Any = None) -> SiteSummary:
    """Load one TerraMesh site through the manifests, plot it (with the model's map) and summarise it."""
    from matplotlib.figure import Figure  # no pyplot: never changes the backend of a notebook

    from lslib.viz import plot_label, rgb_composite

    image = read_sentinel2(fetch(f"{DATASET}/S2L2A/{site}.tif"))
    label = read_label(fetch(f"{DATASET}/LULC/{site}.tif"), taxonomy=TAXONOMY)
    tax = get_taxonomy(TAXONOMY)
    hist = class_histogram(np.asarray(label.values), tax)
    total = sum(hist.values()) or 1
    classes = {name: round(100.0 * n / total, 1) for name, n in sorted(hist.items(), key=lambda kv: -kv[1]) if n}

    fig = Figure(figsize=(17.5 if model is not None else 10, 4.6))
    axes = fig.subplots(1, 3 if model is not None else 2, gridspec_kw={"wspace": 0.55})
    axes[0].imshow(rgb_composite(image))
    axes[0].set_title("Sentinel-2 L2A true colour (B04/B03/B02)")
    axes[0].set_axis_off()
    plot_label(axes[1], label, tax, title="Esri/IO 10 m LULC (weak label)")
    agreement = None
    if model is not None:
        pred = _predict(model, image, tax)
        labelled = np.asarray(label.values) != tax.nodata
        agreement = float((pred[labelled] == np.asarray(label.values)[labelled]).mean()) if labelled.any() else None
        shown = f"{100 * agreement:.0f} % agree" if agreement is not None else ""
        plot_label(axes[2], pred, tax, title=f"LandSegmenter tiny, prompted with its names ({shown})")
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
        model_agreement=agreement,
    )


def format_summary(rows: list[SiteSummary]) -> str:
    """Human-readable summary table (Markdown) of the demo's sites."""
    lines = [
        "| site | place | CRS | size | GSD | classes (% of labelled pixels) | model = weak label |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cls = ", ".join(f"{k} {v:g}%" for k, v in r.classes.items())
        agree = "-" if r.model_agreement is None else f"{100 * r.model_agreement:.0f} %"
        lines.append(
            f"| {r.site} | {r.place} | {r.crs} | {r.shape[0]}x{r.shape[1]} | {r.gsd_m:g} m | {cls} | {agree} |"
        )
    if rows:
        bands = ", ".join(f"{b} ({w:g} µm)" for b, w in zip(rows[0].bands, rows[0].wavelengths_um, strict=True))
        lines += ["", f"Bands: {bands}"]
    return "\n".join(lines)


def run_demo(
    out_dir: str | Path = "outputs/demo", *, sites: list[str] | None = None, quiet: bool = False, model: bool = True
) -> Path:
    """Run the demo and return the output folder (created if needed).

    Args:
        out_dir: where figures and summaries are written; existing files are replaced atomically.
        sites: TerraMesh site ids (default: all five).
        quiet: print nothing but the output folder.
        model: add the released default model's map (loaded from the package; nothing is trained).
    """
    from tqdm.auto import tqdm

    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    chosen = list(sites or SITES)
    unknown = [s for s in chosen if s not in SITES]
    if unknown:
        raise ValueError(f"unknown TerraMesh site(s) {unknown}; choose from {list(SITES)}")
    segmenter = None
    if model:
        from lslib.default_model import default_model

        segmenter = default_model(progress=not quiet).eval()
    rows = [summarise_site(s, out, segmenter) for s in tqdm(chosen, desc="TerraMesh sites", disable=quiet)]
    manifest = load_manifests()[DATASET]
    text = format_summary(rows)
    if model:
        text += ("\n\nModel: the released default `tiny` LandSegmenter (configs/train/tiny.yaml on LAS-mini), "
                 "prompted with "
                 "the Esri/IO class names and descriptions. LAS-mini contains chips of these five sites, so the "
                 "agreement column is agreement with the weak label on training areas, not a held-out score.")
    text += f"\n\nData: {manifest.title}. Licence: {manifest.licence}. {manifest.attribution}.\n"
    if segmenter is not None:
        from lslib.demo.zero_shot import run_zero_shot, write_results

        text += "\n" + write_results(out, run_zero_shot(out / "zero-shot", segmenter, quiet=quiet))
    write_text(out / "summary.md", text)
    write_text(out / "summary.json", json.dumps([asdict(r) for r in rows], indent=2))
    if not quiet:
        print(text)
    print(f"Demo outputs written to {out}")
    return out

"""Zero-shot mapping part of the demo: real scenes, class names the default model never trained with.

Two scenes from the sample mirror, each mapped with :func:`lslib.inference.tiling.large_area.map_large_area`:

* ``majortom-vietnam``: the clear Major-TOM Core S2 L2A cell 199U_1099R (1068 x 1068 px at 10 m,
  northern Vietnam, 2020-02-23) with a user's own plain-language prompt set
  (``lslib/resources/prompt_sets/demo_vietnam.yaml``). No reference exists: areas only.
* ``terramesh-chile-worldcover``: TerraMesh site 433D_629L_3_1 (Araucanía, Chile) with the ESA
  WorldCover class names; its Esri/IO weak label, crosswalked into WorldCover codes (ambiguous
  classes left out), is the reference for the agreement (mIoU, OA).

Per scene: ``class_map.tif`` (COG with colour table), ``confidence.tif``, ``map.json``,
``prompts.yaml`` (from the mapper), ``map.png`` (true colour | map with legend | confidence) and
``map.html`` (a Leaflet map made with folium: the true-colour and class-map overlays, a legend;
Leaflet is loaded from its CDN when the file is opened, like every folium map).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from lslib.atomic import atomic_path, write_text

MAJORTOM = (
    "majortom-core-s2l2a-sample/S2L2A/199U/199U_1099R/S2B_MSIL2A_20200223T032739_N9999_R018_T48QUE_20230924T183543"
)
TERRAMESH_SITE = "433D_629L_3_1"


@dataclass
class SceneResult:
    """One zero-shot demo scene: its prompts, class areas, agreement and the files written."""

    scene: str
    title: str
    prompts: list[str]
    areas: list[dict[str, Any]]
    folder: str
    agreement: dict[str, Any] | None = None
    files: dict[str, str] = field(default_factory=dict)


def demo_prompt_set() -> Any:
    """The user-style prompt set of the demo (a :class:`~lslib.prompt_set.PromptSet`)."""
    from lslib.prompt_set import load

    with resources.as_file(resources.files("lslib") / "resources" / "prompt_sets" / "demo_vietnam.yaml") as p:
        return load(p)


def _to_png(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _rgba_layers(image: xr.DataArray, class_map: xr.DataArray, colours: list[str]) -> tuple[np.ndarray, ...]:
    """True colour and class map (uint8 codes of the COG) as RGBA arrays in Web Mercator, plus lat/lon bounds."""
    from matplotlib.colors import to_rgba
    from rasterio.enums import Resampling

    from lslib.inference.outputs import NODATA_CODE, UNKNOWN_CODE
    from lslib.viz import rgb_composite

    rgb = xr.DataArray(
        (rgb_composite(image) * 255).astype(np.uint8).transpose(2, 0, 1), dims=("band", "y", "x"),
        coords={"y": image["y"], "x": image["x"]},
    ).rio.write_crs(image.rio.crs).rio.write_transform(image.rio.transform())
    rgb_m = rgb.rio.reproject("EPSG:3857", resampling=Resampling.bilinear, nodata=0)
    cls_m = class_map.rio.reproject("EPSG:3857", resampling=Resampling.nearest, nodata=NODATA_CODE)
    lut = np.zeros((256, 4), np.uint8)
    for i, c in enumerate(colours):
        lut[i] = [round(255 * v) for v in to_rgba(c)]
    lut[UNKNOWN_CODE] = (40, 40, 40, 255)
    rgb_a = np.dstack([*np.asarray(rgb_m.values), np.where(np.asarray(rgb_m.values).any(0), 255, 0).astype(np.uint8)])
    cls_a = lut[np.asarray(cls_m.values)[0] if cls_m.ndim == 3 else np.asarray(cls_m.values)]
    west, south, east, north = cls_m.rio.transform_bounds("EPSG:4326")
    return rgb_a, cls_a, np.array([[south, west], [north, east]])


def write_html(path: Path, image: xr.DataArray, class_map: xr.DataArray, names: list[str], colours: list[str],
               title: str) -> Path:
    """A self-describing Leaflet page (folium) with the true colour and the class map as image overlays."""
    import folium

    rgb_a, cls_a, bounds = _rgba_layers(image, class_map, colours)
    centre = bounds.mean(0).tolist()
    fmap = folium.Map(location=centre, zoom_start=13, tiles="OpenStreetMap", control_scale=True)
    for name, rgba, show in (("true colour", rgb_a, True), ("zero-shot map", cls_a, True)):
        url = "data:image/png;base64," + base64.b64encode(_to_png(rgba)).decode()
        folium.raster_layers.ImageOverlay(url, bounds=bounds.tolist(), name=name, opacity=0.8 if show else 1,
                                          show=show).add_to(fmap)
    present = set(np.unique(np.asarray(class_map.values)).tolist())
    swatch = ('<div><span style="display:inline-block;width:12px;height:12px;background:{};margin-right:6px">'
              "</span>{}</div>")
    rows = "".join(
        swatch.format(c, n)
        for i, (n, c) in enumerate(zip(names, colours, strict=True)) if i in present
    )
    if 254 in present:
        rows += swatch.format("#282828", "unknown")
    legend = (f'<div style="position:fixed;bottom:24px;left:12px;z-index:9999;background:white;padding:8px;'
              f'font:12px sans-serif;border:1px solid #999"><b>{title}</b>{rows}</div>')
    fmap.get_root().html.add_child(folium.Element(legend))  # type: ignore[attr-defined]
    folium.LayerControl().add_to(fmap)
    fmap.fit_bounds(bounds.tolist())
    with atomic_path(path) as tmp:
        fmap.save(str(tmp))
    return path


def write_png(path: Path, image: xr.DataArray, class_map: xr.DataArray, confidence: xr.DataArray, names: list[str],
              colours: list[str], title: str) -> Path:
    """True colour | class map with a legend of the classes present | confidence."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from lslib.inference.outputs import NODATA_CODE, UNKNOWN_CODE
    from lslib.viz import rgb_composite

    codes = np.asarray(class_map.values)
    shown = np.where(codes == UNKNOWN_CODE, len(names), codes).astype(float)
    shown[codes == NODATA_CODE] = np.nan
    fig = Figure(figsize=(16, 5.4))
    axes = fig.subplots(1, 3)
    axes[0].imshow(rgb_composite(image))
    axes[0].set_title("Sentinel-2 L2A true colour")
    axes[1].imshow(shown, cmap=ListedColormap([*colours, "#282828"]), vmin=-0.5, vmax=len(names) + 0.5,
                   interpolation="nearest")
    axes[1].set_title("zero-shot map")
    present = [i for i in range(len(names)) if (codes == i).any()]
    handles = [Patch(color=colours[i], label=names[i]) for i in present]
    if (codes == UNKNOWN_CODE).any():
        handles.append(Patch(color="#282828", label="unknown"))
    axes[1].legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize=8, frameon=False,
                   ncol=2)
    im = axes[2].imshow(np.asarray(confidence.values).squeeze(), vmin=0, vmax=1, cmap="magma")
    axes[2].set_title("confidence (fused score)")
    fig.colorbar(im, ax=axes[2], fraction=0.046)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(title)
    fig.text(0.01, 0.01, "Contains modified Copernicus Sentinel data", fontsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight", format="png")
    return path


def agreement_with_reference(class_map: np.ndarray, reference: xr.DataArray, src: str, prompts: Any) -> dict[str, Any]:
    """mIoU/OA of a map made with a taxonomy preset against a weak label crosswalked into that taxonomy.

    Only reference pixels whose source class has exactly one counterpart are scored (as in
    ``lslib evaluate --protocol zero-shot``).
    """
    import torch

    from lslib.inference.outputs import NODATA_CODE, UNKNOWN_CODE
    from lslib.metrics import ConfusionMatrix
    from lslib.taxonomy import crosswalk, get_taxonomy

    dst = get_taxonomy(prompts.taxonomy)
    codes = np.array([c.code for c in prompts.classes])
    lut = {s: t[0] for s, t in crosswalk(get_taxonomy(src), dst).items() if len(t) == 1}
    ref = np.full(reference.shape, -1, np.int64)
    labels = np.asarray(reference.values)
    for s, t in lut.items():
        ref[labels == s] = t
    pred = np.where(class_map < len(codes), codes[np.minimum(class_map, len(codes) - 1)], -2)
    valid = (ref >= 0) & (class_map != NODATA_CODE)
    cm = ConfusionMatrix([int(c) for c in codes])
    cm.update(torch.from_numpy(pred), torch.from_numpy(ref), torch.from_numpy(valid))
    iou = {dst.by_code(c).name: round(v, 3) for c, v in cm.per_class_iou().items() if v == v}
    return {"miou": round(float(cm.miou()), 3), "oa": round(float(cm.overall_accuracy()), 3), "iou": iou,
            "scored_pixels": int(valid.sum()), "unknown_pixels": int((class_map == UNKNOWN_CODE).sum())}


def run_zero_shot(out: Path, model: Any, *, quiet: bool = False) -> list[SceneResult]:
    """Map both demo scenes into ``out/<scene>/`` and return what was written and measured."""
    from lslib.data.fetch import fetch, fetch_dir
    from lslib.data.readers import read_geotiff, read_label, read_sentinel2
    from lslib.inference import Predictor
    from lslib.inference.tiling.large_area import map_large_area
    from lslib.prompt_set import from_taxonomy

    predictor = Predictor(model)
    scenes = [
        ("majortom-vietnam", "Major-TOM 199U_1099R, northern Vietnam, 2020-02-23 — a user's own class names",
         read_sentinel2(fetch_dir(MAJORTOM)), demo_prompt_set(), None),
        ("terramesh-chile-worldcover", f"TerraMesh {TERRAMESH_SITE}, Araucanía, Chile — ESA WorldCover class names",
         read_sentinel2(fetch(f"terramesh-examples-s2-esri-lulc/S2L2A/{TERRAMESH_SITE}.tif")),
         from_taxonomy("esa_worldcover"),
         read_label(fetch(f"terramesh-examples-s2-esri-lulc/LULC/{TERRAMESH_SITE}.tif"), taxonomy="terramesh_lulc")),
    ]
    results = []
    for key, title, image, prompts, reference in scenes:
        folder = out / key
        res = map_large_area(image, prompts, folder, predictor=predictor, overwrite=True, progress=not quiet)
        class_map = read_geotiff(res.paths["class_map"]).squeeze(drop=True)
        confidence = read_geotiff(res.paths["confidence"]).squeeze(drop=True)
        png = write_png(folder / "map.png", image, class_map, confidence, prompts.names, prompts.colours, title)
        html = write_html(folder / "map.html", image, class_map, prompts.names, prompts.colours, title)
        agree = None
        if reference is not None:
            agree = agreement_with_reference(np.asarray(class_map.values), reference, "terramesh_lulc", prompts)
        files = {k: str(v) for k, v in res.paths.items()} | {"png": str(png), "html": str(html)}
        results.append(SceneResult(key, title, prompts.names, res.areas, str(folder), agree, files))
    return results


def format_results(results: list[SceneResult]) -> str:
    """Markdown: per scene, the per-class areas and (where a reference exists) the agreement."""
    lines = ["## Zero-shot maps (default model, class names it was not trained with)", ""]
    for r in results:
        lines += [f"### {r.title}", "", "| class | hectares | % of valid pixels |", "|---|---:|---:|"]
        for a in r.areas:
            if a["pixels"]:
                lines.append(f"| {a['class']} | {a['hectares']:.1f} | {a['percent']:.1f} |")
        if r.agreement:
            g = r.agreement
            lines += ["", f"Agreement with the Esri/IO weak label crosswalked to WorldCover ({g['scored_pixels']} "
                      f"unambiguous pixels): mIoU {g['miou']:.3f}, OA {g['oa']:.3f}; per class IoU: "
                      + ", ".join(f"{k} {v:.2f}" for k, v in g["iou"].items())]
        lines += ["", f"Files: {', '.join(Path(f).name for f in r.files.values())} in `{r.folder}`", ""]
    return "\n".join(lines)


def write_results(out: Path, results: list[SceneResult]) -> str:
    """Write ``zero_shot.md`` and ``zero_shot.json`` into ``out``; returns the Markdown text."""
    import json
    from dataclasses import asdict

    text = format_results(results)
    write_text(out / "zero_shot.md", text)
    write_text(out / "zero_shot.json", json.dumps([asdict(r) for r in results], indent=1, default=float))
    return text

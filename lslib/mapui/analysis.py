"""What the panels compute, without widgets: areas, agreement with a reference, point accuracy, export.

Agreement with a reference label (e.g. the Esri/IO LULC weak label of a TerraMesh chip) needs each prompt
mapped to a reference class code (:func:`match_prompts`), in this order:

1. a class from a taxonomy preset (it keeps its product ``code`` until renamed): the crosswalk
   (:func:`lslib.taxonomy.crosswalk`) from the preset's product to the reference's, first-ranked target;
2. a prompt whose name or a synonym *is* a reference class name or synonym (normalised);
3. any other free text: the reference class whose name + description embedding (the predictor's text
   encoder, the same vectors the model uses; synonyms left out, step 2 matched them) is nearest by cosine
   similarity. Nearest always matches
   something; the similarity is reported in the mapping table so a poor match is visible.

``overrides`` (``{prompt name: reference class name or None}``) replaces any of these (``how = "given"``;
``None``: the prompt is not scored, its pixels count as misses). Unknown pixels count as misses; reference
nodata is ignored. IoU and mIoU are computed over the *scored* reference classes only (present in the reference
and matched by some prompt); a reference class no prompt matches, and a prompt whose class has no reference
pixel, are listed in ``not_prompted`` / ``not_in_reference`` instead of scoring IoU 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from lslib.inference import Prediction
from lslib.prompt_set import PromptSet

TextEmbed = Callable[[PromptSet], Any]  # PromptSet -> (K, D) unit vectors (Predictor.text_embeddings)


def areas_table(prediction: Prediction) -> pd.DataFrame:
    """Per class present (and unknown if any): ``class, pixels, hectares, percent`` of the valid AOI pixels."""
    rows = [r for r in prediction.areas() if r["pixels"] > 0]
    return pd.DataFrame(rows, columns=["class", "pixels", "hectares", "percent"])


def areas_figure(table: pd.DataFrame, colours: dict[str, str]) -> Any:
    """Horizontal bar chart of the areas table (hectares when known, else %), class colours, a Figure."""
    from matplotlib.figure import Figure

    use_ha = bool(np.isfinite(table["hectares"]).all()) and len(table) > 0
    values = table["hectares"] if use_ha else table["percent"]
    fig = Figure(figsize=(5.0, 0.45 * max(len(table), 1) + 1.0), layout="constrained")
    ax = fig.add_subplot()
    names = list(table["class"])
    ax.barh(names, values, color=[colours.get(n, "#444444") for n in names], edgecolor="0.3")
    for patch, name in zip(ax.patches, names, strict=True):
        if name not in colours:
            patch.set_hatch("///")
    ax.invert_yaxis()
    ax.set_xlabel("area (ha)" if use_ha else "area (% of the AOI)")
    ax.set_title("class areas in the AOI")
    return fig


def match_prompts(
    prompts: PromptSet,
    taxonomy: str,
    text_embed: TextEmbed | None,
    overrides: Mapping[str, str | None] | None = None,
) -> pd.DataFrame:
    """Reference code for each prompt: ``prompt, code, reference_class, how, similarity`` (see module doc).

    Args:
        prompts: the prompt set of the map.
        taxonomy: the reference's taxonomy key.
        text_embed: the text encoder for free text (``None``: free text stays unmatched).
        overrides: ``{prompt name: reference class name, or None to leave the prompt unscored}``; these
            rows say ``how = "given"``.

    Raises:
        KeyError: an override names a prompt not in ``prompts`` or a class not in the taxonomy.
    """
    from lslib.prompt_set import ClassPrompt
    from lslib.taxonomy import crosswalk, get_taxonomy

    tax = get_taxonomy(taxonomy)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(prompts.names))
    if unknown:
        raise KeyError(f"overrides name prompts not in the set: {unknown} (prompts: {list(prompts.names)})")
    cw = crosswalk(prompts.taxonomy, tax) if prompts.taxonomy else {}
    rows: list[dict[str, Any]] = []
    pending: list[int] = []
    for i, p in enumerate(prompts):
        row: dict[str, Any] = {"prompt": p.name, "code": -1, "reference_class": "", "how": "", "similarity": math.nan}
        targets = cw.get(p.code, ()) if p.code is not None else None
        if p.name in overrides:
            given = overrides[p.name]
            row.update(code=-1 if given is None else tax.by_name(given).code, how="given")
        elif targets:
            row.update(code=targets[0], how="crosswalk" + (f" (first of {len(targets)})" if len(targets) > 1 else ""))
        elif targets is not None and p.code is not None and cw:
            row.update(how="crosswalk: no counterpart")
        else:
            for term in (p.name, *p.synonyms):
                try:
                    row.update(code=tax.by_name(term).code, how="same name")
                    break
                except KeyError:
                    continue
            else:
                pending.append(i)
        rows.append(row)
    if pending and text_embed is not None:
        # name + description only: synonyms were matched exactly above, and each one would add a
        # template ensemble to encode
        ref = PromptSet(tuple(ClassPrompt(c.name, description=c.description, code=c.code) for c in tax.classes))
        ref_vec = np.asarray(text_embed(ref).float().cpu().numpy())
        mine = np.asarray(text_embed(prompts).float().cpu().numpy())
        sims = mine @ ref_vec.T / (np.linalg.norm(mine, axis=1, keepdims=True) * np.linalg.norm(ref_vec, axis=1) + 1e-9)
        for i in pending:
            j = int(np.argmax(sims[i]))
            rows[i].update(code=ref.classes[j].code, how="text encoder nearest", similarity=float(sims[i, j]))
    for row in rows:
        if row["code"] >= 0:
            row["reference_class"] = tax.by_code(row["code"]).name
    return pd.DataFrame(rows, columns=["prompt", "code", "reference_class", "how", "similarity"])


def agreement(
    prediction: Prediction,
    reference: xr.DataArray,
    text_embed: TextEmbed | None = None,
    overrides: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """Crosswalk-based agreement of the map with ``reference`` (``(y, x)`` codes, ``attrs["taxonomy"]``).

    Args:
        prediction: the map.
        reference: the reference label on any grid (reprojected to the map's when needed).
        text_embed: the text encoder that matches free-text prompts (:func:`match_prompts`).
        overrides: ``{prompt name: reference class name or None}``, see :func:`match_prompts`.

    Returns:
        ``{"miou" (over the scored classes), "oa" (all labelled pixels), "oa_scored" (pixels of scored
        classes), "per_class" (DataFrame by reference code, scored classes only), "confusion"
        (ConfusionMatrix over every class present or prompted), "mapping" (DataFrame, :func:`match_prompts`),
        "not_prompted" (reference classes present that no prompt matches: ``name, percent`` of the labelled
        pixels), "not_in_reference" (``prompt, reference_class, percent`` of the map on labelled pixels, for
        prompts whose class has no reference pixel or that are unscored), "pixels", "taxonomy", "names"}``.
    """
    from lslib.data.readers import reproject_label
    from lslib.data.readers.common import same_grid
    from lslib.metrics import ConfusionMatrix
    from lslib.taxonomy import get_taxonomy

    key = reference.attrs.get("taxonomy")
    if not key:
        raise ValueError("the reference has no attrs['taxonomy']: load it with a taxonomy (reference_taxonomy=)")
    tax = get_taxonomy(str(key))
    class_map = prediction.class_map
    ref = reference if same_grid(reference, class_map) else reproject_label(reference, class_map)
    ref_codes = np.asarray(ref.values).astype(np.int64)
    mapping = match_prompts(prediction.prompts, tax.key, text_embed, overrides)
    lut = np.asarray([*mapping["code"], -1], dtype=np.int64)  # index -1 (unknown) -> -1
    idx = np.asarray(class_map.values).astype(np.int64)
    pred_codes = lut[np.where(idx >= 0, idx, len(lut) - 1)]
    valid = np.isin(ref_codes, tax.codes) & np.isfinite(np.asarray(prediction.confidence.values))
    if not valid.any():
        raise ValueError("the reference has no labelled pixel inside the AOI: pick another area or reference")
    present = sorted(set(np.unique(ref_codes[valid]).tolist()) | ({int(c) for c in lut if c >= 0}))
    cm = ConfusionMatrix(present).update(pred_codes, ref_codes, valid)
    names = {c: tax.by_code(c).name for c in present}
    in_ref = set(np.unique(ref_codes[valid]).tolist())
    prompted = {int(c) for c in lut if c >= 0}
    scored = [c for c in present if c in in_ref and c in prompted]
    frame = cm.to_frame(names)
    per_class = frame.loc[scored]
    support = frame["support"]
    scored_px = int(support.loc[scored].sum())
    correct = int(np.diag(cm.matrix)[[present.index(c) for c in scored]].sum())
    idx_valid = idx[valid]
    not_in_ref = [
        {
            "prompt": row.prompt,
            "reference_class": row.reference_class or "(not scored)",
            "percent": 100.0 * float((idx_valid == i).mean()),
        }
        for i, row in enumerate(mapping.itertuples())
        if row.code < 0 or row.code not in in_ref
    ]
    return {
        "miou": float(per_class["iou"].mean()) if scored else math.nan,
        "oa": cm.overall_accuracy(),
        "oa_scored": correct / scored_px if scored_px else math.nan,
        "per_class": per_class,
        "not_prompted": pd.DataFrame(
            [{"name": names[c], "percent": 100.0 * float(support.loc[c]) / cm.total} for c in present
             if c in in_ref and c not in prompted],
            columns=["name", "percent"],
        ),
        "not_in_reference": pd.DataFrame(not_in_ref, columns=["prompt", "reference_class", "percent"]),
        "confusion": cm,
        "mapping": mapping,
        "pixels": cm.total,
        "taxonomy": tax.key,
        "names": names,
    }


@dataclass
class PointLabels:
    """Reference points clicked on the map: ``(x, y)`` in the image CRS and a class name."""

    points: list[tuple[float, float, str]] = field(default_factory=list)

    def add(self, x: float, y: float, name: str) -> None:
        """Add a reference point of class ``name`` at ``(x, y)`` in the image CRS."""
        self.points.append((float(x), float(y), name))

    def clear(self) -> None:
        """Remove every reference point."""
        self.points.clear()

    def accuracy(self, prediction: Prediction) -> dict[str, Any]:
        """Overall and per-class accuracy of the map at the labelled points, for the current prompts.

        Points outside the AOI, or labelled with a class no longer in the prompts (``stale``), do not count.
        Per-class accuracy is the share of a class's points the map names correctly (producer's accuracy).
        """
        names = prediction.prompts.names
        cmap = prediction.class_map
        inv = ~cmap.rio.transform()
        values = np.asarray(cmap.values)
        per: dict[str, dict[str, float]] = {}
        stale = outside = 0
        for x, y, label in self.points:
            if label not in names:
                stale += 1
                continue
            col, row = (int(np.floor(v)) for v in inv * (x, y))
            if not (0 <= row < values.shape[0] and 0 <= col < values.shape[1]):
                outside += 1
                continue
            k = int(values[row, col])
            entry = per.setdefault(label, {"n": 0, "correct": 0})
            entry["n"] += 1
            entry["correct"] += int(k >= 0 and names[k] == label)
        n = sum(e["n"] for e in per.values())
        correct = sum(e["correct"] for e in per.values())
        for e in per.values():
            e["accuracy"] = e["correct"] / e["n"]
        return {"n": int(n), "oa": correct / n if n else math.nan, "per_class": per, "stale": stale, "outside": outside}


#: what :func:`export` writes, and its record of them (name -> sha256), by which a later export knows its own files
EXPORT_FILES = ("classes.tif", "confidence.tif", "prompts.yaml", "prompts.safetensors", "polygons.gpkg")
EXPORT_RECORD = "export.json"


def _other_runs(out: Path) -> tuple[list[str], list[Path]]:
    """What in ``out`` belongs to another run: ``(reasons, lslib predict files to remove on overwrite)``.

    Another run: an ``lslib predict`` map (``map.json`` with its signature, ``class_map.tif``, an unfinished
    run's partial files) or any file this export would replace that the last export here did not write
    (the record :data:`EXPORT_RECORD` holds the sha256 of each file it wrote). Whose a file is, is decided as
    ``lslib predict`` decides it (:mod:`lslib.inference.outputs.ownership`): its sidecar rule, a recorded sha256.
    """
    from lslib.inference.outputs.files import read_json
    from lslib.inference.outputs.layout import CLASS_MAP, OUR_FILES, PROGRESS, SIDECAR
    from lslib.inference.outputs.ownership import is_lslib_sidecar, is_recorded

    reasons: list[str] = []
    sidecar = read_json(out / SIDECAR)
    predict = is_lslib_sidecar(sidecar)
    if predict and sidecar is not None:
        reasons.append(f"{SIDECAR} of an lslib predict map (input {sidecar.get('input', '?')})")
    if (out / CLASS_MAP).exists():
        reasons.append(f"{CLASS_MAP} of an lslib predict map")
    if (out / PROGRESS).exists():
        reasons.append(f"{PROGRESS} of an unfinished lslib predict run")
    record = read_json(out / EXPORT_RECORD)
    ours = record.get("files", {}) if record is not None and record.get("lslib_export") else {}
    if (out / EXPORT_RECORD).exists() and not (record is not None and record.get("lslib_export")):
        reasons.append(f"{EXPORT_RECORD} (not an lslib export record)")
    ours = ours if isinstance(ours, dict) else {}
    for name in EXPORT_FILES:
        target = out / name
        if target.exists() and not is_recorded(target, ours):
            since = ", or changed since" if name in ours else ""
            reasons.append(f"{name} (not written by an earlier export here{since})")
    if not (predict or (out / CLASS_MAP).exists() or (out / PROGRESS).exists()):
        return reasons, []
    # the map's own files: those its sidecar lists, and lslib predict's fixed names
    files = sidecar.get("files") if predict and sidecar is not None else None
    listed = files if isinstance(files, dict) else {}
    names = {*OUR_FILES, "prompts.safetensors", *(v for v in listed.values() if isinstance(v, str) and "/" not in v)}
    return reasons, [out / n for n in sorted(names) if (out / n).is_file()]


def export(
    prediction: Prediction, prompts: PromptSet, folder: str | Path, *, overwrite: bool = False
) -> dict[str, Path]:
    """Write the map into ``folder``: two COGs, the prompt set, polygons, and the record of them.

    Writes ``classes.tif`` (uint8 COG in the class-map convention of ``lslib predict``'s ``class_map.tif``,
    :mod:`lslib.inference.codes`: class k -> k, 254 unknown, 255 nodata, the same colour table, band
    description and ``LSLIB_CLASSES``/``LSLIB_UNKNOWN``/``LSLIB_NODATA`` tags), ``confidence.tif`` (float32
    COG), ``prompts.yaml`` and ``polygons.gpkg`` (one dissolved polygon per class, ``value`` = its code,
    image CRS, ``area_ha``); every file atomically, with the usual permissions (``0o666`` minus the umask),
    and recorded in ``export.json`` (their sha256). Returns ``{kind: path}``.

    The folder is checked before anything is written: another run's outputs there (an ``lslib predict`` map:
    ``map.json`` with its signature, ``class_map.tif``; any file this export would replace that an earlier
    export here did not write, or that changed since) raise :class:`FileExistsError` unless ``overwrite=True``,
    which also removes the ``lslib predict`` map's own files, so no stale ``map.json`` is left behind.
    """
    import json

    from lslib.atomic import atomic_path, write_text
    from lslib.data.fetch import sha256sum
    from lslib.data.readers import write_geotiff
    from lslib.inference.codes import (
        BAND_DESCRIPTION,
        NODATA_CODE,
        class_map_tags,
        colour_table,
        encode_class_map,
        labels,
    )
    from lslib.inference.outputs.files import make_readable, read_json
    from lslib.inference.teach import save_taught, teaching_of
    from lslib.prompt_set import save

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"cannot export into {out}: it is a file, not a folder; pick a folder")
    reasons, removable = _other_runs(out) if out.is_dir() else ([], [])
    if reasons and not overwrite:
        raise FileExistsError(
            f"{out} holds another run's outputs: {'; '.join(reasons)}. Export into a new or empty folder, or pass "
            "overwrite=True to replace them (an lslib predict map there is removed with them)"
        )
    out.mkdir(parents=True, exist_ok=True)
    for stale in sorted(removable, key=lambda p: p.name != "map.json"):  # the completion marker first
        stale.unlink(missing_ok=True)
    record: dict[str, Any] = {"lslib_export": 1, "files": {}}
    previous = read_json(out / EXPORT_RECORD)
    if previous is not None and previous.get("lslib_export") and isinstance(previous.get("files"), dict):
        record["files"] = {k: v for k, v in previous["files"].items() if (out / k).exists()}

    def done(path: Path) -> Path:
        """A written file: usual permissions, and into the record (rewritten each time: a crash leaves it true)."""
        make_readable(path)
        record["files"][path.name] = sha256sum(path)
        make_readable(write_text(out / EXPORT_RECORD, json.dumps(record, indent=1, sort_keys=True)))
        return path

    idx = np.asarray(prediction.class_map.values)
    valid = np.isfinite(np.asarray(prediction.confidence.values))
    codes = encode_class_map(idx, valid)  # the one convention, as lslib predict writes it
    classes = prediction.class_map.copy(data=codes)
    classes.attrs = {}
    # one band, described as lslib predict's class map is (the band name becomes its description)
    classes = classes.expand_dims(band=[BAND_DESCRIPTION]).rio.write_nodata(NODATA_CODE, encoded=False)
    names = {int(k): v for k, v in labels(prompts.names).items() if int(k) != NODATA_CODE}
    # LSLIB_DIMS: read_geotiff still gives the (y, x) map back, as before the band got its description
    colormap, tags = colour_table(prompts.colours), {**class_map_tags(prompts.names), "LSLIB_DIMS": "y,x"}
    paths = {
        "classes": done(write_geotiff(classes, out / "classes.tif", colormap=colormap, tags=tags)),
        "confidence": done(write_geotiff(prediction.confidence, out / "confidence.tif")),
    }
    # a taught prompt set keeps its teaching (points + head sidecar), so the export re-maps as shown
    taught = teaching_of(prompts) is not None
    paths["prompts"] = done((save_taught if taught else save)(prompts, out / "prompts.yaml"))
    if taught:
        done(out / "prompts.safetensors")
    import geopandas as gpd
    from rasterio.features import shapes
    from shapely.geometry import shape

    transform = prediction.class_map.rio.transform()
    geoms, values = [], []
    for geom, value in shapes(codes, mask=codes != NODATA_CODE, transform=transform):
        geoms.append(shape(geom))
        values.append(int(value))
    gdf = gpd.GeoDataFrame({"value": values}, geometry=geoms, crs=prediction.class_map.rio.crs)
    if len(gdf):
        gdf = gdf.dissolve(by="value", as_index=False)
    gdf["class"] = [names.get(int(v), str(v)) for v in gdf["value"]]
    gdf["area_ha"] = gdf.geometry.area / 1e4 if gdf.crs is not None and gdf.crs.is_projected else math.nan
    gdf = gdf[["value", "class", "area_ha", "geometry"]]
    with atomic_path(out / "polygons.gpkg") as tmp:
        tmp.unlink(missing_ok=True)  # GDAL's GPKG driver refuses to write over the empty temporary file
        gdf.to_file(tmp, driver="GPKG", layer="classes")
    paths["polygons"] = done(out / "polygons.gpkg")
    return paths

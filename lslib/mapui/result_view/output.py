"""The output folder of ``lslib predict`` as the map reads it: checks, colour table, bounds, legend rows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

Bounds = tuple[tuple[float, float], tuple[float, float]]


class MapOutputError(ValueError):
    """The folder is not a finished ``lslib predict`` output; the message says what it holds and what to do."""



def open_output(out_dir: str | os.PathLike[str]) -> tuple[Path, dict[str, Any], Path, Path]:
    """``(out, sidecar, class_map_path, confidence_path)`` of a finished ``lslib predict`` output folder.

    Raises:
        FileNotFoundError: the folder does not exist.
        MapOutputError: not a folder, no (or a foreign) ``map.json``, an unfinished run (``.progress.json``),
            a missing map file, or a map in pixel coordinates (no CRS: it has no place on a map).
    """
    from lslib.inference.outputs import CLASS_MAP, CONFIDENCE, PROGRESS, SIDECAR, inspect_out

    out = Path(os.fsdecode(out_dir)).expanduser()
    if not out.exists():
        raise FileNotFoundError(f"{out} does not exist: pass the --out folder of a finished `lslib predict` run")
    if not out.is_dir():
        raise MapOutputError(f"{out} is a file: pass the --out folder of a finished `lslib predict` run")
    inv = inspect_out(out)
    if inv.sidecar is None:
        if inv.progress is not None:
            done = len(inv.progress.get("done", []))
            raise MapOutputError(
                f"{out} holds an unfinished `lslib predict` run ({PROGRESS}: {done} block{'s' * (done != 1)} "
                f"finished, no {SIDECAR} yet): it may still be running; if it stopped, rerun the same command "
                "(it resumes), then view the folder"
            )
        if SIDECAR in inv.foreign:
            raise MapOutputError(f"{out / SIDECAR} was not written by lslib (no run signature): not an lslib map")
        raise MapOutputError(
            f"{out} is not a finished `lslib predict` output: no {SIDECAR} (a finished run writes {CLASS_MAP}, "
            f"{CONFIDENCE}, {SIDECAR} and prompts.yaml); map a scene with `lslib predict --out {out}` first"
        )
    doc = inv.sidecar
    files: dict[str, Any] = doc["files"] if isinstance(doc.get("files"), dict) else {}
    paths = {key: out / str(files.get(key, default)) for key, default in
             (("class_map", CLASS_MAP), ("confidence", CONFIDENCE))}  # fmt: skip
    for path in paths.values():
        if not path.is_file():
            raise MapOutputError(f"{path} is missing: {out} is incomplete (rerun `lslib predict` into it)")
        if path.name in inv.foreign:
            raise MapOutputError(f"{path} was not written by lslib: {out} does not hold one lslib map")
    if doc.get("pixel_coordinates"):
        raise MapOutputError(
            f"the map in {out} is in pixel coordinates (its input had no CRS): it has no place on a map; "
            "open class_map.tif as an image instead"
        )
    return out, doc, paths["class_map"], paths["confidence"]


def read_colour_table(path: Path) -> dict[int, tuple[int, int, int, int]]:
    """The colour table of band 1 of a GeoTIFF (``{code: rgba}``)."""
    import rasterio

    with rasterio.open(path) as src:
        return {int(k): (int(v[0]), int(v[1]), int(v[2]), int(v[3])) for k, v in src.colormap(1).items()}


def cog_bounds_4326(path: Path) -> Bounds:
    """``((south, west), (north, east))`` of a raster in EPSG:4326 (edges densified)."""
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        if src.crs is None:
            raise MapOutputError(f"{path} has no CRS: it has no place on a map")
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
    return ((float(south), float(west)), (float(north), float(east)))


def legend_rows(
    sidecar: dict[str, Any], colour_table: dict[int, tuple[int, int, int, int]]
) -> list[tuple[str, str, float]]:
    """``(name, "#rrggbb", percent)`` for each class present in the map (``areas`` with pixels), unknown last.

    Names come from map.json's ``labels`` (``code -> name``), colours from the COG's colour table.
    """
    from lslib.inference.outputs import UNKNOWN_CODE

    labels = {str(v): int(k) for k, v in (sidecar.get("labels") or {}).items() if str(k).isdigit()}
    rows = []
    for i, area in enumerate(sidecar.get("areas") or []):
        if int(area.get("pixels", 0)) <= 0:
            continue
        name = str(area.get("class"))
        code = labels.get(name, UNKNOWN_CODE if name == "unknown" else i)
        r, g, b, _ = colour_table.get(code, (0, 0, 0, 255))
        rows.append((name, f"#{r:02x}{g:02x}{b:02x}", float(area.get("percent", 0.0))))
    return rows

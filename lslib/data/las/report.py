"""LAS build report: chips written / rejected / failed with reasons, class frequencies, a plot, an index.

Everything here is derived from the build folder (chips and records), so it is rebuilt identically
after a resumed build. Outputs in ``<root>``: ``report.json``, ``report.md``, ``report.png`` and
``index.parquet`` (GeoParquet of chip footprints with their metadata, for GIS and for training).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from lslib.atomic import atomic_path, write_text
from lslib.data.las.chips import CHIPS, FAILED, REJECTED, list_chips, list_records, read_meta

#: the files this module writes into a build folder (and nowhere else)
REPORT_FILES = ("report.json", "report.md", "report.png", "index.parquet")


class NotALasBuildError(ValueError):
    """The folder given to :func:`las_report` holds no LAS build; nothing was written into it."""


def is_las_build(root: str | Path) -> bool:
    """Whether ``root`` holds a LAS build.

    True when ``root`` holds a ``<subset>/points.parquet`` (written first by ``lslib las sample``
    and ``lslib las build``), a complete chip (``<subset>/chips/<id>/meta.json``) or a rejected/failed record.
    """
    root = Path(root)
    if not root.is_dir():
        return False
    markers = ("*/points.parquet", f"*/{CHIPS}/*/meta.json", f"*/{REJECTED}/*.json", f"*/{FAILED}/*.json")
    return any(any(p.is_file() for p in root.glob(pattern)) for pattern in markers)


def _chip_attrs(path: Path) -> dict[str, Any]:
    return {**read_meta(path), "path": str(path)}


def collect(root: str | Path) -> dict[str, Any]:
    """Scan a build folder: per subset, counts, reasons and class pixel frequencies (by class name)."""
    root = Path(root)
    chips = [_chip_attrs(p) for p in list_chips(root)]
    rejected, failed = list_records(root, REJECTED), list_records(root, FAILED)
    subsets = sorted({c["subset"] for c in chips} | {r["subset"] for r in rejected + failed})
    out: dict[str, Any] = {"root": str(root), "subsets": {}}
    for s in subsets:
        mine = [c for c in chips if c["subset"] == s]
        pixels: Counter[str] = Counter()
        chips_with: Counter[str] = Counter()
        taxonomy = mine[0]["taxonomy"] if mine else None
        for c in mine:
            names = {k: v["name"] for k, v in c["classes"].items()}
            for code, n in c["class_counts"].items():
                pixels[names.get(code, f"code {code}")] += int(n)
                chips_with[names.get(code, f"code {code}")] += 1
        total = sum(pixels.values()) or 1
        out["subsets"][s] = {
            "taxonomy": taxonomy,
            "written": len(mine),
            "rejected": sum(r["subset"] == s for r in rejected),
            "failed": sum(r["subset"] == s for r in failed),
            "reasons": dict(Counter(f"{r.get('reason', '?')}" for r in rejected if r["subset"] == s)),
            "failures": dict(Counter(f"{r.get('reason', '?')}" for r in failed if r["subset"] == s)),
            "class_pixel_share": {k: round(v / total, 5) for k, v in pixels.most_common()},
            "class_chip_count": dict(chips_with.most_common()),
        }
    out["chips"] = chips
    return out


def write_index(chips: list[dict[str, Any]], path: Path) -> Path | None:
    """GeoParquet index of chip footprints (EPSG:4326) with subset, ids, dates and present classes."""
    import geopandas as gpd
    from shapely.geometry import box

    if not chips:
        return None
    rows = []
    for c in chips:
        counts = c["class_counts"]
        names = {k: v["name"] for k, v in c["classes"].items()}
        rows.append(
            {
                "subset": c["subset"],
                "point_id": c["point_id"],
                "path": c["path"],
                "taxonomy": c["taxonomy"],
                "sensor": c["sensor"],
                "gsd": c["gsd"],
                "image_item": c["image_item"],
                "image_datetime": c["image_datetime"],
                "label_item": c["label_item"],
                "classes_present": ", ".join(names.get(k, k) for k in counts),
                "cloud_fraction": c["cloud_fraction"],
                "geometry": box(*c["bbox_wgs84"]),
            }
        )
    gdf = gpd.GeoDataFrame(rows, crs="EPSG:4326")
    with atomic_path(path) as tmp:
        gdf.to_parquet(tmp)
    return path


def _markdown(rep: dict[str, Any]) -> str:
    lines = [
        "# LAS build report",
        "",
        "| subset | taxonomy | written | rejected | failed | reasons |",
        "|---|---|---:|---:|---:|---|",
    ]
    for s, r in rep["subsets"].items():
        reasons = "; ".join(f"{k} {v}" for k, v in {**r["reasons"], **r["failures"]}.items()) or "-"
        lines.append(f"| {s} | {r['taxonomy']} | {r['written']} | {r['rejected']} | {r['failed']} | {reasons} |")
    for s, r in rep["subsets"].items():
        lines += ["", f"## {s}: class frequencies (share of labelled pixels; chips containing the class)", ""]
        lines += [
            f"- {k}: {100 * v:.2f} % ({r['class_chip_count'].get(k, 0)} chips)"
            for k, v in r["class_pixel_share"].items()
        ]
    return "\n".join(lines) + "\n"


def _plot(rep: dict[str, Any], path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: never changes the backend of a notebook

    subsets = [s for s, r in rep["subsets"].items() if r["class_pixel_share"]]
    if not subsets:
        return
    n_bars = sum(len(rep["subsets"][s]["class_pixel_share"]) for s in subsets)
    fig = Figure(figsize=(8, 1.2 + 0.28 * n_bars + 0.6 * len(subsets)))
    axes = fig.subplots(len(subsets), 1, squeeze=False)
    for ax, s in zip(axes[:, 0], subsets, strict=True):
        r = rep["subsets"][s]
        names = list(r["class_pixel_share"])[::-1]
        ax.barh(names, [100 * r["class_pixel_share"][n] for n in names], color="#4c78a8")
        ax.set_title(
            f"{s} — {r['written']} chips written, {r['rejected']} rejected, {r['failed']} failed",
            fontsize=9,
            loc="left",
        )
        ax.set_xlabel("% of labelled pixels")
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)


def las_report(root: str | Path) -> dict[str, Any]:
    """Write ``report.json``, ``report.md``, ``report.png`` and ``index.parquet`` into ``root``.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        NotALasBuildError: ``root`` exists but holds no LAS build (:func:`is_las_build`): nothing is written,
            so a folder of the user's own ``report.md`` / ``report.json`` is never overwritten.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no LAS build at {root}; run `lslib las build --out {root}` first")
    if not is_las_build(root):
        raise NotALasBuildError(
            f"{root} is not a LAS build folder (no <subset>/points.parquet, chips or records in it), so no report "
            f"was written there and its files are untouched; give the --out folder of `lslib las build`"
        )
    rep = collect(root)
    write_index(rep["chips"], root / "index.parquet")
    summary = {k: v for k, v in rep.items() if k != "chips"}
    write_text(root / "report.json", json.dumps(summary, indent=1))
    write_text(root / "report.md", _markdown(summary))
    _plot(summary, root / "report.png")
    return summary

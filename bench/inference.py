"""Inference benchmark: prompt-edit latency, whole-scene throughput, peak memory vs scene size.

    python bench/inference.py [--quick] [--json PATH]

* prompt edit: a 512² 4-band tile with 10 classes, embeddings cached; time ``predictor.predict`` after
  a one-word edit of one class (target <= 30 ms on 2 cores, ``tiny``).
* throughput: :func:`lslib.inference.tiling.large_area.map_large_area` on the real Sentinel-2 tile T29UNU (the
  mirror holds its 60 m bands, 1830², mapped at their native grid) and on a synthetic scene written to
  disk as a tiled GeoTIFF (10980² = a 10 m S2 tile; 2048² with ``--quick``), in Mpx/s (target >= 1).
* peak RSS: the same mapping, one subprocess per scene size (1x, 4x, 16x pixels), read from
  ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` (target: flat, <= 1.5 GB).

Random-weight ``tiny`` model, ``torch.set_num_threads(2)``, serial blocks.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CLASSES = ["water", "tree cover", "grassland", "cropland", "built-up area", "bare ground", "snow and ice",
           "wetland", "shrubland", "mangroves"]  # fmt: skip


def _model():  # type: ignore[no-untyped-def]
    import torch

    from lslib.model.build import build_model

    torch.set_num_threads(2)
    torch.manual_seed(0)
    return build_model("tiny").eval()


def write_scene(path: Path, size: int, *, bands: int = 4) -> Path:
    """A synthetic reflectance scene (tiled, deflate GeoTIFF with wavelength tags), written block by block."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    profile = {"driver": "GTiff", "width": size, "height": size, "count": bands, "dtype": "float32",
               "crs": "EPSG:32629", "transform": from_origin(500000, 5900000, 10, 10), "nodata": float("nan"),
               "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
               "bigtiff": "if_safer"}  # fmt: skip
    waves = [0.665, 0.56, 0.49, 0.842][:bands]
    with rasterio.open(path, "w", **profile) as dst:
        for r in range(0, size, 1024):
            for c in range(0, size, 1024):
                h, w = min(1024, size - r), min(1024, size - c)
                yy, xx = np.mgrid[r : r + h, c : c + w].astype(np.float32)
                data = np.stack([0.2 + 0.15 * np.sin(yy / (90 + 17 * b)) * np.cos(xx / (70 + 11 * b))
                                 for b in range(bands)])  # fmt: skip
                dst.write(data.astype(np.float32), window=Window(c, r, w, h))
        for i, wl in enumerate(waves):
            dst.update_tags(i + 1, wavelength_um=repr(wl))
    return path


def prompt_edit_latency(repeats: int) -> dict[str, float]:
    import xarray as xr

    from lslib.inference import Predictor

    pred = Predictor(_model(), device="cpu")
    rng = np.random.default_rng(0)
    coords = {"band": ["red", "green", "blue", "nir"], "wavelength": ("band", [0.665, 0.56, 0.49, 0.842])}
    da = xr.DataArray(rng.uniform(0.02, 0.4, (4, 512, 512)).astype(np.float32), dims=("band", "y", "x"), coords=coords)
    pred.set_image(da)
    names = list(CLASSES)
    pred.predict(names)
    times = []
    for i in range(repeats):
        names[3] = f"cropland {i}"  # a one-word edit: one new prompt to encode
        t = time.perf_counter()
        pred.predict(names)
        times.append(time.perf_counter() - t)
    return {"median_ms": 1e3 * float(np.median(times)), "min_ms": 1e3 * float(np.min(times))}


def map_throughput(source: object, out: Path, **kw: object) -> dict[str, float]:
    from lslib.inference.predictor import Predictor
    from lslib.inference.tiling.large_area import map_large_area

    pred = Predictor(_model(), device="cpu", cache_bytes=0)
    pred.text_embeddings(__import__("lslib.inference.predictor", fromlist=["x"]).resolve_prompts(CLASSES))
    t = time.perf_counter()
    res = map_large_area(source, CLASSES, out, predictor=pred, overwrite=True, progress=False, **kw)  # type: ignore[arg-type]
    seconds = time.perf_counter() - t
    import rasterio

    with rasterio.open(res.paths["class_map"]) as src:
        px = src.width * src.height
    return {"pixels": px, "seconds": seconds, "mpx_s": px / seconds / 1e6, "windows": res.windows_computed}


def rss_probe(size: int, tile: int, block: int) -> None:
    """Child of the benchmark: map one synthetic scene in a grandchild and print its peak RSS (MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        img = write_scene(Path(tmp) / "scene.tif", size)
        code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); sys.argv=['x']; import bench.inference as b; "
                f"from pathlib import Path; print(b.map_throughput(Path({str(img)!r}), Path({tmp!r}) / 'out', "
                f"tile={tile}, overlap={tile // 8}, block={block}))")  # fmt: skip
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def peak_rss(size: int, tile: int, block: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--rss-probe", str(size), str(tile), str(block)], check=True,
                         capture_output=True, text=True)  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small scenes, fewer repeats")
    ap.add_argument("--json", default=None, help="write the results as JSON here")
    ap.add_argument("--rss-probe", nargs=3, type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_probe:
        rss_probe(*args.rss_probe)
        return
    from lslib.data.fetch import fetch_dir

    tables, targets = [], []
    lat = prompt_edit_latency(5 if args.quick else 20)
    tables.append({"caption": "Prompt edit on cached embeddings (512², 10 classes, tiny)", "rows": [lat]})
    targets.append({"metric": "prompt-edit latency (tiny, 512², 10 classes)", "target": "<= 30 ms",
                    "measured": round(lat["median_ms"], 1), "unit": "ms", "met": lat["median_ms"] <= 30})  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        s2 = fetch_dir("s2-l2a-scl-T29UNU-ireland")
        r = map_throughput(s2, Path(tmp) / "t29unu", tile=512, overlap=64, block=2048)
        rows.append({"scene": "T29UNU (real, 11 bands @ 60 m)", **r})
        size = 2048 if args.quick else 10980
        img = write_scene(Path(tmp) / "synthetic.tif", size)
        r = map_throughput(img, Path(tmp) / "synthetic", tile=512, overlap=64, block=2048)
        rows.append({"scene": f"synthetic {size}² (4 bands, tiled GeoTIFF)", **r})
    for row in rows:
        row["seconds"], row["mpx_s"] = round(row["seconds"], 2), round(row["mpx_s"], 3)
    tables.append({"caption": "Whole-scene throughput (map_large_area, tile 512, overlap 64)", "rows": rows})
    best = rows[-1]["mpx_s"]
    targets.append({"metric": "whole-scene throughput (synthetic)", "target": ">= 1 Mpx/s", "measured": best,
                    "unit": "Mpx/s", "met": best >= 1.0})  # fmt: skip
    base, tile, block = (512, 256, 512) if args.quick else (2048, 512, 1024)
    rss_rows = []
    for factor in (1, 4, 16):
        size = base * int(np.sqrt(factor))
        rss = round(peak_rss(size, tile, block))
        rss_rows.append({"scale": f"{factor}x", "size": f"{size}²", "peak_rss_mb": rss})
    tables.append({"caption": f"Peak RSS vs scene size (tile {tile}, block {block})", "rows": rss_rows})
    peak = max(r["peak_rss_mb"] for r in rss_rows)
    flat = peak <= 1.25 * min(r["peak_rss_mb"] for r in rss_rows)
    targets.append({"metric": "peak RSS at 16x scene (flat across 1x/4x/16x)", "target": "<= 1536 MB and flat",
                    "measured": peak, "unit": "MB", "met": bool(peak <= 1536 and flat)})  # fmt: skip
    result = {"title": "lslib inference", "tables": tables, "targets": targets,
              "machine": f"{platform.machine()} {platform.processor() or ''} {__import__('os').cpu_count()} cpus, "
                         f"torch threads 2, python {platform.python_version()}"}  # fmt: skip
    for t in tables:
        print(f"\n### {t['caption']}\n")
        keys = list(t["rows"][0])
        print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
        for row in t["rows"]:
            print("| " + " | ".join(str(row[k]) if not isinstance(row[k], float) else f"{row[k]:.3g}" for k in keys)
                  + " |")  # fmt: skip
    print("\n### Targets\n\n| metric | target | measured | met |\n|---|---|---|---|")
    for t in targets:
        print(f"| {t['metric']} | {t['target']} | {t['measured']} {t['unit']} | {'yes' if t['met'] else 'no'} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()

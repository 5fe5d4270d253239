"""Benchmark: LAS-mini build throughput from the loopback STAC API, 1 and 2 Dask workers.

Builds the 128 x 128 px subsets (TerraMesh S2 + S1 at 10 m, Landsat/NLCD Zion at 30 m) from the same
points into fresh folders, once per worker count, and reports steady-state points/s and chips/s
(cluster start-up and imports excluded) and the peak resident memory of the whole process tree
(main process + Dask scheduler/workers), sampled every 50 ms.
Target (issue 3): >= 20 chips/s on 2 cores for 128 x 128 chips, near-linear in workers.

    LSLIB_DATA_MIRROR=../shared/data .venv/bin/python bench/las_build.py [--n 60] [--quick] [--json PATH]

``--quick``: 12 points per subset. ``--json``: the benchmark contract (``bench/_contract.py``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _contract import target, write_json

os.environ.setdefault("LSLIB_OFFLINE", "1")

SUBSETS = ["mini-terramesh-s2-esri", "mini-terramesh-s1-esri", "mini-zion-landsat-nlcd"]
TARGET = 20.0


class PeakRSS:
    """Peak summed RSS (MB) of this process and its children while the context is open."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total / 2**20)
            time.sleep(0.05)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _warm_up() -> None:
    import odc.stac  # noqa: F401

    from lslib.data.las import cut as las

    las._configure_gdal()


def main() -> None:
    from lslib.data.las.build import build_las, dask_client, points_path, sample_subset
    from lslib.data.las.recipes import load_recipe
    from lslib.data.las.sampling import write_points
    from lslib.data.local_stac.catalog import local_stac

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=60, help="points per subset")
    ap.add_argument("--quick", action="store_true", help="12 points per subset")
    ap.add_argument("--json", default=None, help="also write the results as JSON (benchmark contract)")
    args = ap.parse_args()
    if args.quick:
        args.n = 12
    rows = []
    with tempfile.TemporaryDirectory() as tmp, local_stac() as server:
        points = Path(tmp) / "points"
        recipes = [load_recipe(s) for s in SUBSETS]
        for r in recipes:
            write_points(sample_subset(r, url=server.url, n=args.n), points_path(points, r.name).parent,
                         name="points")
        for workers in (1, 2):
            root = Path(tmp) / f"w{workers}"
            shutil.copytree(points, root)
            with PeakRSS() as mem, dask_client(workers) as client:
                client.run(_warm_up)  # workers up, modules imported: start-up is not build time
                t0 = time.perf_counter()
                results = []
                for r in recipes:
                    results += build_las(r, root, stac_url=server.url, client=client, progress=False).results
                seconds = time.perf_counter() - t0
            written = sum(x["status"] == "written" for x in results)
            rows.append((workers, len(results), written, seconds, len(results) / seconds, written / seconds, mem.peak))
    print("| workers | points | chips written | seconds | points/s | chips/s | peak RSS (MB) | target chips/s |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w, n, c, s, pps, cps, peak in rows:
        flag = "met" if cps >= TARGET else "MISSED"
        print(f"| {w} | {n} | {c} | {s:.1f} | {pps:.1f} | {cps:.1f} | {peak:.0f} | >= {TARGET:g} ({flag}) |")
    if len(rows) == 2:
        print(f"\nspeed-up 1 -> 2 workers: {rows[1][4] / rows[0][4]:.2f}x (points/s); cluster start-up excluded")
    keys = ["workers", "points", "chips written", "seconds", "points/s", "chips/s", "peak RSS (MB)"]
    table = [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in zip(keys, r, strict=True)} for r in rows]
    targets = [target(f"LAS-mini chips/s, {r[0]} worker(s), 128 px", f">= {TARGET:g}", r[5], "chips/s", r[5] >= TARGET)
               for r in rows if r[0] == 2]
    if len(rows) == 2:
        table.append({"workers": "speed-up 1 -> 2", "points/s": round(rows[1][4] / rows[0][4], 2)})
    base = [{"metric": "LAS-mini points/s", "method": "2 Dask workers", "value": rows[1][4], "baseline": "1 worker",
             "baseline_value": rows[0][4], "higher_is_better": True}] if len(rows) == 2 else []
    write_json(args.json, "LAS-mini build throughput (loopback STAC API)",
               [{"caption": f"{args.n} points per subset, {', '.join(SUBSETS)}; cluster start-up excluded",
                 "rows": table}], targets, baselines=base)


if __name__ == "__main__":
    main()

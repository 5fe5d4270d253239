"""Benchmark the data layer: fetch (hash verification) and readers on the real samples.

Each case runs in a fresh subprocess so that its peak resident memory (ru_maxrss) is its own.
Prints a Markdown table; no targets are set for the data layer yet, the numbers are for tracking.

    LSLIB_DATA_MIRROR=../shared/data .venv/bin/python bench/bench_data.py [--quick] [--json PATH]

``--quick`` runs two small cases (a TerraMesh site, Landsat Zion); ``--json`` also writes the table in the
benchmark contract (``bench/_contract.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _contract import write_json

CASES: dict[str, str] = {
    "fetch + verify all manifests (cold cache)": """
from lslib.data.fetch import fetch, load_manifests
n = 0
for m in load_manifests().values():
    for e in m.files.values():
        fetch(e.key); n += e.size
result = f"{n / 1e6:.0f} MB"
""",
    "TerraMesh site: S2 L2A 12 bands + LULC": """
from lslib.data.fetch import fetch
from lslib.data.readers import read_label, read_sentinel2
img = read_sentinel2(fetch("terramesh-examples-s2-esri-lulc/S2L2A/433D_629L_3_1.tif")).load()
lab = read_label(fetch("terramesh-examples-s2-esri-lulc/LULC/433D_629L_3_1.tif"), taxonomy="terramesh_lulc").load()
result = f"{img.shape}"
""",
    "BigEarthNet patch: 12 per-band files, 20/60 m -> 10 m": """
from lslib.data.fetch import fetch_dir
from lslib.data.readers import read_sentinel2
d = fetch_dir("bigearthnet-samples/BigEarthNet-S2-Example/S2A_MSIL2A_20170613T101031_87_48")
img = read_sentinel2(d).load()
result = f"{img.shape}"
""",
    "Landsat 8 Zion 4 bands + NLCD reprojected": """
from lslib.data.fetch import fetch, fetch_dir
from lslib.data.readers import read_label, read_landsat, reproject_label
ls = read_landsat(fetch_dir("landsat8-nlcd2011-zion")).load()
nlcd = read_label(fetch("landsat8-nlcd2011-zion/nlcd2011.tif"), taxonomy="nlcd")
on = reproject_label(nlcd, ls).load()
result = f"{ls.shape}"
""",
    "S2 tile T29UNU: 11 JP2 bands @ 60 m (1830x1830)": """
from lslib.data.fetch import fetch_dir
from lslib.data.readers import read_sentinel2
img = read_sentinel2(fetch_dir("s2-l2a-scl-T29UNU-ireland"), resolution=60).load()
result = f"{img.shape}"
""",
}

QUICK = ["TerraMesh site: S2 L2A 12 bands + LULC", "Landsat 8 Zion 4 bands + NLCD reprojected"]

RUNNER = """
import json, resource, sys, time
t0 = time.perf_counter()
exec(sys.argv[1])
dt = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": dt, "peak_mb": peak_mb, "result": result}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="two small cases only")
    ap.add_argument("--json", default=None, help="also write the results as JSON (benchmark contract)")
    args = ap.parse_args()
    cases = {k: v for k, v in CASES.items() if not args.quick or k in QUICK}
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "LSLIB_CACHE_DIR": cache, "LSLIB_OFFLINE": "1"}
        for name, code in cases.items():
            proc = subprocess.run([sys.executable, "-c", RUNNER, code], env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                err = proc.stderr.strip().splitlines()[-1] if proc.stderr else ""
                rows.append({"case": name, "seconds": "failed", "peak RSS (MB)": "", "result": err})
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append({"case": name, "seconds": round(r["seconds"], 2), "peak RSS (MB)": round(r["peak_mb"]),
                         "result": r["result"]})
    print("| case | seconds | peak RSS (MB) | result |\n|---|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    write_json(args.json, "Data layer: fetch and readers on the real samples",
               [{"caption": "Readers (each case in a fresh process; no targets set for the data layer)", "rows": rows}])


if __name__ == "__main__":
    main()

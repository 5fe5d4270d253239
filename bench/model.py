"""Benchmark the model variants on this machine's CPU (2 threads): parameters, encoder time for a
512 x 512 Sentinel-2 tile (12 bands), decoder time for 10 classes on a cached embedding, peak memory.

Each variant runs in its own subprocess so that its peak RSS is its own. Random weights (timing does
not depend on them). Targets (issue 4) for ``tiny`` on 2 cores: encoder <= 150 ms per 512^2 tile,
decoder-only <= 30 ms for 10 classes.

    .venv/bin/python bench/model.py [--variants tiny base paper] [--repeats 10] [--quick] [--json PATH]

``--quick``: ``tiny`` only, 3 repeats. ``--json``: the benchmark contract (``bench/_contract.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _contract import target as target_row
from _contract import write_json

TARGETS = {"tiny": {"encoder_ms": 150.0, "decoder_ms": 30.0}}

RUNNER = r"""
import json, resource, statistics, sys, time
import torch
from lslib.data.bands import wavelengths
from lslib.model.build import build_model, count_parameters
torch.set_num_threads(2)
variant, repeats = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
model = build_model(variant).eval()
waves = list(wavelengths("sentinel2_l2a"))
x = torch.rand(1, len(waves), 512, 512) * 0.4
text = torch.nn.functional.normalize(torch.randn(10, 384), dim=-1)

def timed(fn, n):
    fn(); fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)

with torch.inference_mode():
    emb = model.encode_image(x, waves)
    enc = timed(lambda: model.encode_image(x, waves), repeats)
    dec = timed(lambda: model.decoder(emb.neck, text, high_res=emb.high_res), repeats * 3)
    full = timed(lambda: model.decode(emb, text), repeats * 3)
print(json.dumps({
    "variant": variant, "params_m": count_parameters(model)["total"] / 1e6,
    "encoder_ms": enc, "decoder_ms": dec, "decode_full_ms": full,
    "embedding_mb": emb.nbytes() / 2**20,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=["tiny", "base", "paper"])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="tiny only, 3 repeats")
    ap.add_argument("--json", default=None, help="also write the results as JSON (benchmark contract)")
    args = ap.parse_args()
    if args.quick:
        args.variants, args.repeats = ["tiny"], 3
    rows, failed = [], []
    for v in args.variants:
        reps = args.repeats if v == "tiny" else max(2, args.repeats // 5)
        proc = subprocess.run([sys.executable, "-c", RUNNER, v, str(reps)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{v}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
            failed.append(v)
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print("| variant | parameters (M) | encoder 512² (ms) | decoder, 10 classes (ms) | decode + alignment + "
          "upsampling (ms) | embedding (MB) | peak RSS (MB) | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        t = TARGETS.get(r["variant"])
        if t:
            ok = r["encoder_ms"] <= t["encoder_ms"] and r["decoder_ms"] <= t["decoder_ms"]
            target = f"enc <= {t['encoder_ms']:g}, dec <= {t['decoder_ms']:g}: {'met' if ok else 'MISSED'}"
        else:
            target = "-"
        print(f"| {r['variant']} | {r['params_m']:.2f} | {r['encoder_ms']:.0f} | {r['decoder_ms']:.1f} | "
              f"{r['decode_full_ms']:.1f} | {r['embedding_mb']:.1f} | {r['peak_rss_mb']:.0f} | {target} |")

    targets = []
    for r in rows:
        for key, what in (("encoder_ms", "encoder, 512² S2 tile"), ("decoder_ms", "decoder, 10 classes")):
            if r["variant"] in TARGETS:
                limit = TARGETS[r["variant"]][key]
                targets.append(target_row(f"{r['variant']} {what}", f"<= {limit:g} ms", r[key], "ms", r[key] <= limit))
    table = [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    table += [{"variant": v, "params_m": "failed"} for v in failed]
    write_json(args.json, "Model variants on this CPU (2 threads)",
               [{"caption": "Parameters, encoder time per 512² tile, decoder time for 10 classes", "rows": table}],
               targets)


if __name__ == "__main__":
    main()

"""Memory and time of the Binder path: the quick-start and zero-shot mapping notebooks, executed top to bottom.

Binder gives a notebook about 2 GB of RAM. Each notebook runs in a child process (``jupyter nbconvert
--execute``, small mode by default, offline, the trained default model from ``~/.cache/lslib``), while this
script samples the resident memory (RSS) of the kernel's process tree every 0.1 s: the kernel plus whatever
it starts. It reports the peak of that sum, the kernel process's own high-water mark (``VmHWM``, exact), the
peak of the whole tree including the nbconvert client, and the wall time. Target: kernel tree <= 2 GB.

    .venv/bin/python bench/notebooks.py [--quick] [--full-size] [--json PATH] [--notebooks 00_quickstart ...]

``--quick`` runs only 00_quickstart; ``--full-size`` runs without ``LSLIB_SMALL=1``. Prepare the default model
first (``make default-model``), or the first notebook's time includes training it (~3 min).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["00_quickstart", "04_zero_shot_mapping"]
TARGET_MB = 2048.0
MB = 2**20


def _hwm_mb(pid: int) -> float:
    """The process's peak RSS so far (VmHWM), from /proc; 0 where unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _is_kernel(p: psutil.Process) -> bool:
    try:
        return any("ipykernel" in part for part in p.cmdline())
    except psutil.Error:
        return False


def _rss(procs: list[psutil.Process]) -> float:
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / MB


def run_notebook(name: str, *, small: bool, timeout_s: int) -> dict[str, Any]:
    """Execute ``notebooks/<name>.ipynb`` in a child process, sampling memory; returns one table row."""
    path = REPO / "notebooks" / f"{name}.ipynb"
    env = dict(os.environ, LSLIB_OFFLINE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.pop("LSLIB_SMALL", None)
    if small:
        env["LSLIB_SMALL"] = "1"
    mirror = REPO.parent / "shared" / "data"
    if not env.get("LSLIB_DATA_MIRROR") and mirror.is_dir():
        env["LSLIB_DATA_MIRROR"] = str(mirror)
    with tempfile.TemporaryDirectory(prefix="lslib-bench-nb-") as tmp:
        cmd = [
            sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "notebook",
            f"--ExecutePreprocessor.timeout={timeout_s}", "--output-dir", tmp, "--output", f"{name}.executed",
            str(path),
        ]  # fmt: skip
        log = Path(tmp) / "nbconvert.log"
        t0 = time.perf_counter()
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=path.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        peak_kernel = peak_tree = hwm_kernel = 0.0
        kernel: psutil.Process | None = None
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            kernel = kernel if kernel is not None and kernel.is_running() else next(filter(_is_kernel, tree), None)
            peak_tree = max(peak_tree, _rss(tree))
            if kernel is not None:
                try:
                    ktree = [kernel, *kernel.children(recursive=True)]
                except psutil.Error:
                    ktree = []
                peak_kernel = max(peak_kernel, _rss(ktree))
                hwm_kernel = max(hwm_kernel, _hwm_mb(kernel.pid))
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        rc = proc.wait()
        tail = log.read_text(errors="replace")[-3000:]
    if rc != 0:
        print(f"{name}: nbconvert failed (exit {rc})\n{tail}", file=sys.stderr)
    return {
        "notebook": f"{name}.ipynb",
        "mode": "small" if small else "full",
        "ok": rc == 0,
        "wall_s": round(wall, 1),
        "kernel_tree_peak_mb": round(peak_kernel, 0),
        "kernel_vmhwm_mb": round(hwm_kernel, 0),
        "all_processes_peak_mb": round(peak_tree, 0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notebooks", nargs="+", default=None, help=f"names without .ipynb (default: {NOTEBOOKS})")
    ap.add_argument("--quick", action="store_true", help="only 00_quickstart")
    ap.add_argument("--full-size", action="store_true", help="run without LSLIB_SMALL=1")
    ap.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = ap.parse_args()
    names = args.notebooks or (NOTEBOOKS[:1] if args.quick else NOTEBOOKS)
    rows = [run_notebook(n, small=not args.full_size, timeout_s=args.timeout) for n in names]

    caption = "Notebooks executed top to bottom (nbconvert), memory sampled every 0.1 s"
    print(f"### {caption}\n")
    print("| notebook | mode | ok | wall (s) | kernel tree peak RSS (MB) | kernel VmHWM (MB) | all processes (MB) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['notebook']} | {r['mode']} | {'yes' if r['ok'] else 'FAILED'} | {r['wall_s']:.1f} | "
            f"{r['kernel_tree_peak_mb']:.0f} | {r['kernel_vmhwm_mb']:.0f} | {r['all_processes_peak_mb']:.0f} |"
        )
    targets = [
        {
            "metric": f"{r['notebook']} ({r['mode']}) kernel tree peak RSS",
            "target": f"<= {TARGET_MB:.0f} MB (Binder)",
            "measured": r["kernel_tree_peak_mb"],
            "unit": "MB",
            "met": bool(r["ok"] and r["kernel_tree_peak_mb"] <= TARGET_MB),
        }
        for r in rows
    ]
    print()
    for t in targets:
        verdict = "met" if t["met"] else "MISSED"
        print(f"- {t['metric']}: {t['measured']:.0f} {t['unit']} (target {t['target']}): {verdict}")
    if args.json:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _contract import write_json

        write_json(args.json, "Notebook memory (Binder path)", [{"caption": caption, "rows": rows}], targets)
        print(f"\nwrote {args.json.resolve()}")
    if not all(r["ok"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()

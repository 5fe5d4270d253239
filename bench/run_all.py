"""Run every benchmark and write ``BENCHMARKS.md``: machine, date, each table, targets, ratios to baselines.

Each ``bench/<name>.py`` runs in its own subprocess with ``--json`` (the contract in ``bench/_contract.py``);
every number in the report comes from those files, none is typed here. A bench that is missing, fails,
times out or writes no JSON is reported as such and the others still run. The report is written
atomically (a killed run leaves the previous ``BENCHMARKS.md``).

    LSLIB_DATA_MIRROR=../shared/data .venv/bin/python bench/run_all.py [--quick] [--only model train]
        [--out BENCHMARKS.md] [--timeout 3600]

Every run also writes each bench's result to ``BENCHMARKS.json`` beside the report. ``--only`` reruns some
benches and keeps the others' latest results from there (their rows say when they were measured); a bench
with no stored result keeps its section of the previous report verbatim, under "Kept from an earlier report".
``--from-json NAME=PATH`` takes a bench's result from the JSON a direct run of it wrote (``bench/NAME.py
--json PATH`` with its own options, e.g. cached training runs) instead of running it again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from _contract import machine  # noqa: E402

#: the known benches, in report order; any other ``bench/<name>.py`` (not ``_*``) follows alphabetically
KNOWN = ["bench_data", "las_build", "model", "train", "fusion", "generalization", "augmentation", "fewshot",
         "inference", "mapui", "notebooks"]
BENCHES = KNOWN + sorted(p.stem for p in HERE.glob("*.py")
                         if p.stem not in KNOWN and not p.stem.startswith("_") and p.stem != "run_all")


def run_bench(name: str, quick: bool, timeout: float, workdir: Path) -> dict[str, Any]:
    """Run one bench; returns ``{"name", "status", "seconds", "doc", "detail"}`` (never raises)."""
    script = HERE / f"{name}.py"
    if not script.exists():
        return {"name": name, "status": "missing", "seconds": 0.0, "doc": None, "detail": f"{script.name} not found"}
    out = workdir / f"{name}.json"
    cmd = [sys.executable, str(script), "--json", str(out), *(["--quick"] if quick else [])]
    env = {**os.environ, "LSLIB_OFFLINE": os.environ.get("LSLIB_OFFLINE", "1"), "MPLBACKEND": "Agg"}
    mirror = REPO.parent / "shared" / "data"  # the sample mirror, as in the tests (CI: ../shared/data)
    if not env.get("LSLIB_DATA_MIRROR") and mirror.is_dir():
        env["LSLIB_DATA_MIRROR"] = str(mirror)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"name": name, "status": "timeout", "seconds": time.perf_counter() - t0, "doc": None,
                "detail": f"no result within {timeout:.0f} s"}
    seconds = time.perf_counter() - t0
    tail = " / ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
    if proc.returncode != 0:
        return {"name": name, "status": "failed", "seconds": seconds, "doc": None,
                "detail": f"exit code {proc.returncode}: {tail}"}
    try:
        doc = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"name": name, "status": "no JSON", "seconds": seconds, "doc": None,
                "detail": f"{exc.__class__.__name__}: {exc} (does it accept --json?)"}
    return {"name": name, "status": "ok", "seconds": seconds, "doc": doc, "detail": ""}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_table(rows: list[dict[str, Any]]) -> list[str]:
    """A Markdown table over the union of the rows' keys (first-seen order); missing cells empty."""
    if not rows:
        return ["(no rows)"]
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_cell(r.get(k, "")) for k in keys) + " |" for r in rows]
    return lines


def _version(module: str) -> str:
    try:
        mod = __import__(module)
        return str(getattr(mod, "__version__", "?"))
    except Exception as exc:
        return f"unavailable ({exc.__class__.__name__})"


def _git() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
        return head + (" + uncommitted changes" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def stored_results(path: Path) -> dict[str, dict[str, Any]]:
    """``{bench: result}`` from a ``BENCHMARKS.json`` (empty when missing or unreadable)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {r["name"]: r for r in doc.get("results", []) if isinstance(r, dict) and "name" in r}


def previous_sections(report: Path, names: list[str]) -> list[str]:
    """The ``## <name>: ...`` sections of an earlier report for ``names``, verbatim (headings included)."""
    try:
        text = report.read_text(encoding="utf-8")
    except OSError:
        return []
    out, keep = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            head = line[3:].split(":", 1)[0].strip()
            keep = head in names
        if keep:
            out.append(line)
    return out


def render(results: list[dict[str, Any]], quick: bool, started: dt.datetime, kept: list[str] | None = None) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `bench/run_all.py`" + (" --quick (small runs: indicative only)" if quick else "") +
        ". Every number comes from the benchmark scripts' JSON output of this run.",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {machine()}",
        f"- lslib {_version('lslib')}, torch {_version('torch')}, commit {_git()}",
        "",
        "## Runs",
        "",
        "| bench | status | seconds | note |",
        "|---|---|---:|---|",
    ]
    for r in results:
        title = r["doc"]["title"] if r["doc"] else ""
        status = r["status"] + (f" (kept from {r['measured']})" if r.get("kept") else "")
        lines.append(f"| {r['name']} | {status} | {r['seconds']:.0f} | {_cell(title or r['detail'])} |")

    lines += _target_lines(results)
    lines += _baseline_lines(results)
    lines += _detail_lines(results)
    if kept:
        lines += ["", "## Kept from an earlier report", "",
                  "Not rerun in this run and without a stored JSON result: their sections of the previous "
                  "report, verbatim (their own machine and date lines apply).", ""]
        lines += [("###" + line[2:]) if line.startswith("## ") else line for line in kept]
    return "\n".join(lines).rstrip() + "\n"


def _target_lines(results: list[dict[str, Any]]) -> list[str]:
    """The report's Targets section: one row per target of every bench, and how many were met."""
    lines = ["", "## Targets", "", "| bench | metric | target | measured | unit | result |",
             "|---|---|---|---:|---|---|"]
    n_targets = 0
    for r in results:
        for t in (r["doc"] or {}).get("targets", []):
            n_targets += 1
            verdict = "MET" if t.get("met") else "MISSED"
            lines.append(f"| {r['name']} | {_cell(t.get('metric'))} | {_cell(t.get('target'))} | "
                         f"{_cell(t.get('measured'))} | {_cell(t.get('unit', ''))} | {verdict} |")
    if not n_targets:
        lines.append("| - | no bench reported a target | | | | |")
    met = sum(bool(t.get("met")) for r in results for t in (r["doc"] or {}).get("targets", []))
    lines += ["", f"{met} of {n_targets} targets met."]
    return lines


def _baseline_lines(results: list[dict[str, Any]]) -> list[str]:
    """The report's baselines section: each bench's value against its baseline as a ratio (> 1: better)."""
    lines = ["", "## Against baselines measured in the same run", "",
             "| bench | metric | measured | value | baseline | baseline value | ratio |",
             "|---|---|---|---:|---|---:|---:|"]
    without = []
    for r in results:
        base = (r["doc"] or {}).get("baselines", [])
        if r["doc"] and not base:
            without.append(r["name"])
        for b in base:
            v, bv = float(b["value"]), float(b["baseline_value"])
            ratio = v / bv if bv else float("nan")
            if not b.get("higher_is_better", True) and v:
                ratio = bv / v
            lines.append(f"| {r['name']} | {_cell(b['metric'])} | {_cell(b['method'])} | {v:.4g} | "
                         f"{_cell(b['baseline'])} | {bv:.4g} | {ratio:.2f}x |")
    if not any((r["doc"] or {}).get("baselines") for r in results):
        lines.append("| - | no bench reported a baseline | | | | | |")
    lines += ["", "Ratio > 1: better than the baseline (higher-is-better metrics: value / baseline)."]
    if without:
        lines.append(f"No baseline in: {', '.join(without)}.")
    return lines


def _detail_lines(results: list[dict[str, Any]]) -> list[str]:
    """One section per bench: its machine, tables and figures (or why it has no result)."""
    lines: list[str] = []
    for r in results:
        lines += ["", f"## {r['name']}: {r['doc']['title'] if r['doc'] else r['status']}", ""]
        if not r["doc"]:
            lines.append(f"**{r['status']}**: {_cell(r['detail'])}")
            continue
        if r["doc"].get("machine"):
            lines += [f"_machine: {r['doc']['machine']}_", ""]
        for table in r["doc"].get("tables", []):
            lines += [f"**{_cell(table.get('caption', ''))}**", "", *md_table(table.get("rows", [])), ""]
        for fig in r["doc"].get("figures", []):  # repository-relative image paths
            lines += [f"![{_cell(fig.get('caption', ''))}]({fig['path']})", ""]
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="pass --quick to every bench")
    ap.add_argument("--only", nargs="+", default=None, help=f"a subset of {BENCHES}")
    ap.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per bench (default 900 quick, 7200 full)")
    ap.add_argument("--from-json", nargs="+", default=[], metavar="NAME=PATH",
                    help="use the JSON a direct run of bench NAME wrote instead of running it")
    args = ap.parse_args()
    given: dict[str, Path] = {}
    for item in args.from_json:
        name, sep, path = item.partition("=")
        if not sep or name not in BENCHES or not Path(path).is_file():
            ap.error(f"--from-json {item!r}: give NAME=PATH with NAME in {BENCHES} and an existing JSON file")
        given[name] = Path(path)
    names = args.only or BENCHES
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        ap.error(f"unknown bench(es) {unknown}; choose from {BENCHES}")
    timeout = args.timeout or (900.0 if args.quick else 7200.0)
    started = dt.datetime.now(dt.UTC)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if name in given:
                doc = json.loads(given[name].read_text(encoding="utf-8"))
                results.append({"name": name, "status": "ok", "seconds": float(doc.get("seconds", 0.0)), "doc": doc,
                                "detail": f"from {given[name].name} (a direct run)"})
                continue
            print(f"[run_all] {name} ...", flush=True)
            r = run_bench(name, args.quick, timeout, Path(tmp))
            print(f"[run_all] {name}: {r['status']} in {r['seconds']:.0f} s {r['detail'][:300]}", flush=True)
            results.append(r)
    sys.path.insert(0, str(REPO))
    from lslib.atomic import write_text

    measured = started.strftime("%Y-%m-%d %H:%M UTC")
    for r in results:
        r["measured"], r["commit"] = measured, _git()
    kept_sections: list[str] = []
    store = args.out.with_suffix(".json")
    if args.only:
        previous = stored_results(store)
        run = {r["name"] for r in results}
        others = [n for n in BENCHES if n not in run]
        results += [{**previous[n], "kept": True} for n in others if n in previous]
        results.sort(key=lambda r: BENCHES.index(r["name"]) if r["name"] in BENCHES else len(BENCHES))
        kept_sections = previous_sections(args.out, [n for n in others if n not in previous])
    write_text(args.out, render(results, args.quick, started, kept_sections))
    write_text(store, json.dumps({"results": [{k: v for k, v in r.items() if k != "kept"} for r in results]},
                                 indent=1, default=str))
    print(f"[run_all] wrote {args.out} and {store}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

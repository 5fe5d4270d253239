"""Few-shot teaching benchmark (issue 13): the taught map vs the classic points-plus-random-forest workflow.

A simulated user labels ``k`` pixels per class (k = 0, 1, 3, 5, 10, 20; sampled from the reference, seeded,
``--repeats`` draws) on real labelled scenes the model did not train on, and each method maps every *other*
valid pixel:

* ``zero-shot``: the released model prompted with the product's class names (k = 0; the same pixels);
* ``taught``: :meth:`lslib.inference.Predictor.adapt` on the same points (``docs/teach.md``);
* ``RF``: a per-pixel random forest (100 trees) trained on the same points' band values (the classic
  Earth-Engine workflow, with nothing but the points).

Cases: the validation chips of each LAS-mini subset (the checkpoint's own split: never trained on), prompted
with their product's names; and the TerraMesh example sites (whole 224 x 224 scenes, Esri LULC) whose
*chips* were part of training: that row is labelled "seen area". One confusion matrix per case, method,
k and repeat (over all the case's chips); mIoU over the classes present; the table gives the mean over
repeats. The simulated user labels k pixels of every class present in the chip (fewer where a class has
fewer pixels).

``--grid`` adds the ablation of the head's settings (strength, kernel width, features) used to choose the
defaults in :mod:`lslib.inference.teach`. ``--speed`` times one click on a 512 x 512 AOI (fit + predict +
the map app's overlay render).

    LSLIB_DATA_MIRROR=../shared/data .venv/bin/python bench/fewshot.py [--checkpoint DIR] [--las DIR]
        [--repeats 3] [--grid] [--plot PNG] [--json PATH] [--quick] [--no-speed]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _contract import target, write_json

os.environ.setdefault("LSLIB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
KS = (0, 1, 3, 5, 10, 20)
TERRAMESH = "terramesh-examples-s2-esri-lulc"
SITES = ("282D_485L_3_3", "38D_378R_2_3", "433D_629L_3_1", "637U_59R_1_3")  # the fifth is snow only
Sample = dict[str, Any]


def log(msg: str) -> None:
    print(f"[fewshot] {msg}", file=sys.stderr, flush=True)


@dataclass
class Case:
    name: str
    taxonomy: str
    samples: list[Sample]
    note: str = "held out"


# --- data ------------------------------------------------------------------------------------------------
def as_dataarray(sample: Sample) -> Any:
    """A chip as the ``(band, y, x)`` DataArray the predictor takes (pixel-centre coordinates, no CRS)."""
    import xarray as xr

    img = np.asarray(sample["image"], dtype=np.float32)
    _c, h, w = img.shape
    da = xr.DataArray(img, dims=("band", "y", "x"), coords={
        "band": list(sample["band_names"]), "wavelength": ("band", np.asarray(sample["wavelengths"], np.float64)),
        "y": np.arange(h) + 0.5, "x": np.arange(w) + 0.5})
    da.attrs["radiometry"] = sample.get("radiometry", "reflectance")
    return da


def las_cases(las: Path, seed: int, val_fraction: float, limit: int | None) -> list[Case]:
    from lslib.training.dataset import LASDataset

    cases = []
    subsets = sorted({r.subset for r in LASDataset(roots=[las]).records})
    for subset in subsets:
        val = LASDataset(roots=[las], subsets=[subset], split="val", seed=seed, val_fraction=val_fraction)
        n = len(val) if limit is None else min(limit, len(val))
        samples = [val[i] for i in range(n)]
        if samples:
            cases.append(Case(subset, samples[0]["taxonomy"], samples))
    return cases


def terramesh_case(limit: int | None) -> Case:
    import torch

    from lslib.data import open_image
    from lslib.data.fetch import fetch
    from lslib.mapui.imagery import load_reference

    samples = []
    for site in SITES[: limit or None]:
        da = open_image(fetch(f"{TERRAMESH}/S2L2A/{site}.tif"), sensor="s2-l2a")
        ref = load_reference(fetch(f"{TERRAMESH}/LULC/{site}.tif"), "terramesh_lulc")
        label = np.asarray(ref.values).astype(np.int64)
        img = np.asarray(da.values, dtype=np.float32)
        samples.append({"image": torch.from_numpy(img), "wavelengths": np.asarray(da["wavelength"].values),
                        "band_names": [str(b) for b in da["band"].values], "label": torch.from_numpy(label),
                        "valid": torch.from_numpy((label > 0) & np.isfinite(img).any(0)),
                        "taxonomy": "terramesh_lulc", "point_id": site})
    return Case("TerraMesh sites (S2 L2A, Esri LULC)", "terramesh_lulc", samples,
                note="seen area: chips of these sites were in training")


# --- the simulated user ----------------------------------------------------------------------------------
def draw_points(label: np.ndarray, valid: np.ndarray, codes: list[int], k: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, np.ndarray]:
    """``k`` random valid pixels of every class present (fewer where the class has fewer): (rows, cols)."""
    rows, cols = [], []
    for code in codes:
        r, c = np.nonzero((label == code) & valid)
        if r.size == 0 or k == 0:
            continue
        pick = rng.choice(r.size, size=min(k, max(r.size - 1, 1)), replace=False)
        rows.extend(r[pick].tolist())
        cols.extend(c[pick].tolist())
    return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)


def forest_map(img: np.ndarray, rows: np.ndarray, cols: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """The classic workflow: a random forest on the points' band values, applied to every pixel."""
    from sklearn.ensemble import RandomForestClassifier

    x = np.nan_to_num(img.reshape(img.shape[0], -1).T)
    if len(np.unique(y)) == 1:
        return np.full(img.shape[1:], y[0])
    rf = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
    rf.fit(x[rows * img.shape[2] + cols], y)
    return rf.predict(x).reshape(img.shape[1:])


@dataclass(frozen=True)
class Setting:
    strength: float
    gamma: float
    features: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"taught (strength {self.strength:g}, gamma {self.gamma:g}, {'+'.join(self.features)})"


def run_case(case: Case, predictor: Any, ks: tuple[int, ...], repeats: int, settings: list[Setting],
             forest: bool = True) -> dict[tuple[str, int], list[float]]:
    """``{(method, k): [mIoU per repeat]}`` and the share of pixels one click changes (``("flip", 1)``)."""
    from lslib.inference.teach import Point
    from lslib.metrics import ConfusionMatrix
    from lslib.prompt_set import from_taxonomy
    from lslib.taxonomy import get_taxonomy

    tax = get_taxonomy(case.taxonomy)
    ps = from_taxonomy(case.taxonomy)
    codes = np.asarray([c.code for c in ps.classes], dtype=np.int64)
    methods = ["zero-shot", *(s.label for s in settings), *(["RF"] if forest else [])]
    cms = {(m, k, r): ConfusionMatrix([int(c) for c in codes]) for m in methods for k in ks for r in range(repeats)}
    flips: list[float] = []
    fixes: list[float] = []
    for s_i, sample in enumerate(case.samples):
        label = np.asarray(sample["label"]).astype(np.int64)
        valid = np.asarray(sample["valid"]).astype(bool) & np.isin(label, codes)
        if not valid.any():
            continue
        img = np.asarray(sample["image"], dtype=np.float32)
        predictor.set_image(as_dataarray(sample))
        zero = codes[np.asarray(predictor.predict(ps).class_map.values).clip(0)]
        present = [int(c) for c in codes if ((label == c) & valid).any()]
        for k in ks:
            for r in range(repeats):
                rng = np.random.default_rng([r, k, s_i])
                rows, cols = draw_points(label, valid, present, k, rng)
                score = valid.copy()
                score[rows, cols] = False
                cms[("zero-shot", k, r)].update(zero, label, score)
                if k == 0:
                    for m in methods[1:]:
                        cms[(m, k, r)].update(zero, label, score)
                    continue
                names = {int(c.code): c.name for c in ps.classes}
                points = [Point(c + 0.5, rr + 0.5, names[int(label[rr, c])]) for rr, c in zip(rows, cols, strict=True)]
                for st in settings:
                    taught = predictor.adapt(ps, points, strength=st.strength, gamma=st.gamma, features=st.features)
                    pred = codes[np.asarray(predictor.predict(taught).class_map.values).clip(0)]
                    cms[(st.label, k, r)].update(pred, label, score)
                    if k == 1 and st is settings[0]:
                        # one click: the share of the map it changes
                        one = [points[0]]
                        single = predictor.adapt(ps, one, strength=st.strength, gamma=st.gamma, features=st.features)
                        after = codes[np.asarray(predictor.predict(single).class_map.values).clip(0)]
                        changed = (after != zero) & valid
                        flips.append(float(changed[valid].mean()))
                        if changed.any():  # of the pixels one click changed, the share now right
                            fixes.append(float((after[changed] == label[changed]).mean()))
                if forest:
                    rf = forest_map(img, rows, cols, label[rows, cols], seed=r)
                    cms[("RF", k, r)].update(rf, label, score)
    out: dict[tuple[str, int], list[float]] = {}
    for (m, k, _r), cm in cms.items():
        out.setdefault((m, k), []).append(float(cm.miou()) if cm.total else math.nan)
    out[("flip", 1)] = flips
    out[("fix", 1)] = fixes
    del tax
    return out


# --- speed -----------------------------------------------------------------------------------------------
def click_speed(predictor: Any, px: int = 512, clicks: int = 10) -> dict[str, float]:
    """ms per click on a ``px`` x ``px`` AOI of a real scene in the map app: fit + predict + overlay PNG."""
    import torch

    from lslib.data import open_image
    from lslib.data.fetch import fetch
    from lslib.inference import with_scene_stretch
    from lslib.mapui.app import MapApp

    da = open_image(fetch(f"{TERRAMESH}/S2L2A/{SITES[2]}.tif"), sensor="s2-l2a")
    # tile the 224 px site to px x px (a real-sized AOI; the pixels repeat, the cost does not depend on them)
    reps = math.ceil(px / da.sizes["y"])
    import xarray as xr

    big = xr.concat([xr.concat([da] * reps, dim="x")] * reps, dim="y").isel(y=slice(0, px), x=slice(0, px))
    res = 10.0
    big = big.assign_coords(x=float(da.x[0]) + res * np.arange(px), y=float(da.y[0]) - res * np.arange(px))
    big = with_scene_stretch(big.rio.write_crs(da.rio.crs).rio.write_transform(None))
    app = MapApp(big, predictor=predictor, prompts="water, trees, crops, built area, rangeland", max_pixels=px * px)
    app.run()
    rng = np.random.default_rng(0)
    names = app.editor.prompts.names
    times = []
    torch.set_num_threads(2)
    for i in range(clicks):
        lat0, lon0 = app.overlay_bounds[0]
        lat1, lon1 = app.overlay_bounds[1]
        lat, lon = lat0 + (lat1 - lat0) * rng.uniform(0.1, 0.9), lon0 + (lon1 - lon0) * rng.uniform(0.1, 0.9)
        t0 = time.perf_counter()
        app.teach.teach_at(lat, lon, names[i % len(names)])
        times.append(time.perf_counter() - t0)
    return {"median_ms": 1000 * float(np.median(times)), "max_ms": 1000 * float(np.max(times)),
            "encode_ms": 1000 * app.timings.get("encode", math.nan)}


# --- report ----------------------------------------------------------------------------------------------
def plot(curves: dict[str, dict[str, dict[int, float]]], ks: tuple[int, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(curves)
    cols = min(n, 3)
    fig, axes = plt.subplots(math.ceil(n / cols), cols, figsize=(4.2 * cols, 3.2 * math.ceil(n / cols)),
                             squeeze=False)
    for ax, (case, methods) in zip(axes.flat, curves.items(), strict=False):
        for method, curve in methods.items():
            xs = [k for k in ks if k in curve]
            ax.plot(xs, [curve[k] for k in xs], marker="o", label=method, linestyle="--" if method == "RF" else "-")
        ax.set_title(case, fontsize=9)
        ax.set_xlabel("labelled pixels per class (k)")
        ax.set_ylabel("mIoU (other pixels)")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(list(ks), [str(k) for k in ks])
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


SPEED_CAPTION = ("One click in teach mode on a 512 x 512 AOI, 2 CPU threads: fit + predict + overlay PNG + held-out "
                 "accuracy (the image is not re-encoded)")


def speed_results(predictor: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    speed = click_speed(predictor)
    log(f"click -> overlay on a 512 x 512 AOI: median {speed['median_ms']:.0f} ms, max {speed['max_ms']:.0f} ms")
    return ({"caption": SPEED_CAPTION, "rows": [speed]},
            target("click -> new overlay, 512 x 512 AOI", "<= 300 ms", speed["median_ms"], "ms",
                   speed["median_ms"] <= 300))


def update_speed(predictor: Any, path: Path | None) -> int:
    """Replace the speed table and target of an existing result JSON (timings from a quiet machine)."""
    import json

    from lslib.atomic import write_text

    if path is None or not path.exists():
        log("--speed-only needs --json PATH of an earlier full run")
        return 2
    doc = json.loads(path.read_text(encoding="utf-8"))
    table, tgt = speed_results(predictor)
    kept = [t for t in doc["tables"] if not str(t.get("caption", "")).startswith("One click in teach")]
    doc["tables"] = [*kept, table]
    doc["targets"] = [t for t in doc["targets"] if not t["metric"].startswith("click ->")] + [tgt]
    write_text(path, json.dumps(doc, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--las", type=Path)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--grid", action="store_true", help="also the ablation of strength, kernel width, features")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--speed-only", action="store_true",
                    help="only time the clicks and update the speed table of an existing --json (a quiet machine)")
    ap.add_argument("--quick", action="store_true", help="1 repeat, 2 chips per subset, 2 sites")
    ap.add_argument("--plot", type=Path, default=REPO / "bench" / "figures" / "fewshot.png",
                    help="the curve as PNG (BENCHMARKS.md shows it)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    import torch
    from generalization import checkpoint_split, resolve_las, resolve_model

    from lslib.inference import Predictor
    from lslib.inference.teach import DEFAULT_GAMMA, DEFAULT_STRENGTH, FEATURES

    torch.manual_seed(0)
    model, folder = resolve_model(args.checkpoint)
    seed, val_fraction = checkpoint_split(folder)
    las = resolve_las(args.las)
    limit = 2 if args.quick else None
    repeats = 1 if args.quick else args.repeats
    predictor = Predictor(model, device="cpu")
    if args.speed_only:
        return update_speed(predictor, args.json)
    cases = [*las_cases(las, seed, val_fraction, limit), terramesh_case(limit)]
    default = Setting(DEFAULT_STRENGTH, DEFAULT_GAMMA, FEATURES)
    settings = [default]
    if args.grid:
        settings += [Setting(s, g, FEATURES) for s in (0.1, 0.3, 1.0) for g in (0.5, 1.0, 2.0)
                     if (s, g) != (DEFAULT_STRENGTH, DEFAULT_GAMMA)]
        settings += [Setting(DEFAULT_STRENGTH, DEFAULT_GAMMA, (f,)) for f in FEATURES]
    rows, grid_rows, curves, targets, baselines = [], [], {}, [], []
    t_start = time.perf_counter()
    for case in cases:
        log(f"{case.name}: {len(case.samples)} scenes")
        res = run_case(case, predictor, KS, repeats, settings)
        mean = {key: float(np.nanmean(v)) if v and not all(math.isnan(x) for x in v) else math.nan
                for key, v in res.items()}
        curves[case.name] = {m: {k: mean[(m, k)] for k in KS if (m, k) in mean}
                             for m in ("zero-shot", default.label, "RF")}
        curves[case.name]["taught"] = curves[case.name].pop(default.label)
        zs = mean[("zero-shot", 0)]
        for k in KS:
            t, rf = mean[(default.label, k)], mean[("RF", k)]
            rows.append({"case": case.name, "data": case.note, "k": k, "zero-shot": round(zs, 3),
                         "taught": round(t, 3), "RF": None if k == 0 else round(rf, 3),
                         "taught / max(RF, zero-shot)": None if k == 0 else round(t / max(rf, zs), 2)})
        for st in settings[1:]:
            grid_rows.append({"case": case.name, "setting": st.label,
                              **{f"k={k}": round(mean[(st.label, k)], 3) for k in KS if k}})
        if args.grid:
            grid_rows.append({"case": case.name, "setting": default.label + " (default)",
                              **{f"k={k}": round(mean[(default.label, k)], 3) for k in KS if k}})
        flips = res[("flip", 1)]
        t10, rf10 = mean[(default.label, 10)], mean[("RF", 10)]
        never_worse = all(mean[(default.label, k)] >= mean[("zero-shot", k)] - 1e-9 for k in (1, 3))
        targets.append(target(f"{case.name}: taught mIoU at k=10 / max(RF, zero-shot)", ">= 1.2",
                              t10 / max(rf10, zs), "x", t10 >= 1.2 * max(rf10, zs)))
        targets.append(target(f"{case.name}: taught >= zero-shot at k=1 and 3", "true", float(never_worse), "bool",
                              never_worse))
        baselines.append({"metric": f"mIoU at k=10, {case.name}", "method": "taught", "value": t10,
                          "baseline": "RF on the same points", "baseline_value": rf10, "higher_is_better": True})
        log(f"  zero-shot {zs:.3f}; k=10 taught {t10:.3f} vs RF {rf10:.3f}; one click changes "
            f"{100 * np.mean(flips) if flips else math.nan:.1f} % of the map on average (max "
            f"{100 * max(flips) if flips else math.nan:.1f} %)")
        fixes = res[("fix", 1)]
        rows[-1]["one click changes (mean / max % of map)"] = (
            f"{100 * np.mean(flips):.1f} / {100 * max(flips):.1f}" if flips else None)
        rows[-1]["changed pixels now right (%)"] = round(100 * float(np.mean(fixes)), 1) if fixes else None
    tables = [{"caption": "Teaching from k labelled pixels per class: mIoU on all other pixels (mean of "
                          f"{repeats} draws); RF = random forest on the same points' bands", "rows": rows}]
    if grid_rows:
        tables.append({"caption": "Ablation of the head (mIoU by k; the first setting is the default)",
                       "rows": grid_rows})
    if not args.no_speed:
        table, tgt = speed_results(predictor)
        tables.append(table)
        targets.append(tgt)
    plot(curves, KS, args.plot)
    log(f"done in {time.perf_counter() - t_start:.0f} s; plot {args.plot}")
    try:
        shown = str(args.plot.resolve().relative_to(REPO))
    except ValueError:
        shown = str(args.plot)
    write_json(args.json, "Teach the map: few-shot correction vs points + random forest", tables, targets,
               baselines, figures=[{"caption": "mIoU against labelled pixels per class (taught, RF, zero-shot)",
                                    "path": shown}])
    for r in rows:
        print(r)
    for r in grid_rows:
        print(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

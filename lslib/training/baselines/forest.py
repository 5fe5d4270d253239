"""Closed-set baselines trained on the same weak labels as LandSegmenter, for one band set and one product.

* :class:`PixelForest` - a per-pixel random forest (scikit-learn) on the band values plus NDVI/NDWI.
* :class:`ClosedSetNet` - a tiny U-Net-like CNN (stride 4 and back) with a *fixed* class head, no text.

Both are fitted on the chips of one LAS subset (one sensor's bands, one product's classes), predict
``(H, W)`` int64 product codes, and refuse images with other bands. :func:`to_taxonomy` maps their
predictions onto another product through the crosswalk, so they can be scored "zero-shot" on a
target taxonomy by :func:`evaluate_baseline`, next to the open-vocabulary model.

Saving: the CNN as ``config.json`` + ``model.safetensors`` (no pickle); the forest with ``skops``
(``forest.skops`` + ``config.json``; loading trusts only scikit-learn's tree type). Forests train in
seconds, so refitting is always an option.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from torch import Tensor

from lslib.atomic import atomic_path, write_text
from lslib.metrics import ConfusionMatrix
from lslib.taxonomy import crosswalk, get_taxonomy, remap
from lslib.training.baselines.cnn import ClosedSetNet
from lslib.training.baselines.common import check_bands, pixel_features, read_config, subset_indices
from lslib.training.dataset import LASDataset

__all__ = ["ClosedSetNet", "PixelForest", "evaluate_baseline", "pixel_features", "to_taxonomy"]

Array = npt.NDArray[Any]
_TRUSTED_SKOPS = {"sklearn.tree._tree.Tree"}


class ClosedSetModel(Protocol):
    """What :func:`evaluate_baseline` needs: the product of the predictions and a predict method."""

    taxonomy: str

    def predict(self, image: Tensor | Array, wavelengths: Tensor | Array | Sequence[float]) -> Array: ...


def _sample_pixels(
    dataset: LASDataset, indices: Sequence[int], k: int, seed: int
) -> tuple[Array, Array, tuple[str, ...], tuple[float, ...], str]:
    """Up to ``k`` valid pixels per class, drawn uniformly without replacement over the chips.

    Every pixel gets a random key and each class keeps its ``k`` smallest keys (merged chip by chip), so
    memory stays at classes x k whatever the number of chips. Returns (X (N, F), codes (N,), ...).
    """
    rng = np.random.default_rng(seed)
    kept: dict[int, tuple[Array, Array]] = {}
    for i in indices:
        item = dataset[i]
        feats, _ = pixel_features(item["image"], item["wavelengths"])
        x = feats.reshape(feats.shape[0], -1).T
        label, valid = item["label"].numpy().ravel(), item["valid"].numpy().ravel()
        for code in np.unique(label[valid]):
            sel = np.flatnonzero(valid & (label == code))
            keys, rows = rng.random(sel.size), x[sel]
            if int(code) in kept:
                keys, rows = np.concatenate([kept[int(code)][0], keys]), np.concatenate([kept[int(code)][1], rows])
            if keys.size > k:
                top = np.argpartition(keys, k)[:k]
                keys, rows = keys[top], rows[top]
            kept[int(code)] = (keys, rows)
    if not kept:
        raise ValueError("no valid labelled pixels in the chips of this subset")
    rec = dataset.records[indices[0]]
    codes = [c for c in get_taxonomy(rec.taxonomy).codes if c in kept]  # taxonomy order
    x_all = np.concatenate([kept[c][1] for c in codes])
    y_all = np.concatenate([np.full(len(kept[c][1]), c, dtype=np.int64) for c in codes])
    return x_all, y_all, rec.bands, rec.wavelengths_um, rec.taxonomy


# --- the random forest -------------------------------------------------------------------------------------
class PixelForest:
    """Per-pixel random forest on band values + NDVI/NDWI (:func:`pixel_features`) for one band set.

    Attributes (after :meth:`fit`): ``taxonomy`` (product key), ``classes`` (codes seen in training, in
    the product's order), ``band_names``, ``band_wavelengths`` (µm), ``fit_seconds``.
    """

    def __init__(self, *, n_estimators: int = 50, max_depth: int = 16, n_jobs: int = 2) -> None:
        self.n_estimators, self.max_depth, self.n_jobs = n_estimators, max_depth, n_jobs
        self.taxonomy = ""
        self.classes: tuple[int, ...] = ()
        self.band_names: tuple[str, ...] = ()
        self.band_wavelengths: tuple[float, ...] = ()
        self.fit_seconds = math.nan
        self.forest: Any = None

    def fit(self, dataset: LASDataset, *, subset: str, max_pixels_per_class: int = 5000, seed: int = 0) -> PixelForest:
        """Fit on up to ``max_pixels_per_class`` valid pixels per class (a balanced sample) of ``subset``'s chips."""
        from sklearn.ensemble import RandomForestClassifier

        start = time.perf_counter()
        x, y, self.band_names, self.band_wavelengths, self.taxonomy = _sample_pixels(
            dataset, subset_indices(dataset, subset), max_pixels_per_class, seed
        )
        self.forest = RandomForestClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth, n_jobs=self.n_jobs, random_state=seed
        ).fit(x, y)
        self.classes = tuple(int(c) for c in self.forest.classes_)
        self.fit_seconds = time.perf_counter() - start
        return self

    def predict(self, image: Tensor | Array, wavelengths: Tensor | Array | Sequence[float]) -> Array:
        """``image`` (C, H, W) physical units, ``wavelengths`` (C,) µm -> ``(H, W)`` int64 product codes."""
        if self.forest is None:
            raise RuntimeError("PixelForest is not fitted: call fit() or load()")
        check_bands("PixelForest", self.band_wavelengths, wavelengths)
        feats, _ = pixel_features(image, wavelengths)
        pred = self.forest.predict(feats.reshape(feats.shape[0], -1).T)
        return np.asarray(pred, dtype=np.int64).reshape(feats.shape[1:])

    def save(self, folder: str | Path) -> Path:
        """Write ``forest.skops`` (skops, no pickle) and ``config.json`` into ``folder``."""
        sio = _skops()
        if self.forest is None:
            raise RuntimeError("PixelForest is not fitted: nothing to save")
        folder = Path(folder)
        with atomic_path(folder / "forest.skops") as tmp:
            sio.dump(self.forest, tmp)
        write_text(folder / "config.json", json.dumps({"kind": "pixel_forest", **self._meta()}, indent=1))
        return folder

    def _meta(self) -> dict[str, Any]:
        return {
            "taxonomy": self.taxonomy,
            "classes": list(self.classes),
            "band_names": list(self.band_names),
            "band_wavelengths": list(self.band_wavelengths),
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
        }

    @classmethod
    def load(cls, folder: str | Path) -> PixelForest:
        """Load a forest written by :meth:`save`; refuses files holding types other than scikit-learn's tree."""
        sio, folder = _skops(), Path(folder)
        doc = read_config(folder, "pixel_forest")
        untrusted = set(sio.get_untrusted_types(file=folder / "forest.skops"))
        if untrusted - _TRUSTED_SKOPS:
            raise ValueError(f"{folder / 'forest.skops'} holds unexpected types {sorted(untrusted)}; not loading it")
        model = cls(n_estimators=int(doc["n_estimators"]), max_depth=int(doc["max_depth"]))
        model.forest = sio.load(folder / "forest.skops", trusted=sorted(untrusted))
        model.taxonomy, model.classes = str(doc["taxonomy"]), tuple(int(c) for c in doc["classes"])
        model.band_names = tuple(map(str, doc["band_names"]))
        model.band_wavelengths = tuple(float(w) for w in doc["band_wavelengths"])
        return model


def _skops() -> Any:
    try:
        import skops.io as sio
    except ImportError as e:
        raise ImportError(
            "saving/loading a PixelForest needs skops (pickle-free scikit-learn files): pip install skops; "
            "or refit the forest, it trains in seconds"
        ) from e
    return sio


# --- mapping and evaluation --------------------------------------------------------------------------------
def to_taxonomy(pred_codes: Tensor | Array, src: str, dst: str) -> Array:
    """Map closed-set predictions (``src`` codes, any shape) to ``dst`` codes through the crosswalk.

    Uses :func:`lslib.taxonomy.remap` with ``ambiguous="first"``: a class with several counterparts takes
    the best-ranked one (e.g. Esri "Rangeland" -> WorldCover "Grassland", not "Shrubland"); classes with
    none become ``dst``'s nodata. Returns an int64 array of the same shape.
    """
    codes = np.asarray(pred_codes.cpu() if isinstance(pred_codes, Tensor) else pred_codes)
    return remap(codes, src, dst, ambiguous="first").astype(np.int64)


def evaluate_baseline(
    model: ClosedSetModel, dataset: Any, *, subset: str | None, target_taxonomy: str | None = None
) -> dict[str, Any]:
    """Score a closed-set baseline on a dataset's chips (typically a :class:`LASDataset` with ``split="val"``).

    Args:
        model: a fitted :class:`PixelForest` or :class:`ClosedSetNet` (anything with ``taxonomy`` and
            ``predict(image, wavelengths)``).
        dataset: a :class:`LASDataset` (``subset`` selects its chips) or any sequence of items with
            ``image``, ``wavelengths``, ``label``, ``valid`` and ``taxonomy`` (e.g.
            :class:`lslib.training.eval_datasets.RasterPairDataset`; then ``subset=None``: all items).
        subset: the LAS subset whose chips are scored (``None`` for a plain sequence of items).
        target_taxonomy: the product the scores are in (default: the chips' own). Predictions in another
            product go through :func:`to_taxonomy` (best-ranked counterpart). The reference is translated
            as in :func:`lslib.training.evaluate.evaluate_zero_shot`: only pixels whose class has exactly
            one counterpart are scored (an ambiguous class such as Esri rangeland -> WorldCover grassland
            or shrubland cannot be scored fairly), so the model and the baselines share one protocol.

    Returns:
        ``{"subset", "taxonomy", "model_taxonomy", "chips", "oa", "miou", "iou": {class name: IoU}, "pixels",
        "confusion": ConfusionMatrix.as_dict()}``; ``iou`` and ``miou`` cover the classes present in the
        reference or the prediction.
    """
    if isinstance(dataset, LASDataset):
        if subset is None:
            raise ValueError("pass subset= to evaluate on a LASDataset (one band set and product per baseline)")
        indices = subset_indices(dataset, subset)
    elif subset is not None:
        raise ValueError(f"subset={subset!r} applies to a LASDataset only; pass subset=None for {type(dataset)}")
    else:
        indices = list(range(len(dataset)))
    if not indices:
        raise ValueError("the dataset is empty: nothing to evaluate")
    cm: ConfusionMatrix | None = None
    dst = get_taxonomy(target_taxonomy) if target_taxonomy else None
    for i in indices:
        item = dataset[i]
        ref_tax = get_taxonomy(item["taxonomy"])
        dst = dst or ref_tax
        cm = cm or ConfusionMatrix(dst.codes)
        pred = model.predict(item["image"], item["wavelengths"])
        if model.taxonomy != dst.key:
            pred = to_taxonomy(pred, model.taxonomy, dst.key)
        label, valid = np.asarray(item["label"]), np.asarray(item["valid"])
        if ref_tax.key != dst.key:
            unique = {s: t[0] for s, t in crosswalk(ref_tax, dst).items() if len(t) == 1 and s != ref_tax.nodata}
            valid = valid & np.isin(label, list(unique))
            lut = np.full(max(int(label.max()), *unique) + 1, -1, dtype=np.int64)
            lut[list(unique)] = list(unique.values())
            label = lut[np.clip(label, 0, None)]
        cm.update(pred, label, valid)
    assert cm is not None and dst is not None
    return {
        "subset": subset,
        "taxonomy": dst.key,
        "model_taxonomy": model.taxonomy,
        "chips": len(indices),
        "oa": cm.overall_accuracy(),
        "miou": cm.miou(),
        "iou": {dst.by_code(c).name: v for c, v in cm.per_class_iou().items() if v == v},
        "pixels": cm.total,
        "confusion": cm.as_dict(),
    }

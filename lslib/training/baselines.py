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
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lslib.atomic import atomic_path, write_text
from lslib.crosswalk import remap
from lslib.taxonomy import get_taxonomy
from lslib.training.dataset import LASDataset
from lslib.training.metrics import ConfusionMatrix

__all__ = ["ClosedSetNet", "PixelForest", "evaluate_baseline", "pixel_features", "to_taxonomy"]

Array = npt.NDArray[Any]
#: (lo, hi) µm windows for the bands of the spectral indices; the band closest to the centre is used.
_WINDOWS = {"green": (0.52, 0.60), "red": (0.62, 0.70), "nir": (0.76, 0.90)}
_TRUSTED_SKOPS = {"sklearn.tree._tree.Tree"}


class ClosedSetModel(Protocol):
    """What :func:`evaluate_baseline` needs: the product of the predictions and a predict method."""

    taxonomy: str

    def predict(self, image: Tensor | Array, wavelengths: Tensor | Array | Sequence[float]) -> Array: ...


# --- features ----------------------------------------------------------------------------------------------
def _band_in(wl: Array, window: str) -> int | None:
    lo, hi = _WINDOWS[window]
    inside = np.flatnonzero((wl >= lo) & (wl <= hi))
    return None if inside.size == 0 else int(inside[np.argmin(np.abs(wl[inside] - (lo + hi) / 2))])


def _ratio_index(a: Array, b: Array) -> Array:
    den = a + b
    out = np.zeros_like(a)
    np.divide(a - b, den, out=out, where=np.abs(den) > 1e-6)
    return np.clip(out, -1.0, 1.0)


def pixel_features(image: Tensor | Array, wavelengths: Tensor | Array | Sequence[float]) -> tuple[Array, list[str]]:
    """Per-pixel features of an image: the bands, then NDVI and NDWI where the bands exist.

    Args:
        image: ``(C, H, W)`` physical units (reflectance, dB), NaN nodata.
        wavelengths: ``(C,)`` central wavelengths in µm. NDVI = (NIR - red) / (NIR + red) and NDWI
            (McFeeters) = (green - NIR) / (green + NIR) use the band closest to the centre of
            0.62-0.70 µm (red), 0.52-0.60 µm (green) and 0.76-0.90 µm (NIR).

    Returns:
        ``(F, H, W)`` float32 with NaN -> 0, and the ``F`` feature names.
    """
    img = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    wl = np.asarray(wavelengths, dtype=np.float64)
    if img.ndim != 3 or wl.shape != (img.shape[0],):
        raise ValueError(f"need image (C, H, W) and wavelengths (C,), got {img.shape} and {wl.shape}")
    feats, names = [img], [f"band {w:.4g} um" for w in wl]
    red, green, nir = (_band_in(wl, k) for k in ("red", "green", "nir"))
    if nir is not None and red is not None:
        feats.append(_ratio_index(img[nir], img[red])[None])
        names.append("ndvi")
    if nir is not None and green is not None:
        feats.append(_ratio_index(img[green], img[nir])[None])
        names.append("ndwi")
    return np.concatenate(feats).astype(np.float32), names


def _subset_indices(dataset: LASDataset, subset: str) -> list[int]:
    indices = [i for i, r in enumerate(dataset.records) if r.subset == subset]
    if not indices:
        have = sorted({r.subset for r in dataset.records})
        raise ValueError(f"the dataset (split {dataset.split!r}) has no chips of subset {subset!r}; it has {have}")
    kinds = {(dataset.records[i].taxonomy, dataset.records[i].wavelengths_um) for i in indices}
    if len(kinds) > 1:
        raise ValueError(f"subset {subset!r} mixes products/band sets {sorted(kinds)}; a baseline needs one of each")
    return indices


def _check_bands(name: str, fitted: Sequence[float], wavelengths: Tensor | Array | Sequence[float]) -> None:
    got = np.asarray(wavelengths, dtype=np.float64).ravel()
    if got.shape != (len(fitted),) or not np.allclose(got, fitted, rtol=1e-4, atol=1e-4):
        raise ValueError(
            f"this {name} was fitted on {len(fitted)} bands at {[round(w, 4) for w in fitted]} µm and cannot "
            f"predict an image with {got.size} bands at {[round(float(w), 4) for w in got]} µm: closed-set "
            "baselines need the band set they were trained on (fit another one for this sensor)"
        )


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

    def fit(
        self, dataset: LASDataset, *, subset: str, max_pixels_per_class: int = 5000, seed: int = 0
    ) -> PixelForest:
        """Fit on up to ``max_pixels_per_class`` valid pixels per class (a balanced sample) of ``subset``'s chips."""
        from sklearn.ensemble import RandomForestClassifier

        start = time.perf_counter()
        x, y, self.band_names, self.band_wavelengths, self.taxonomy = _sample_pixels(
            dataset, _subset_indices(dataset, subset), max_pixels_per_class, seed
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
        _check_bands("PixelForest", self.band_wavelengths, wavelengths)
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
        doc = _read_config(folder, "pixel_forest")
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


def _read_config(folder: Path, kind: str) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder} has no config.json: not a saved baseline") from None
    if doc.get("kind") != kind:
        raise ValueError(f"{folder} holds a {doc.get('kind')!r} baseline, not a {kind!r}")
    return doc


# --- the closed-set CNN ------------------------------------------------------------------------------------
def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.GroupNorm(8, cout),
        nn.ReLU(inplace=True),
    )


class _TinyUNet(nn.Module):
    """Two stride-2 stages (to H/4), a dilated context conv, one skip at H/2 and a full-resolution 1x1 path.

    ``(B, F, H, W)`` normalised features (H, W multiples of 4) -> ``(B, K, H, W)`` logits.
    """

    def __init__(self, in_channels: int, n_classes: int, width: int = 32) -> None:
        super().__init__()
        w = width
        self.pixel = nn.Sequential(nn.Conv2d(in_channels, 16, 1), nn.ReLU(inplace=True))
        self.enc1 = nn.Sequential(_block(in_channels, w, stride=2), _block(w, w))
        self.enc2 = nn.Sequential(_block(w, 2 * w, stride=2), _block(2 * w, 2 * w), _block(2 * w, 2 * w, dilation=2))
        self.dec1 = nn.Sequential(nn.Conv2d(3 * w, w, 1), nn.ReLU(inplace=True), _block(w, w))
        self.head = nn.Sequential(nn.Conv2d(w + 16, w, 1), nn.ReLU(inplace=True), nn.Conv2d(w, n_classes, 1))

    def forward(self, x: Tensor) -> Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        d1 = self.dec1(torch.cat([F.interpolate(e2, size=e1.shape[-2:], mode="bilinear"), e1], 1))
        up = F.interpolate(d1, size=x.shape[-2:], mode="bilinear")
        out: Tensor = self.head(torch.cat([up, self.pixel(x)], 1))
        return out


class ClosedSetNet:
    """A small segmentation CNN with a fixed class head for one product and one band set (no text).

    Inputs are :func:`pixel_features` normalised by the per-feature mean/std of the training pixels.
    Attributes (after :meth:`fit`): ``taxonomy``, ``classes`` (head order = codes seen in training, in the
    product's order), ``band_names``, ``band_wavelengths`` (µm), ``fit_seconds``, ``net``.
    """

    def __init__(self, *, width: int = 32) -> None:
        self.width = width
        self.taxonomy = ""
        self.classes: tuple[int, ...] = ()
        self.band_names: tuple[str, ...] = ()
        self.band_wavelengths: tuple[float, ...] = ()
        self.mean: Tensor = torch.zeros(0)
        self.std: Tensor = torch.ones(0)
        self.fit_seconds = math.nan
        self.net: _TinyUNet | None = None

    def _inputs(self, image: Tensor | Array, wavelengths: Tensor | Array | Sequence[float]) -> Tensor:
        feats, _ = pixel_features(image, wavelengths)
        return (torch.from_numpy(feats) - self.mean[:, None, None]) / self.std[:, None, None]

    def fit(
        self, dataset: LASDataset, *, subset: str, steps: int = 300, batch_size: int = 8, lr: float = 1e-3, seed: int = 0
    ) -> ClosedSetNet:
        """Train on ``subset``'s chips with cross-entropy over valid pixels.

        Batches of ``batch_size`` chips of one size (drawn with replacement, randomly flipped/rotated);
        AdamW with cosine decay; class weights ∝ 1/sqrt(pixel share) (clipped to [0.2, 5] of the mean) so
        that rare classes are learnt. All chips of the subset are held in memory as features.
        """
        start = time.perf_counter()
        indices = _subset_indices(dataset, subset)
        x_s, y_s, self.band_names, self.band_wavelengths, self.taxonomy = _sample_pixels(dataset, indices, 5000, seed)
        self.mean = torch.from_numpy(x_s.mean(0))
        self.std = torch.from_numpy(x_s.std(0)).clamp_min(1e-6)
        self.classes = tuple(int(c) for c in np.unique(y_s))
        self.classes = tuple(c for c in get_taxonomy(self.taxonomy).codes if c in self.classes)
        lut = {c: i for i, c in enumerate(self.classes)}
        groups: dict[tuple[int, int], tuple[list[Tensor], list[Tensor]]] = {}
        for i in indices:
            item = dataset[i]
            target = torch.full(item["label"].shape, -1, dtype=torch.long)
            for code, k in lut.items():
                target[(item["label"] == code) & item["valid"]] = k
            xs, ys = groups.setdefault(tuple(item["label"].shape), ([], []))
            xs.append(self._inputs(item["image"], item["wavelengths"]))
            ys.append(target)
        data = [(torch.stack(xs), torch.stack(ys)) for xs, ys in groups.values()]
        counts = sum(torch.bincount(y[y >= 0], minlength=len(self.classes)) for _, y in data)
        assert isinstance(counts, Tensor)
        weights = (counts.sum() / counts.clamp_min(1)).float().sqrt()
        weights = (weights / weights.mean()).clamp(0.2, 5.0)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = _TinyUNet(len(self.mean), len(self.classes), self.width)
        gen = torch.Generator().manual_seed(seed)
        sizes = torch.tensor([len(x) for x, _ in data], dtype=torch.float)
        opt = torch.optim.AdamW(self.net.parameters(), lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1), eta_min=lr * 0.05)
        self.net.train()
        for _ in range(steps):
            xg, yg = data[int(torch.multinomial(sizes, 1, generator=gen))]
            pick = torch.randint(len(xg), (batch_size,), generator=gen)
            xb, yb = _augment(xg[pick], yg[pick], gen)
            logits = self.net(_pad4(xb))[..., : xb.shape[-2], : xb.shape[-1]]
            loss = F.cross_entropy(logits, yb, weight=weights, ignore_index=-1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        self.net.eval()
        self.fit_seconds = time.perf_counter() - start
        return self

    @torch.inference_mode()
    def predict(self, image: Tensor | Array, wavelengths: Tensor | Array | Sequence[float]) -> Array:
        """``image`` (C, H, W) physical units, ``wavelengths`` (C,) µm -> ``(H, W)`` int64 product codes."""
        if self.net is None:
            raise RuntimeError("ClosedSetNet is not fitted: call fit() or load()")
        _check_bands("ClosedSetNet", self.band_wavelengths, wavelengths)
        self.net.eval()
        x = self._inputs(image, wavelengths)[None]
        logits = self.net(_pad4(x))[0, :, : x.shape[-2], : x.shape[-1]]
        codes = torch.tensor(self.classes, dtype=torch.long)
        return codes[logits.argmax(0)].numpy()

    def save(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` (weights, feature mean/std) and ``config.json`` into ``folder``."""
        from safetensors.torch import save_file

        if self.net is None:
            raise RuntimeError("ClosedSetNet is not fitted: nothing to save")
        folder = Path(folder)
        tensors = {f"net.{k}": v.contiguous() for k, v in self.net.state_dict().items()}
        tensors |= {"feature_mean": self.mean.contiguous(), "feature_std": self.std.contiguous()}
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file(tensors, str(tmp))
        doc = {
            "kind": "closed_set_net",
            "taxonomy": self.taxonomy,
            "classes": list(self.classes),
            "band_names": list(self.band_names),
            "band_wavelengths": list(self.band_wavelengths),
            "width": self.width,
        }
        write_text(folder / "config.json", json.dumps(doc, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> ClosedSetNet:
        """Load a network written by :meth:`save` (safetensors + JSON: nothing is unpickled)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        doc = _read_config(folder, "closed_set_net")
        tensors = load_file(str(folder / "model.safetensors"), device="cpu")
        model = cls(width=int(doc["width"]))
        model.taxonomy, model.classes = str(doc["taxonomy"]), tuple(int(c) for c in doc["classes"])
        model.band_names = tuple(map(str, doc["band_names"]))
        model.band_wavelengths = tuple(float(w) for w in doc["band_wavelengths"])
        model.mean, model.std = tensors.pop("feature_mean"), tensors.pop("feature_std")
        model.net = _TinyUNet(len(model.mean), len(model.classes), model.width)
        model.net.load_state_dict({k.removeprefix("net."): v for k, v in tensors.items()})
        model.net.eval()
        return model


def _pad4(x: Tensor) -> Tensor:
    """Replicate-pad ``(B, F, H, W)`` on the bottom/right to multiples of 4 (the net's stride)."""
    ph, pw = -x.shape[-2] % 4, -x.shape[-1] % 4
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def _augment(x: Tensor, y: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """The same random flips (and a quarter turn for square chips) on features and targets."""
    flips = torch.rand(3, generator=gen) < 0.5
    if flips[0]:
        x, y = x.flip(-1), y.flip(-1)
    if flips[1]:
        x, y = x.flip(-2), y.flip(-2)
    if flips[2] and x.shape[-1] == x.shape[-2]:
        x, y = x.rot90(1, (-2, -1)), y.rot90(1, (-2, -1))
    return x.contiguous(), y.contiguous()


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
            :class:`lslib.training.folders.RasterPairDataset`; then ``subset=None``: all items).
        target_taxonomy: the product the scores are in (default: the chips' own). Predictions in another
            product go through :func:`to_taxonomy`, and so does the reference (also ``ambiguous="first"``:
            each reference class counts as its best-ranked target class). Reference pixels whose class has
            no counterpart are not counted; predictions without a counterpart count as misses.

    Returns:
        ``{"subset", "taxonomy", "model_taxonomy", "chips", "oa", "miou", "iou": {class name: IoU} (classes
        in reference or prediction), "pixels", "confusion": ConfusionMatrix.as_dict()}`` (mIoU over the
        classes present in reference or prediction).
    """
    if isinstance(dataset, LASDataset):
        if subset is None:
            raise ValueError("pass subset= to evaluate on a LASDataset (one band set and product per baseline)")
        indices = _subset_indices(dataset, subset)
    elif subset is not None:
        raise ValueError(f"subset={subset!r} applies to a LASDataset only; pass subset=None for {type(dataset)}")
    else:
        indices = list(range(len(dataset)))
    cm: ConfusionMatrix | None = None
    for i in indices:
        item = dataset[i]
        ref_tax = get_taxonomy(item["taxonomy"])
        dst = get_taxonomy(target_taxonomy or ref_tax.key)
        cm = cm or ConfusionMatrix(dst.codes)
        pred = model.predict(item["image"], item["wavelengths"])
        if model.taxonomy != dst.key:
            pred = to_taxonomy(pred, model.taxonomy, dst.key)
        label, valid = np.asarray(item["label"]), np.asarray(item["valid"])
        if ref_tax.key != dst.key:
            fill = ref_tax.nodata if ref_tax.nodata is not None else ref_tax.codes[0]  # masked by `valid`
            label = to_taxonomy(np.where(valid, label, fill), ref_tax.key, dst.key)
        cm.update(pred, label, valid)
    assert cm is not None
    tax = get_taxonomy(target_taxonomy or dataset[indices[0]]["taxonomy"])
    return {
        "subset": subset,
        "taxonomy": tax.key,
        "model_taxonomy": model.taxonomy,
        "chips": len(indices),
        "oa": cm.overall_accuracy(),
        "miou": cm.miou(),
        "iou": {tax.by_code(c).name: v for c, v in cm.per_class_iou().items() if v == v},
        "pixels": cm.total,
        "confusion": cm.as_dict(),
    }

"""Training samples from LAS chips: physical-unit images, weak labels and sampled class prompts.

A sample is one chip (``lslib.data.las.chips``) with a list of K class *names* to segment: the classes
present in its weak label (the largest ``max_classes``), ``negatives`` absent classes of its own
product, and ``foreign_negatives`` classes of *other* products that are safe to call absent (see
:meth:`LASDataset.sample_classes`). Per class: a binary target mask and a presence flag.

Batches stack chips of one subset and size (:class:`SubsetBatchSampler`); :func:`collate` pads the
per-chip class lists to the longest one and says which entries are real (``class_mask``).
Everything random is a pure function of (seed, epoch, chip), so a resumed run sees the same samples.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
import torch
from rasterio.errors import RasterioError
from torch.utils.data import Dataset, Sampler

from lslib.data.las.chips import list_chips, read_meta
from lslib.taxonomy import crosswalk, get_taxonomy, normalise_name

Split = Literal["train", "val", "all"]
GroupKey = tuple[str, tuple[int, int, int]]
#: Products whose classes serve as foreign negatives on every chip (besides the dataset's own products).
GLOBAL_FOREIGN = ("esa_worldcover", "esri_lulc", "dynamic_world")
_REQUIRED_META = ("subset", "point_id", "taxonomy", "bands", "wavelengths_um", "label_nodata")
_GDAL_ENV = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}  # no directory listing per open: ~25% faster


def stable_hash64(text: str) -> int:
    """A stable (process- and platform-independent) 64-bit hash of ``text``."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _unit_hash(text: str) -> float:
    """:func:`stable_hash64` scaled to [0, 1)."""
    return stable_hash64(text) / 2.0**64


def split_of(point_id: str, *, seed: int = 0, val_fraction: float = 0.2) -> Literal["train", "val"]:
    """The split of a chip: ``"val"`` when hash(seed, point_id) < ``val_fraction``.

    Per chip, so adding chips never moves others; raising ``val_fraction`` only moves chips train -> val.
    """
    return "val" if _unit_hash(f"split:{seed}:{point_id}") < val_fraction else "train"


@dataclass(frozen=True)
class ChipRecord:
    """What the dataset knows about a chip before reading its pixels (from meta.json and the TIFF headers)."""

    path: Path
    subset: str
    point_id: str
    taxonomy: str
    bands: tuple[str, ...]
    wavelengths_um: tuple[float, ...]
    label_nodata: int
    shape: tuple[int, int, int]  # image (C, H, W); the label is (H, W)

    @property
    def group_key(self) -> GroupKey:
        """Chips with equal keys stack into one batch: (subset, (C, H, W))."""
        return self.subset, self.shape


def inspect_chip(path: Path) -> ChipRecord:
    """Read a chip's metadata and TIFF headers (no pixels); ValueError/OSError says what is wrong."""
    path = Path(path)
    meta = read_meta(path)
    missing = [k for k in _REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"meta.json lacks {', '.join(missing)}")
    tax = get_taxonomy(str(meta["taxonomy"]))
    bands, wavelengths = tuple(map(str, meta["bands"])), tuple(float(w) for w in meta["wavelengths_um"])
    if len(bands) != len(wavelengths) or not bands:
        raise ValueError(f"meta.json has {len(bands)} bands but {len(wavelengths)} wavelengths")
    for name in ("image.tif", "label.tif"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{name} is missing")
    with rasterio.Env(**_GDAL_ENV):
        with rasterio.open(path / "image.tif") as src:
            shape = (src.count, src.height, src.width)
        with rasterio.open(path / "label.tif") as src:
            label_shape = (src.count, src.height, src.width)
    if shape[0] != len(bands):
        raise ValueError(f"image.tif has {shape[0]} bands, meta.json lists {len(bands)}")
    if label_shape != (1, *shape[1:]):
        raise ValueError(f"label.tif is {label_shape} (bands, y, x), image.tif {shape}")
    return ChipRecord(
        path, str(meta["subset"]), str(meta["point_id"]), tax.key, bands, wavelengths, int(meta["label_nodata"]), shape
    )


def boundary_mask(label: np.ndarray, labelled: np.ndarray, px: int) -> np.ndarray:
    """Labelled pixels within ``px`` pixels (square window) of a pixel of another class; (H, W) bool.

    A max and a min filter over the labelled codes (nodata ignored): they differ exactly where the window
    holds two classes. Edges between a class and nodata are not class boundaries. ``px=0`` -> all False.
    NumPy/SciPy on purpose: single-threaded, so DataLoader workers do not fight over cores.
    """
    if px <= 0 or not labelled.any():
        return np.zeros(label.shape, dtype=bool)
    from scipy import ndimage

    codes = label.astype(np.int64)
    lo_fill, hi_fill = int(codes.min()) - 1, int(codes.max()) + 1
    size = 2 * px + 1
    high = ndimage.maximum_filter(np.where(labelled, codes, lo_fill), size=size, mode="constant", cval=lo_fill)
    low = ndimage.minimum_filter(np.where(labelled, codes, hi_fill), size=size, mode="constant", cval=hi_fill)
    out: np.ndarray = (high != low) & labelled
    return out


class LASDataset(Dataset[dict[str, Any]]):
    """LAS chips as training samples with sampled class prompts (see the module docstring).

    Args:
        roots: one or more LAS build folders (``lslib las build --out ROOT``).
        subsets: subset names to use (default: every subset under the roots).
        split: ``"train"``, ``"val"`` (per chip, by :func:`split_of`) or ``"all"``.
        val_fraction, seed: the split; ``seed`` also seeds class sampling.
        max_classes: at most this many *present* classes per sample (the largest by pixel count).
        negatives: absent classes of the chip's own product per sample.
        foreign_negatives: safe absent classes from other products per sample. So K <= max_classes +
            negatives + foreign_negatives (fewer when the pools run out).
        use_descriptions: give each class its product's description (else None).
        prompt_synonyms: name each class by its product name or one of its synonyms (drawn per sample),
            and keep its description only half of the time, so unseen wordings land near seen ones.
        ignore_boundary_px: drop pixels within this distance of a class boundary from ``valid``.

    Chips with unreadable metadata or missing/corrupt TIFFs are skipped at init with a warning naming
    them (listed in ``skipped``). A read error later (a file damaged after init) raises OSError naming
    the chip. ``set_epoch`` changes the class sampling; with persistent DataLoader workers call it
    before the workers start (they hold a copy).
    """

    def __init__(
        self,
        *,
        roots: str | Path | Sequence[str | Path],
        subsets: Sequence[str] | None = None,
        split: Split = "all",
        val_fraction: float = 0.2,
        seed: int = 0,
        max_classes: int = 16,
        negatives: int = 4,
        foreign_negatives: int = 2,
        use_descriptions: bool = True,
        ignore_boundary_px: int = 0,
        prompt_synonyms: bool = False,
    ) -> None:
        if split not in ("train", "val", "all"):
            raise ValueError(f"split must be 'train', 'val' or 'all', not {split!r}")
        if not 0.0 <= val_fraction <= 1.0:
            raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
        if max_classes < 1 or min(negatives, foreign_negatives, ignore_boundary_px) < 0:
            raise ValueError("max_classes must be >= 1; negatives, foreign_negatives, ignore_boundary_px >= 0")
        self.roots = [Path(roots)] if isinstance(roots, (str, Path)) else [Path(r) for r in roots]
        self.split, self.val_fraction, self.seed, self.epoch = split, val_fraction, seed, 0
        self.max_classes, self.negatives, self.foreign_negatives = max_classes, negatives, foreign_negatives
        self.use_descriptions, self.ignore_boundary_px = use_descriptions, ignore_boundary_px
        self.prompt_synonyms = prompt_synonyms
        self.skipped: list[tuple[Path, str]] = []

        wanted: list[str | None] = list(subsets) if subsets else [None]
        paths = [p for root in self.roots for s in wanted for p in list_chips(root, s)]
        if not paths:
            where = ", ".join(str(r) for r in self.roots)
            which = f" for subsets {list(subsets)}" if subsets else ""
            raise ValueError(
                f"no LAS chips under {where}{which} (looked for <root>/<subset>/chips/<point_id>/); "
                "build them with `lslib las build --out ROOT` (LAS-mini works offline)"
            )
        if subsets:
            found = {p.parent.parent.name for p in paths}
            if absent := [s for s in subsets if s not in found]:
                raise ValueError(f"no chips for subset(s) {absent} under {self.roots}; found: {sorted(found)}")
        records, seen = [], set()
        for p in paths:
            try:
                rec = inspect_chip(p)
            except (OSError, ValueError, KeyError, TypeError, RasterioError) as e:
                self._skip(p, f"{type(e).__name__}: {e}")
                continue
            if (rec.subset, rec.point_id) in seen:
                self._skip(p, f"duplicate of chip {rec.subset}/{rec.point_id} in an earlier root")
                continue
            seen.add((rec.subset, rec.point_id))
            records.append(rec)
        if not records:
            raise ValueError(f"none of the {len(paths)} chip folders under {self.roots} is readable (see warnings)")
        own = sorted({r.taxonomy for r in records})
        self._foreign_pool = tuple(dict.fromkeys([*own, *GLOBAL_FOREIGN]))  # all splits: train and val agree
        self.records = [
            r for r in records if split == "all" or split_of(r.point_id, seed=seed, val_fraction=val_fraction) == split
        ]
        self._crosswalks: dict[tuple[str, str], dict[int, tuple[int, ...]]] = {}

    def _skip(self, path: Path, reason: str) -> None:
        self.skipped.append((path, reason))
        warnings.warn(f"skipping LAS chip {path}: {reason}", stacklevel=3)

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Class sampling depends on (seed, epoch, chip): call once per epoch."""
        self.epoch = int(epoch)

    def group_key(self, index: int) -> GroupKey:
        """(subset, image shape) of sample ``index``; equal keys stack (used by :class:`SubsetBatchSampler`)."""
        return self.records[index].group_key

    def _crosswalk(self, src: str, dst: str) -> dict[int, tuple[int, ...]]:
        key = (src, dst)
        if key not in self._crosswalks:
            self._crosswalks[key] = crosswalk(src, dst)
        return self._crosswalks[key]

    def _safe_foreign(self, own: str, present: set[int], taken: set[str]) -> dict[str, list[int]]:
        """Per foreign product, the codes of classes that cannot be present on a chip of ``own`` product.

        A foreign class qualifies only if it has a counterpart in ``own`` (else we cannot tell), none of
        its counterparts is present, no present class maps onto it (the reverse crosswalk), and its name
        and synonyms share no normalised name with ``taken`` (present classes' names and synonyms, chosen names).
        """
        out: dict[str, list[int]] = {}
        for key in self._foreign_pool:
            if key == own:
                continue
            fwd, back = self._crosswalk(key, own), self._crosswalk(own, key)
            blocked = {c for p in present for c in back.get(p, ())}
            codes = [
                c.code
                for c in get_taxonomy(key).classes
                if fwd.get(c.code)
                and not present.intersection(fwd[c.code])
                and c.code not in blocked
                and not taken.intersection(map(normalise_name, (c.name, *c.synonyms)))
            ]
            if codes:
                out[key] = codes
        return out

    def sample_classes(self, index: int, present: dict[int, int], absent: Sequence[int]) -> list[tuple[str, int, bool]]:
        """The classes of sample ``index`` as (taxonomy key, code, is_present), in shuffled order.

        Args:
            index: the sample's position in :attr:`records` (one chip).
            present: {code: valid pixel count} of the classes in the chip (count > 0).
            absent: own-product codes not in the label at all (negative candidates).

        Deterministic for (seed, epoch, chip). Foreign negatives: a product is drawn uniformly among the
        foreign ones with safe classes left, then one of its safe classes (:meth:`_safe_foreign`).
        """
        rec = self.records[index]
        tax = get_taxonomy(rec.taxonomy)
        rng = np.random.default_rng(stable_hash64(f"classes:{self.seed}:{self.epoch}:{rec.point_id}"))
        keep = sorted(present, key=lambda c: (-present[c], c))[: self.max_classes]
        n_neg = min(self.negatives, len(absent))
        negs = [int(c) for c in rng.choice(np.asarray(absent, dtype=np.int64), size=n_neg, replace=False)]
        chosen = [(tax.key, c, True) for c in keep] + [(tax.key, c, False) for c in negs]
        taken = {normalise_name(s) for c in present for s in (tax.by_code(c).name, *tax.by_code(c).synonyms)}
        taken |= {normalise_name(tax.by_code(c).name) for c in negs}
        pool = self._safe_foreign(tax.key, set(present), taken) if self.foreign_negatives else {}
        for _ in range(self.foreign_negatives):
            pool = {k: v for k, v in pool.items() if v}
            if not pool:
                break
            key = sorted(pool)[int(rng.integers(len(pool)))]
            code = pool[key].pop(int(rng.integers(len(pool[key]))))
            name = normalise_name(get_taxonomy(key).by_code(code).name)
            chosen.append((key, code, False))
            for k in pool:  # one name once, whichever product it comes from
                pool[k] = [c for c in pool[k] if normalise_name(get_taxonomy(k).by_code(c).name) != name]
        return [chosen[i] for i in rng.permutation(len(chosen))]

    def wordings(self, index: int, entries: Sequence[Any]) -> tuple[list[str], list[str | None]]:
        """The prompt text of each sampled class: (names, descriptions), deterministic for (seed, epoch, chip).

        Without ``prompt_synonyms``: the product's names and (``use_descriptions``) descriptions. With it:
        the name is the product's name (p = 0.5) or one of its synonyms, never repeating a name already
        used in the sample (ignoring case and spaces), and the description is kept with p = 0.5.
        """
        if not self.prompt_synonyms:
            return [c.name for c in entries], [c.description if self.use_descriptions else None for c in entries]
        rng = np.random.default_rng(stable_hash64(f"prompts:{self.seed}:{self.epoch}:{self.records[index].point_id}"))
        names: list[str] = []
        used = {normalise_name(c.name) for c in entries}
        for c in entries:
            name = c.name
            if c.synonyms and rng.random() < 0.5:
                pick = c.synonyms[int(rng.integers(len(c.synonyms)))]
                if normalise_name(pick) not in used:
                    used.add(normalise_name(pick))
                    name = pick
            names.append(name)
        descriptions = [c.description if self.use_descriptions and rng.random() < 0.5 else None for c in entries]
        return names, descriptions

    def class_pixels(self, index: int) -> dict[int, int]:
        """{code: labelled pixel count} of chip ``index`` (reads label.tif; for balanced sampling)."""
        rec = self.records[index]
        with rasterio.Env(**_GDAL_ENV), rasterio.open(rec.path / "label.tif") as src:
            label = src.read(1).astype(np.int64)
        codes = np.asarray(get_taxonomy(rec.taxonomy).codes)
        label = label[np.isin(label, codes)]
        counts = np.bincount(label, minlength=int(codes.max()) + 1) if label.size else np.zeros(1, np.int64)
        return {int(c): int(counts[c]) for c in codes if c < counts.size and counts[c] > 0}

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixels of sample ``index``: image (C, H, W) float32 physical units, NaN nodata; label (H, W) int64."""
        rec = self.records[index]
        try:
            with rasterio.Env(**_GDAL_ENV):
                with rasterio.open(rec.path / "image.tif") as src:
                    image = src.read(out_dtype="float32")
                with rasterio.open(rec.path / "label.tif") as src:
                    label = src.read(1).astype(np.int64)
        except RasterioError as e:
            raise OSError(f"cannot read LAS chip {rec.path}: {e}") from e
        if image.shape != rec.shape or label.shape != rec.shape[1:]:
            raise OSError(f"LAS chip {rec.path} changed since the dataset was built: {image.shape} != {rec.shape}")
        return image, label

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One sample; K = number of sampled classes.

        Returns:
            ``image`` (C, H, W) float32 physical units, NaN nodata; ``wavelengths`` (C,) float32 µm;
            ``band_names`` list[str]; ``label`` (H, W) int64 product codes; ``valid`` (H, W) bool
            (labelled, finite in some band, off class boundaries); ``classes``, ``descriptions``
            (str or None), ``taxonomies``: K-lists; ``targets`` (K, H, W) float32 binary (all 0 for
            negatives); ``presence`` (K,) float32; ``subset``, ``point_id``, ``taxonomy`` str.
        """
        rec = self.records[index]
        tax = get_taxonomy(rec.taxonomy)
        image, label = self.read(index)
        labelled = np.isin(label, np.asarray(tax.codes))  # nodata and unknown codes are no class
        valid = labelled & np.isfinite(image).any(axis=0)
        in_label = np.bincount(label[labelled], minlength=max(tax.codes) + 1)
        in_valid = np.bincount(label[valid], minlength=max(tax.codes) + 1)
        present = {c: int(in_valid[c]) for c in tax.codes if in_valid[c] > 0}
        absent = [c for c in tax.codes if in_label[c] == 0]  # classes only under NaN image: neither
        classes = self.sample_classes(index, present, absent)
        if self.ignore_boundary_px:
            valid &= ~boundary_mask(label, labelled, self.ignore_boundary_px)
        codes = np.asarray([code if is_present else -1 for _, code, is_present in classes], dtype=np.int64)
        targets = (label[np.newaxis] == codes[:, np.newaxis, np.newaxis]).astype(np.float32)  # -1 never matches
        entries = [get_taxonomy(key).by_code(code) for key, code, _ in classes]
        names, descriptions = self.wordings(index, entries)
        return {
            "image": torch.from_numpy(image),
            "wavelengths": torch.tensor(rec.wavelengths_um, dtype=torch.float32),
            "band_names": list(rec.bands),
            "label": torch.from_numpy(label),
            "valid": torch.from_numpy(valid),
            "classes": names,
            "descriptions": descriptions,
            "taxonomies": [key for key, _, _ in classes],
            "targets": torch.from_numpy(targets),
            "presence": torch.tensor([float(p) for _, _, p in classes], dtype=torch.float32),
            "subset": rec.subset,
            "point_id": rec.point_id,
            "taxonomy": rec.taxonomy,
        }


class SubsetBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices that share (subset, image shape), so they stack.

    Every index appears exactly once per epoch (``drop_last`` drops each group's short last batch).
    With ``shuffle``, indices within groups and the order of batches are shuffled by (seed, epoch).
    """

    def __init__(
        self, dataset: LASDataset, *, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size, self.shuffle, self.seed, self.drop_last, self.epoch = batch_size, shuffle, seed, drop_last, 0
        groups: dict[GroupKey, list[int]] = {}
        for i in range(len(dataset)):
            groups.setdefault(dataset.group_key(i), []).append(i)
        self.groups = groups  # insertion order = first index of each group

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds the shuffling of the next iteration: call once per epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        size = self.batch_size
        return sum(len(g) // size if self.drop_last else math.ceil(len(g) / size) for g in self.groups.values())

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(stable_hash64(f"batches:{self.seed}:{self.epoch}"))
        batches: list[list[int]] = []
        for indices in self.groups.values():
            order = [indices[i] for i in rng.permutation(len(indices))] if self.shuffle else indices
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        yield from batches


class BalancedBatchSampler(SubsetBatchSampler):
    """As many batches per epoch as :class:`SubsetBatchSampler`, drawn to balance subsets and rare classes.

    Each batch: a subset drawn uniformly among the subsets (so a subset of 10 chips weighs as much as
    one of 100), then a group of that subset (by its chip count), then ``batch_size`` chips of the
    group without replacement, each weighted by ``sum over its classes of share / frequency``, where
    frequency is the class's share of the subset's labelled pixels (capped at 10x, as the official
    recipe caps per-class loss weights), so chips holding rare classes come up more often.
    Deterministic for (seed, epoch).
    """

    def __init__(self, dataset: LASDataset, *, batch_size: int, seed: int = 0, max_weight: float = 10.0) -> None:
        super().__init__(dataset, batch_size=batch_size, shuffle=True, seed=seed)
        counts = [dataset.class_pixels(i) for i in range(len(dataset))]
        subset_of = [dataset.records[i].subset for i in range(len(dataset))]
        totals: dict[str, dict[int, int]] = {}
        for sub, cnt in zip(subset_of, counts, strict=True):
            acc = totals.setdefault(sub, {})
            for code, n in cnt.items():
                acc[code] = acc.get(code, 0) + n
        self.weights = np.ones(len(dataset))
        for i, (sub, cnt) in enumerate(zip(subset_of, counts, strict=True)):
            all_px = sum(totals[sub].values()) or 1
            own = sum(cnt.values()) or 1
            w = sum((n / own) * min(max_weight, 1.0 / max(totals[sub][c] / all_px, 1e-9)) for c, n in cnt.items())
            self.weights[i] = max(w, 1.0)
        self.by_subset: dict[str, list[GroupKey]] = {}
        for key in self.groups:
            self.by_subset.setdefault(key[0], []).append(key)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(stable_hash64(f"balanced:{self.seed}:{self.epoch}"))
        subsets = sorted(self.by_subset)
        for _ in range(len(self)):
            sub = subsets[int(rng.integers(len(subsets)))]
            keys = self.by_subset[sub]
            sizes = np.asarray([len(self.groups[k]) for k in keys], dtype=np.float64)
            group = self.groups[keys[int(rng.choice(len(keys), p=sizes / sizes.sum()))]]
            w = self.weights[group]
            n = min(self.batch_size, len(group))
            pick = rng.choice(len(group), size=n, replace=False, p=w / w.sum())
            yield [group[int(i)] for i in pick]


def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack samples of one (subset, size) group; pad class dimensions to Kmax (the longest class list).

    Returns:
        ``image`` (B, C, H, W), ``label`` (B, H, W), ``valid`` (B, H, W); ``targets`` (B, Kmax, H, W)
        and ``presence`` (B, Kmax), zero on padding; ``class_mask`` (B, Kmax) bool, True for real
        classes (the first ``len(classes[b])`` of row b); ``classes``, ``descriptions``, ``taxonomies``
        (B lists, unpadded); ``wavelengths`` (C,) µm and ``band_names`` (shared by the batch);
        ``subset``, ``point_id``, ``taxonomy`` (B lists).

    Raises:
        ValueError: an empty batch, or samples of different shape or bands (use :class:`SubsetBatchSampler`).
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    first = batch[0]
    shapes = {(tuple(s["image"].shape), tuple(s["label"].shape)) for s in batch}
    if len(shapes) > 1:
        raise ValueError(f"samples of different shapes {sorted(shapes)} cannot stack; batch with SubsetBatchSampler")
    for s in batch[1:]:
        if not torch.equal(s["wavelengths"], first["wavelengths"]) or s["band_names"] != first["band_names"]:
            raise ValueError(
                f"{s['point_id']} has bands {s['band_names']}, {first['point_id']} {first['band_names']}: "
                "a batch needs the same bands (batch with SubsetBatchSampler)"
            )
    b, kmax = len(batch), max(len(s["classes"]) for s in batch)
    h, w = first["label"].shape
    targets = torch.zeros(b, kmax, h, w)
    presence = torch.zeros(b, kmax)
    class_mask = torch.zeros(b, kmax, dtype=torch.bool)
    for i, s in enumerate(batch):
        k = len(s["classes"])
        targets[i, :k], presence[i, :k], class_mask[i, :k] = s["targets"], s["presence"], True
    return {
        "image": torch.stack([s["image"] for s in batch]),
        "wavelengths": first["wavelengths"],
        "band_names": list(first["band_names"]),
        "label": torch.stack([s["label"] for s in batch]),
        "valid": torch.stack([s["valid"] for s in batch]),
        "targets": targets,
        "presence": presence,
        "class_mask": class_mask,
        **{key: [s[key] for s in batch] for key in ("classes", "descriptions", "taxonomies")},
        **{key: [s[key] for s in batch] for key in ("subset", "point_id", "taxonomy")},
    }

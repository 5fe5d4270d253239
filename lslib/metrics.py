"""Segmentation metrics: a streaming confusion matrix over many chips, and logits -> class codes.

Below training and the map app (next to :mod:`lslib.fusion`), so both may use it: training scores
checkpoints and baselines with it, the map app its agreement with a reference. It imports no other
lslib module.

:class:`ConfusionMatrix` accumulates int64 counts chip by chip (``update``), across workers or
regions (``merge``), and derives per-class IoU/F1/precision/recall, mIoU, overall accuracy, a
pandas table, a matplotlib figure and a JSON-ready dict. Classes are product codes (e.g. ESA
WorldCover 10, 20, ...), fixed at construction.

Conventions (rows = reference, columns = prediction), per class ``c``:

- ``TP = M[c, c]``, ``FP = sum_r M[r, c] - TP``, ``FN = support - TP`` with ``support`` = reference
  pixels of ``c`` (including those predicted as a code outside ``classes``, see below);
- ``IoU = TP / (TP + FP + FN)``, ``F1 = 2 TP / (2 TP + FP + FN)``, ``precision = TP / (TP + FP)``,
  ``recall = TP / (TP + FN)``; ``NaN`` where the denominator is 0 (e.g. IoU of a class absent from
  both reference and prediction);
- ``overall_accuracy = sum TP / (valid pixels whose reference is in classes)``.

Codes outside ``classes``: a pixel whose *reference* is not in ``classes`` is ignored (unlabelled,
nodata, or a class not being evaluated) and only counted in :attr:`ConfusionMatrix.ignored`; a pixel
whose reference is in ``classes`` but whose *prediction* is not counts as a miss (a false negative of
the reference class, a false positive of no class) in :attr:`ConfusionMatrix.other`, so that a model
predicting codes outside the evaluated list can never look better for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ConfusionMatrix", "predict_classes"]

Normalize = Literal["true", "pred", "all"] | None


def _as_int_tensor(name: str, x: Tensor | npt.NDArray[Any]) -> Tensor:
    t = torch.as_tensor(x)
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"{name} must hold integer class codes, got dtype {t.dtype}")
    return t.long()


def _ratio(num: npt.NDArray[np.int64], den: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """``num / den`` as float64 with NaN where ``den == 0`` (no warnings)."""
    out = np.full(num.shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _mean(values: npt.NDArray[np.float64], present_only: bool) -> float:
    if present_only:
        kept = values[~np.isnan(values)]
        return float(kept.mean()) if kept.size else math.nan
    return float(np.nan_to_num(values, nan=0.0).mean()) if values.size else math.nan


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


class ConfusionMatrix:
    """Streaming confusion matrix over a fixed list of class codes.

    Args:
        classes: the evaluated class codes, in display order (distinct ints; e.g. ``[10, 20, 30]``).

    Attributes:
        classes: tuple of the codes; row/column ``i`` of :attr:`matrix` is ``classes[i]``.
        matrix: ``(n, n)`` int64 counts, rows = reference, columns = prediction.
        other: ``(n,)`` int64: reference ``classes[i]``, prediction outside ``classes`` (misses).
        ignored: int: valid pixels whose reference is outside ``classes`` (not counted anywhere else).
    """

    def __init__(self, classes: Sequence[int]) -> None:
        codes = tuple(int(c) for c in classes)
        if not codes:
            raise ValueError("classes must list at least one class code")
        if len(set(codes)) != len(codes):
            raise ValueError(f"classes must be distinct, got {list(codes)}")
        self.classes: tuple[int, ...] = codes
        n = len(codes)
        self.matrix: npt.NDArray[np.int64] = np.zeros((n, n), dtype=np.int64)
        self.other: npt.NDArray[np.int64] = np.zeros(n, dtype=np.int64)
        self.ignored: int = 0
        order = sorted(range(n), key=lambda i: codes[i])
        self._sorted_codes = torch.tensor([codes[i] for i in order], dtype=torch.long)
        self._sorted_index = torch.tensor(order, dtype=torch.long)

    def __repr__(self) -> str:
        return f"ConfusionMatrix(classes={list(self.classes)}, pixels={self.total}, ignored={self.ignored})"

    @property
    def n(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def total(self) -> int:
        """Counted pixels: valid, reference in ``classes`` (including :attr:`other`)."""
        return int(self.matrix.sum() + self.other.sum())

    # --- accumulation ---------------------------------------------------------------------------
    def _index(self, codes: Tensor) -> Tensor:
        """Codes -> row index in ``0..n-1``, or ``-1`` for a code outside ``classes``."""
        sorted_codes = self._sorted_codes.to(codes.device)
        pos = torch.searchsorted(sorted_codes, codes).clamp_max(self.n - 1)
        found = sorted_codes[pos] == codes
        return torch.where(found, self._sorted_index.to(codes.device)[pos], -1)

    def update(
        self,
        pred: Tensor | npt.NDArray[Any],
        target: Tensor | npt.NDArray[Any],
        valid: Tensor | npt.NDArray[Any] | None = None,
    ) -> ConfusionMatrix:
        """Add one chip ``(H, W)`` or a batch ``(B, H, W)`` of integer codes; returns ``self``.

        Args:
            pred: predicted class codes (any integer dtype; torch tensors are counted on their device).
            target: reference class codes, same shape.
            valid: optional bool mask, same shape; ``False`` pixels are skipped entirely.
        """
        p = _as_int_tensor("pred", pred)
        t = _as_int_tensor("target", target).to(p.device)
        if p.shape != t.shape:
            raise ValueError(f"pred and target must have the same shape, got {tuple(p.shape)} and {tuple(t.shape)}")
        if valid is not None:
            v = torch.as_tensor(valid).to(p.device)
            if v.dtype != torch.bool or v.shape != p.shape:
                raise ValueError(
                    f"valid must be a bool tensor of shape {tuple(p.shape)}, got {v.dtype} {tuple(v.shape)}"
                )
            p, t = p[v], t[v]
        ti, pi = self._index(t.reshape(-1)), self._index(p.reshape(-1))
        labelled = ti >= 0
        self.ignored += int((~labelled).sum())
        ti, pi = ti[labelled], pi[labelled]
        n = self.n
        # column n collects the predictions outside `classes`
        flat = ti * (n + 1) + torch.where(pi >= 0, pi, n)
        counts = torch.bincount(flat, minlength=n * (n + 1)).reshape(n, n + 1).cpu().numpy().astype(np.int64)
        self.matrix += counts[:, :n]
        self.other += counts[:, n]
        return self

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add the counts of another matrix over the same ``classes`` (same order); returns ``self``."""
        if other.classes != self.classes:
            raise ValueError(f"cannot merge matrices over different classes: {self.classes} vs {other.classes}")
        self.matrix += other.matrix
        self.other += other.other
        self.ignored += other.ignored
        return self

    def reset(self) -> None:
        """Zero all counts."""
        self.matrix[:] = 0
        self.other[:] = 0
        self.ignored = 0

    # --- counts ---------------------------------------------------------------------------------
    def true_positives(self) -> npt.NDArray[np.int64]:
        """``(n,)`` diagonal."""
        return np.diag(self.matrix).copy()

    def support(self) -> npt.NDArray[np.int64]:
        """``(n,)`` reference pixels per class (``TP + FN``)."""
        out: npt.NDArray[np.int64] = self.matrix.sum(1) + self.other
        return out

    def predicted(self) -> npt.NDArray[np.int64]:
        """``(n,)`` pixels predicted as each class, among counted pixels (``TP + FP``)."""
        out: npt.NDArray[np.int64] = self.matrix.sum(0)
        return out

    def _per_class(self, values: npt.NDArray[np.float64]) -> dict[int, float]:
        return {c: float(v) for c, v in zip(self.classes, values, strict=True)}

    def _iou(self) -> npt.NDArray[np.float64]:
        tp = self.true_positives()
        return _ratio(tp, self.support() + self.predicted() - tp)

    def _f1(self) -> npt.NDArray[np.float64]:
        tp = self.true_positives()
        return _ratio(2 * tp, self.support() + self.predicted())

    # --- metrics --------------------------------------------------------------------------------
    def per_class_iou(self) -> dict[int, float]:
        """``{code: TP / (TP + FP + FN)}``; NaN for a class absent from both reference and prediction."""
        return self._per_class(self._iou())

    def per_class_f1(self) -> dict[int, float]:
        """``{code: 2 TP / (2 TP + FP + FN)}``; NaN for a class absent from both."""
        return self._per_class(self._f1())

    def precision(self) -> dict[int, float]:
        """``{code: TP / (TP + FP)}`` (user's accuracy); NaN for a class never predicted."""
        return self._per_class(_ratio(self.true_positives(), self.predicted()))

    def recall(self) -> dict[int, float]:
        """``{code: TP / (TP + FN)}`` (producer's accuracy); NaN for a class absent from the reference."""
        return self._per_class(_ratio(self.true_positives(), self.support()))

    def miou(self, present_only: bool = True) -> float:
        """Mean IoU.

        ``present_only=True``: over classes present in reference or prediction (NaN IoUs
        skipped, the usual benchmark convention); ``False``: over all ``classes``, an absent class
        counting 0 (a fixed denominator). NaN when nothing is counted.
        """
        if self.total == 0:
            return math.nan
        return _mean(self._iou(), present_only)

    def macro_f1(self, present_only: bool = True) -> float:
        """Mean per-class F1, with the same ``present_only`` convention as :meth:`miou`."""
        if self.total == 0:
            return math.nan
        return _mean(self._f1(), present_only)

    def overall_accuracy(self) -> float:
        """``sum TP / counted pixels`` (misses into :attr:`other` included); NaN when nothing is counted."""
        total = self.total
        return float(np.trace(self.matrix) / total) if total else math.nan

    # --- export ---------------------------------------------------------------------------------
    def to_frame(self, names: Mapping[int, str] | None = None) -> pd.DataFrame:
        """Per-class table indexed by code: ``name, iou, f1, precision, recall, support, predicted``."""
        import pandas as pd

        names = names or {}
        frame = pd.DataFrame(
            {
                "name": [names.get(c, str(c)) for c in self.classes],
                "iou": self._iou(),
                "f1": self._f1(),
                "precision": list(self.precision().values()),
                "recall": list(self.recall().values()),
                "support": self.support(),
                "predicted": self.predicted(),
            },
            index=pd.Index(list(self.classes), name="code"),
        )
        return frame

    def normalized(self, normalize: Normalize = "true") -> npt.NDArray[np.float64]:
        """The ``(n, n)`` confusion matrix, normalised.

        As fractions: of each reference row (``"true"``, diagonal = recall; the
        row total includes :attr:`other`), of each prediction column (``"pred"``, diagonal =
        precision), of all counted pixels (``"all"``), or raw counts (``None``). Empty rows/columns -> NaN.
        """
        m = self.matrix.astype(np.int64)
        if normalize is None:
            return m.astype(np.float64)
        if normalize == "true":
            return _ratio(m, np.broadcast_to(self.support()[:, None], m.shape))
        if normalize == "pred":
            return _ratio(m, np.broadcast_to(self.predicted()[None, :], m.shape))
        if normalize == "all":
            return _ratio(m, np.full(m.shape, self.total, dtype=np.int64))
        raise ValueError(f"normalize must be 'true', 'pred', 'all' or None, got {normalize!r}")

    def plot(
        self, ax: Axes | None = None, names: Mapping[int, str] | None = None, normalize: Normalize = "true"
    ) -> Figure:
        """Draw the matrix (rows = reference, columns = prediction) with values in the cells.

        Uses matplotlib's object-oriented API only: draws on ``ax`` if given, else on a new
        :class:`matplotlib.figure.Figure` that is not registered with pyplot (no backend change, no
        global figure state). Returns the (root) figure.
        """
        from matplotlib.figure import Figure

        values = self.normalized(normalize)
        if ax is None:
            fig = Figure(figsize=(1.2 + 0.6 * self.n, 1.0 + 0.6 * self.n), layout="constrained")
            ax = fig.add_subplot()
        parent = ax.figure
        root = parent if isinstance(parent, Figure) else parent.figure  # a SubFigure's .figure is the root
        if not isinstance(root, Figure):
            raise ValueError("ax is not attached to a figure")
        labels = [(names or {}).get(c, str(c)) for c in self.classes]
        im = ax.imshow(np.nan_to_num(values, nan=0.0), cmap="Blues", vmin=0.0, vmax=None if normalize is None else 1.0)
        ax.set_xticks(range(self.n), labels, rotation=45, ha="right")
        ax.set_yticks(range(self.n), labels)
        ax.set_xlabel("prediction")
        ax.set_ylabel("reference")
        top = np.nanmax(values) if np.isfinite(values).any() else 0.0
        for (i, j), v in np.ndenumerate(values):
            text = "" if math.isnan(v) else (f"{int(v)}" if normalize is None else f"{v:.2f}")
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if v > 0.5 * top else "black")
        title = "confusion matrix" + ("" if normalize is None else f" (normalised by {normalize})")
        ax.set_title(title)
        what = "pixels" if normalize is None else {"true": "share of the reference class (row)",
                                                    "pred": "share of the predicted class (column)",
                                                    "all": "share of all pixels"}.get(str(normalize), str(normalize))
        root.colorbar(im, ax=ax, shrink=0.8, label=what)
        return root

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict: counts (enough for :meth:`from_dict`) and the metrics; NaN -> ``None``."""
        iou, f1 = self.per_class_iou(), self.per_class_f1()
        prec, rec = self.precision(), self.recall()
        return {
            "classes": list(self.classes),
            "matrix": self.matrix.tolist(),
            "other": self.other.tolist(),
            "ignored": self.ignored,
            "per_class": {
                str(c): {
                    "iou": _json_float(iou[c]),
                    "f1": _json_float(f1[c]),
                    "precision": _json_float(prec[c]),
                    "recall": _json_float(rec[c]),
                    "support": int(s),
                }
                for c, s in zip(self.classes, self.support(), strict=True)
            },
            "miou": _json_float(self.miou()),
            "macro_f1": _json_float(self.macro_f1()),
            "overall_accuracy": _json_float(self.overall_accuracy()),
            "pixels": self.total,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ConfusionMatrix:
        """Rebuild from :meth:`as_dict` output (only the counts are read)."""
        cm = cls(doc["classes"])
        matrix = np.asarray(doc["matrix"], dtype=np.int64)
        if matrix.shape != cm.matrix.shape:
            raise ValueError(f"matrix must be {cm.matrix.shape} for {cm.n} classes, got {matrix.shape}")
        cm.matrix[:] = matrix
        cm.other[:] = np.asarray(doc.get("other", np.zeros(cm.n)), dtype=np.int64)
        cm.ignored = int(doc.get("ignored", 0))
        return cm


def predict_classes(mask_logits: Tensor, codes: Sequence[int]) -> Tensor:
    """Per-pixel class code of the highest logit.

    Args:
        mask_logits: ``(B, K, H, W)`` per-class sigmoid logits (argmax of logits = argmax of
            probabilities; ties go to the first class).
        codes: ``K`` class codes, ``codes[k]`` for channel ``k``.

    Returns:
        ``(B, H, W)`` int64 codes on the logits' device.
    """
    if mask_logits.ndim != 4:
        raise ValueError(f"mask_logits must be (B, K, H, W), got {tuple(mask_logits.shape)}")
    if len(codes) != mask_logits.shape[1] or len(codes) == 0:
        raise ValueError(f"need one code per class channel: {mask_logits.shape[1]} channels, {len(codes)} codes")
    table = torch.tensor([int(c) for c in codes], dtype=torch.long, device=mask_logits.device)
    return table[mask_logits.argmax(1)]

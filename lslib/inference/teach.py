"""Teach the map: few-shot correction of the zero-shot map from labelled pixels, on the cached embedding.

Pure functions (no predictor state); :meth:`lslib.inference.Predictor.adapt` wires them to the cached image
and the equations are in ``docs/teach.md``. For ``K`` prompted classes and a cell ``x`` of the decoder's
stride-4 grid:

* zero-shot fused score ``f_k(x)`` in [0, 1] (:func:`lslib.fusion.fused_scores`);
* features ``phi(x)``: the decoder's prompt-independent pixel features (``ImageEmbedding.pixels``) and the
  robust-stretched bands themselves (4 x 4 mean), standardised over the teaching image:
  ``u(x) = (phi(x) - mu) / sigma`` (``F`` features);
* labelled cells ``x_i`` with classes ``y_i``, kernel ``kappa(u, v) = exp(-gamma |u - v|^2 / F)``;
* taught logits ``z_k(x) = a log f_k(x) + sum_i kappa(u(x), u(x_i)) alpha_ik``; taught score
  ``g_k(x) = softmax_k z_k(x)``.

``alpha`` and ``a`` are fitted by kernel logistic regression with the zero-shot map as offset::

    min  sum_i -log g_{y_i}(x_i) + strength/2 tr(alpha^T K alpha) + PRIOR_PENALTY/2 (a - 1)^2

With no point the map is the zero-shot map exactly (``argmax g = argmax f``); with few points the penalty
keeps the correction small, so the prior is not forgotten. The correction is local in feature space: a
click moves the pixels that look like the clicked one (``kappa`` decays with feature distance) and leaves
unlike pixels as they were, so one click cannot flip the whole map. Classes without points keep
``alpha_ik = 0``: they stay zero-shot, only the taught classes move around them. The image is never
re-encoded: the features are the cached embedding's.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:
    import numpy.typing as npt
    from affine import Affine

    from lslib.prompt_set import PromptSet

#: maps stride-4 scores ``(1, K, h, w)`` to the image's full grid (``Predictor``: ``upsample_to``)
Upsample = Callable[[torch.Tensor], torch.Tensor]

#: stride of the decoder grid the head works on (``ImageEmbedding.pixels``)
STRIDE = 4
#: more labelled points than this is refused (an interactive session needs tens, not thousands)
MAX_POINTS = 2000
#: default penalty on the correction (chosen on bench/fewshot.py)
DEFAULT_STRENGTH = 0.3
#: default kernel width (chosen on bench/fewshot.py)
DEFAULT_GAMMA = 1.0
#: pull of the prior's weight ``a`` towards 1
PRIOR_PENALTY = 3.0
EPS = 1e-4
FEATURES = ("pixels", "bands")
SIDECAR_FORMAT = 1


class TeachError(ValueError):
    """Labelled points that cannot teach (outside the image, on nodata, unknown class, too many, mismatch)."""


# --- features -------------------------------------------------------------------------------------------
def feature_stats(features: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std ``(F,)`` of ``(1, F, h, w)`` features over the valid pixels (std floored at 1e-3)."""
    x = features[0].flatten(1)  # (F, N)
    if valid is not None:
        x = x[:, valid.flatten()[: x.shape[1]]] if valid.numel() == x.shape[1] else x
    if x.shape[1] == 0:
        return torch.zeros(features.shape[1]), torch.ones(features.shape[1])
    return x.mean(1), x.std(1, unbiased=False).clamp_min(1e-3)


@dataclass(eq=False)
class ImageFeatures:
    """What teaching reads from one encoded image.

    The decoder's pixel features at stride 4 and the robust-stretched bands at full resolution, with their
    mean and std over the image's valid pixels.
    """

    pixels: torch.Tensor  # (1, P, h, w) stride 4 over the padded image
    bands: torch.Tensor  # (1, C, H, W) in [0, 1]
    stats: dict[str, tuple[torch.Tensor, torch.Tensor]]

    @classmethod
    def build(cls, pixels: torch.Tensor, bands: torch.Tensor, valid: np.ndarray) -> ImageFeatures:
        """Features of one image with their mean and std over the valid pixels (``valid``: ``(H, W)`` mask)."""
        v = torch.from_numpy(np.asarray(valid, dtype=bool))
        h, w = pixels.shape[-2:]
        cells = torch.zeros(h, w, dtype=torch.bool)
        r, c = torch.nonzero(v, as_tuple=True)
        cells[(r // STRIDE).clamp(max=h - 1), (c // STRIDE).clamp(max=w - 1)] = True
        return cls(pixels.float(), bands.float(),
                   {"pixels": feature_stats(pixels.float(), cells), "bands": feature_stats(bands.float(), v)})

    def at(self, rows: np.ndarray, cols: np.ndarray, kinds: Sequence[str] = FEATURES) -> dict[str, torch.Tensor]:
        """Raw features ``{kind: (N, F_kind)}`` at full-resolution pixels (pixel features of their stride-4 cell)."""
        out = {}
        for kind in kinds:
            if kind == "pixels":
                r = torch.as_tensor(rows // STRIDE).clamp_(0, self.pixels.shape[-2] - 1)
                c = torch.as_tensor(cols // STRIDE).clamp_(0, self.pixels.shape[-1] - 1)
                out[kind] = self.pixels[0][:, r, c].T
            elif kind == "bands":
                out[kind] = self.bands[0][:, torch.as_tensor(rows), torch.as_tensor(cols)].T
            else:
                raise ValueError(f"unknown feature kind {kind!r}; choose from {FEATURES}")
        return out


# --- points ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Point:
    """A labelled pixel: ``(x, y)`` in the image CRS and a class name."""

    x: float
    y: float
    name: str


def to_cells(
    points: Sequence[Point], transform: Affine, shape: tuple[int, int], valid: np.ndarray, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Points -> ``(rows, cols)`` full-resolution pixels, class indices into ``names`` and notes on dropped points.

    Points of a class not in ``names`` are dropped with a note (a removed or renamed class); points outside
    the image or on nodata raise :class:`TeachError` (the user clicked somewhere that cannot teach).
    """
    if len(points) > MAX_POINTS:
        raise TeachError(f"{len(points)} points is too many to teach from (at most {MAX_POINTS}); for a full "
                         "training set, train or fine-tune a model (lslib train) instead")
    inv = ~transform
    index = {n: i for i, n in enumerate(names)}
    rows, cols, labels, notes = [], [], [], []
    stale: dict[str, int] = {}
    for p in points:
        if not isinstance(p.name, str) or not p.name.strip():
            raise TeachError(f"a point at ({p.x:.1f}, {p.y:.1f}) has an empty class name; choose its class")
        if p.name not in index:
            stale[p.name] = stale.get(p.name, 0) + 1
            continue
        col, row = (math.floor(v) for v in inv * (p.x, p.y))
        if not (0 <= row < shape[0] and 0 <= col < shape[1]):
            raise TeachError(f"the point ({p.x:.1f}, {p.y:.1f}) of {p.name!r} is outside the image; click inside it")
        if not valid[row, col]:
            raise TeachError(f"the point ({p.x:.1f}, {p.y:.1f}) of {p.name!r} is on nodata; click a valid pixel")
        rows.append(row)
        cols.append(col)
        labels.append(index[p.name])
    for name, n in stale.items():
        notes.append(f"{n} point(s) of {name!r} ignored: no such class in the prompts (removed or renamed)")
    return np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), np.asarray(labels, dtype=np.int64), notes


# --- the head -------------------------------------------------------------------------------------------
def kernel(u: torch.Tensor, v: torch.Tensor, gamma: float) -> torch.Tensor:
    """Gaussian kernel ``exp(-gamma |u - v|^2 / F)`` between ``(M, F)`` and ``(N, F)`` -> ``(M, N)`` in (0, 1]."""
    d2 = (u.pow(2).sum(1, keepdim=True) - 2 * u @ v.T + v.pow(2).sum(1)[None]).clamp_min(0.0)
    return torch.exp(-gamma * d2 / max(u.shape[1], 1))


@dataclass(eq=False)
class TaughtHead:
    """The fitted correction ``z = a log f + kappa(u, S) alpha`` (``docs/teach.md``) and what it was fitted on.

    ``kappa`` is the mean of one Gaussian kernel per feature kind (``features``): the decoder's pixel features
    (stride 4, the correction upsampled like the scores) and the bands (full resolution).
    """

    classes: tuple[str, ...]
    support: dict[str, torch.Tensor]  # kind -> (N, F_kind) standardised features of the labelled pixels
    alpha: torch.Tensor  # (N, K) kernel weights; zero columns for classes without points
    prior_scale: float
    gamma: float
    mean: dict[str, torch.Tensor]  # kind -> (F_kind,)
    std: dict[str, torch.Tensor]
    counts: dict[str, int]
    features: tuple[str, ...] = FEATURES
    bands: tuple[str, ...] = ()
    wavelengths: tuple[float, ...] = ()
    model: str = ""  # fingerprint of the model whose embedding was used
    strength: float = DEFAULT_STRENGTH

    @property
    def taught(self) -> bool:
        """Whether the head holds at least one labelled point (else it changes nothing)."""
        return any(self.counts.values()) and self.alpha.numel() > 0

    def digest(self) -> str:
        """Content hash of the fitted head (support, weights, statistics, settings)."""
        h = hashlib.blake2b(digest_size=12)
        for t in (self.alpha, *(x for k in self.features for x in (self.support[k], self.mean[k], self.std[k]))):
            h.update(t.detach().float().contiguous().numpy().tobytes())
        h.update(repr((self.classes, self.prior_scale, self.gamma, self.strength, self.features)).encode())
        return h.hexdigest()

    def standardise(self, kind: str, x: torch.Tensor) -> torch.Tensor:
        """``(M, F_kind)`` raw features -> standardised with the teaching image's statistics."""
        return (x.float() - self.mean[kind].to(x.device)) / self.std[kind].to(x.device)

    def gram(self, u: dict[str, torch.Tensor]) -> torch.Tensor:
        """``{kind: (M, F_kind)}`` standardised -> ``(M, N)`` kernel with the support."""
        grams = [kernel(u[k], self.support[k].to(u[k]), self.gamma) for k in self.features]
        return torch.stack(grams).mean(0)

    def correction(self, feats: ImageFeatures, upsample: Upsample, chunk_values: int = 1 << 22) -> torch.Tensor:
        """The logit correction on the image's full grid ``(1, K, H, W)``; ``upsample`` maps stride 4 to it.

        The pixel-feature kernel is evaluated on the stride-4 grid and its ``K``-channel result upsampled; the
        band kernel at full resolution, in row chunks of at most ``chunk_values`` kernel values (16 MiB).
        """
        k = self.alpha.shape[1]
        n_kinds = len(self.features)
        _, _, h, w = feats.bands.shape
        out = torch.zeros(1, k, h, w)
        alpha = self.alpha.float()
        if "pixels" in self.features:
            p = feats.pixels[0]
            u = self.standardise("pixels", p.flatten(1).T)
            low = (kernel(u, self.support["pixels"], self.gamma) @ alpha).T.reshape(1, k, *p.shape[-2:])
            out += upsample(low / n_kinds)[..., :h, :w]
        if "bands" in self.features:
            b = feats.bands[0]
            rows_per_chunk = max(1, chunk_values // max(w * alpha.shape[0], 1))
            for r0 in range(0, h, rows_per_chunk):
                chunk = b[:, r0 : r0 + rows_per_chunk].flatten(1).T
                d = kernel(self.standardise("bands", chunk), self.support["bands"], self.gamma) @ alpha
                out[0, :, r0 : r0 + rows_per_chunk] += (d.T / n_kinds).reshape(k, -1, w)
        return out

    def apply(self, scores: torch.Tensor, feats: ImageFeatures, upsample: Upsample) -> torch.Tensor:
        """Apply the head to zero-shot ``scores``.

        Returns taught scores ``g = softmax_k(a log f + correction)`` ``(1, K, H, W)``; ``scores`` as they
        are when nothing is taught.
        """
        if not self.taught:
            return scores
        z = self.prior_scale * torch.log(scores.float().clamp_min(EPS)) + self.correction(feats, upsample)
        return torch.softmax(z, dim=1)

    def logits_at(self, prior: torch.Tensor, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """Taught logits at a few pixels: ``(M, K)`` prior scores and raw ``{kind: (M, F)}`` -> ``(M, K)``."""
        u = {k: self.standardise(k, x[k]) for k in self.features}
        return self.prior_scale * torch.log(prior.float().clamp_min(EPS)) + self.gram(u) @ self.alpha.float()


def fit_head(
    x: dict[str, torch.Tensor],
    labels: np.ndarray | torch.Tensor,
    prior: torch.Tensor,
    classes: Sequence[str],
    *,
    stats: dict[str, tuple[torch.Tensor, torch.Tensor]],
    features: Sequence[str] = FEATURES,
    strength: float = DEFAULT_STRENGTH,
    gamma: float = DEFAULT_GAMMA,
    max_iter: int = 50,
    **provenance: Any,
) -> TaughtHead:
    """Fit the head on labelled pixels.

    Kernel logistic regression with the zero-shot map as offset (L-BFGS, deterministic)::

        min  sum_i -log softmax(a log f_i + K_i alpha)_{y_i} + strength/2 tr(alpha^T K alpha) + PRIOR_PENALTY/2 (a-1)^2

    Args:
        x: raw features of the labelled pixels, ``{kind: (N, F_kind)}`` (:meth:`ImageFeatures.at`).
        labels: ``(N,)`` class indices into ``classes``.
        prior: ``(N, K)`` zero-shot fused scores ``f`` at the pixels.
        classes: the ``K`` class names, aligned with the columns of ``prior``.
        stats: ``{kind: (mean, std)}`` of the features over the image (:attr:`ImageFeatures.stats`).
        features: the kinds the kernel reads (``"pixels"``, ``"bands"``).
        strength: the penalty on the correction (smaller: clicks move more).
        gamma: kernel width (larger: a click moves only pixels more like it).
        max_iter: iteration budget of the fit (L-BFGS-B runs at most ``4 * max_iter`` iterations).
        provenance: ``bands``, ``wavelengths``, ``model`` stored with the head.
    """
    for kind in features:
        if kind not in FEATURES:
            raise ValueError(f"unknown feature kind {kind!r}; choose from {FEATURES}")
    with torch.inference_mode(False), torch.enable_grad():  # callable from inference-mode code (the predictor)
        head = TaughtHead(
            tuple(classes), {}, torch.zeros(0, len(classes)), 1.0, gamma,
            {k: stats[k][0].clone() for k in features}, {k: stats[k][1].clone() for k in features},
            {}, tuple(features), strength=strength, **provenance,
        )
        head.support = {k: head.standardise(k, x[k].clone()) for k in features}
        _fit(head, labels, prior.clone(), max_iter)
        return head


def _fit(head: TaughtHead, labels: npt.ArrayLike, prior: torch.Tensor, max_iter: int) -> None:
    k = len(head.classes)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(-1)
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= k):
        raise TeachError(f"labels must index the {k} classes, got {sorted(set(y.tolist()))}")
    head.counts = {c: int((y == i).sum()) for i, c in enumerate(head.classes)}
    head.alpha = torch.zeros(len(y), k)
    if not y.numel():
        return
    gram = head.gram(head.support).double().numpy()
    log_prior = torch.log(prior.double().clamp_min(EPS)).numpy()
    taught = np.asarray([head.counts[c] > 0 for c in head.classes])
    alpha, a = solve(gram, log_prior, y.numpy(), taught, head.strength, max_iter)
    head.alpha = torch.from_numpy(alpha).float()
    head.prior_scale = max(a, 0.0)


def solve(gram: np.ndarray, log_prior: np.ndarray, y: np.ndarray, taught: np.ndarray, strength: float,
          max_iter: int = 50) -> tuple[np.ndarray, float]:
    """The fit's optimisation with its analytic gradient.

    L-BFGS-B, float64, deterministic; microseconds per step where autograd costs milliseconds.
    Returns ``alpha (N, K)`` (zero columns where not ``taught``), ``a``.

    With ``Z = a L + G A`` (``A = alpha`` on the taught columns), ``R = softmax(Z) - onehot(y)``:
    ``dJ/dA = G R + strength G A`` and ``dJ/da = sum(R * L) + PRIOR_PENALTY (a - 1)``.
    """
    from scipy.optimize import minimize

    n, k = log_prior.shape
    cols = np.flatnonzero(taught)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        amat = np.zeros((n, k))
        amat[:, cols] = theta[:-1].reshape(n, len(cols))
        a = theta[-1]
        ga = gram @ amat
        z = a * log_prior + ga
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        loss = -(logp * onehot).sum() + 0.5 * strength * (amat * ga).sum() + 0.5 * PRIOR_PENALTY * (a - 1) ** 2
        r = np.exp(logp) - onehot
        grad_a = (gram @ r + strength * ga)[:, cols]
        grad_scale = (r * log_prior).sum() + PRIOR_PENALTY * (a - 1)
        return float(loss), np.concatenate([grad_a.ravel(), [grad_scale]])

    theta0 = np.concatenate([np.zeros(n * len(cols)), [1.0]])
    with threadpool_limits(1):  # BLAS threads on these tiny products cost 25x (196 ms vs 7.5 ms a fit)
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": max_iter * 4, "gtol": 1e-6})
    alpha = np.zeros((n, k))
    alpha[:, cols] = res.x[:-1].reshape(n, len(cols))
    return alpha, float(res.x[-1])


def held_out_accuracy(
    x: dict[str, torch.Tensor],
    labels: np.ndarray,
    prior: torch.Tensor,
    classes: Sequence[str],
    *,
    stats: dict[str, tuple[torch.Tensor, torch.Tensor]],
    features: Sequence[str] = FEATURES,
    strength: float = DEFAULT_STRENGTH,
    gamma: float = DEFAULT_GAMMA,
    folds: int = 5,
    loo_below: int = 30,
) -> dict[str, Any]:
    """Honest accuracy of teaching: each point predicted by a head fitted without it.

    Leave-one-out up to ``loo_below`` points, else ``folds``-fold (fixed interleaved folds: deterministic).
    Returns ``{"n", "oa", "zero_shot_oa", "per_class": {name: {"n", "correct", "accuracy"}}}``.
    """
    y = np.asarray(labels)
    n = len(y)
    out: dict[str, Any] = {"n": n, "oa": math.nan, "zero_shot_oa": math.nan, "per_class": {}}
    if n == 0:
        return out
    groups = np.arange(n) if n <= loo_below else np.arange(n) % folds
    pred = np.empty(n, dtype=np.int64)
    for g in np.unique(groups):
        test = torch.as_tensor(groups == g)
        head = fit_head({k: v[~test] for k, v in x.items()}, y[~test.numpy()], prior[~test], classes, stats=stats,
                        features=features, strength=strength, gamma=gamma, max_iter=30)
        z = head.logits_at(prior[test], {k: v[test] for k, v in x.items()}) if head.taught else prior[test]
        pred[test.numpy()] = z.argmax(1).numpy()
    zero = prior.argmax(1).numpy()
    out["oa"] = float((pred == y).mean())
    out["zero_shot_oa"] = float((zero == y).mean())
    for i, c in enumerate(classes):
        sel = y == i
        if sel.any():
            correct = int((pred[sel] == i).sum())
            out["per_class"][c] = {"n": int(sel.sum()), "correct": correct, "accuracy": correct / int(sel.sum())}
    return out


def model_fingerprint(model: torch.nn.Module) -> str:
    """A short content hash of a model's weights (a taught head is only valid on the model it was fitted on)."""
    h = hashlib.blake2b(digest_size=8)
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().to(torch.float16).cpu().numpy().tobytes())
    return h.hexdigest()


# --- the taught prompt set ------------------------------------------------------------------------------
@dataclass(eq=False)
class Teaching:
    """What a taught prompt set carries in ``PromptSet.extra["teaching"]``: the head, its points and CRS."""

    head: TaughtHead
    points: tuple[Point, ...]
    crs: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """For map metadata: taught, points per class, settings, model fingerprint and a digest of the head."""
        return {"taught": self.head.taught, "points": dict(self.head.counts), "strength": self.head.strength,
                "gamma": self.head.gamma, "features": list(self.head.features), "model": self.head.model,
                "crs": self.crs, "head_digest": self.head.digest()}


def check_compatible(head: TaughtHead, classes: Sequence[str], bands: Sequence[str],
                     wavelengths: Sequence[float], model: str) -> None:
    """Refuse a head on another prompt list, band set or model (a silently wrong map otherwise)."""
    if tuple(classes) != head.classes:
        raise TeachError(f"the teaching was fitted for classes {list(head.classes)}, the prompts are {list(classes)};"
                         " teach again after editing the classes")
    if "bands" in head.features and (tuple(bands) != head.bands or not np.allclose(wavelengths, head.wavelengths,
                                                                                  atol=1e-3)):
        raise TeachError(f"the teaching was fitted on bands {list(head.bands)}, this image has {list(bands)}; "
                         "use an image with the same bands (or teach on this one)")
    if head.model and model and head.model != model:
        raise TeachError(f"the teaching was fitted with model {head.model}, this predictor's model is {model}; "
                         "load the model it was taught with (see the prompt set's teaching.model) or teach again")


def save_taught(prompts: PromptSet, path: str | Path) -> Path:
    """Write a taught prompt set.

    Writes the YAML (classes + ``teaching:`` points, CRS, counts, provenance) and a
    safetensors sidecar ``<stem>.safetensors`` with the head (no pickle). Both written atomically.
    """
    import yaml
    from safetensors.torch import save as st_save

    from lslib.atomic import write_bytes, write_text

    teaching = teaching_of(prompts)
    if teaching is None:
        raise TeachError("this prompt set is not taught: use Predictor.adapt(prompts, points) first")
    path = Path(path)
    head = teaching.head
    tensors = {"alpha": head.alpha.float().contiguous(),
               "prior_scale": torch.tensor([head.prior_scale], dtype=torch.float32)}
    for kind in head.features:
        tensors[f"support.{kind}"] = head.support[kind].float().contiguous()
        tensors[f"mean.{kind}"] = head.mean[kind].float().contiguous()
        tensors[f"std.{kind}"] = head.std[kind].float().contiguous()
    blob = st_save(tensors, metadata={"format": str(SIDECAR_FORMAT), "classes": "\n".join(head.classes)})
    sidecar = path.with_suffix(".safetensors")
    write_bytes(sidecar, blob)
    doc = prompts.to_dict()
    doc["teaching"] = {
        "format": SIDECAR_FORMAT,
        "head": sidecar.name,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "model": head.model,
        "features": list(head.features),
        "bands": list(head.bands),
        "wavelengths": [float(v) for v in head.wavelengths],
        "strength": head.strength,
        "gamma": head.gamma,
        "counts": dict(head.counts),
        "crs": teaching.crs,
        "points": [{"x": p.x, "y": p.y, "class": p.name} for p in teaching.points],
    }
    return write_text(path, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


_LOADED: dict[tuple[str, str], Teaching] = {}


def teaching_of(prompts: PromptSet) -> Teaching | None:
    """The :class:`Teaching` of a prompt set (loaded from its sidecar when read from YAML), or None."""
    raw = prompts.extra.get("teaching") if getattr(prompts, "extra", None) else None
    if raw is None or isinstance(raw, Teaching):
        return raw
    return _load_teaching(raw, Path(prompts.extra.get("path", ".")), tuple(prompts.names))


def _load_teaching(doc: object, yaml_path: Path, classes: tuple[str, ...]) -> Teaching:
    from safetensors.torch import load as st_load

    where = yaml_path.name
    if not isinstance(doc, dict) or not isinstance(doc.get("head"), str):
        raise TeachError(f"{where}: 'teaching' must be a mapping naming its 'head' sidecar")
    if doc.get("format") != SIDECAR_FORMAT:
        raise TeachError(f"{where}: teaching format {doc.get('format')!r} is not {SIDECAR_FORMAT}; teach again")
    sidecar = yaml_path.parent / Path(doc["head"]).name  # never outside the YAML's folder
    if not sidecar.exists():
        raise TeachError(f"{where}: the teaching head {sidecar.name} is missing; keep it beside the YAML")
    blob = sidecar.read_bytes()
    if hashlib.sha256(blob).hexdigest() != doc.get("sha256"):
        raise TeachError(f"{where}: {sidecar.name} does not match the sha256 in the YAML (edited or replaced)")
    key = (str(sidecar.resolve()), str(doc.get("sha256")))
    if key in _LOADED and _LOADED[key].head.classes == classes:
        return _LOADED[key]
    t = st_load(blob)
    k = len(classes)
    features = tuple(str(f) for f in doc.get("features") or FEATURES)
    if set(features) - set(FEATURES) or any(f"support.{f}" not in t for f in features):
        raise TeachError(f"{where}: the head's features {list(features)} do not match its sidecar; teach again")
    if t["alpha"].ndim != 2 or t["alpha"].shape[1] != k or any(
        t[f"support.{f}"].shape[0] != t["alpha"].shape[0] for f in features
    ):
        raise TeachError(f"{where}: the head has {t['alpha'].shape[-1]} classes, the prompt set {k}; teach again")
    counts = doc.get("counts") or {}
    if not isinstance(counts, dict) or set(map(str, counts)) - set(classes):
        raise TeachError(f"{where}: teaching counts name classes not in the prompt set: {sorted(counts)}")
    points = []
    for i, p in enumerate(doc.get("points") or []):
        if not isinstance(p, dict) or not {"x", "y", "class"} <= set(p):
            raise TeachError(f"{where}: teaching point {i + 1} must have x, y and class")
        points.append(Point(float(p["x"]), float(p["y"]), str(p["class"])))
    head = TaughtHead(
        classes, {f: t[f"support.{f}"] for f in features}, t["alpha"], float(t["prior_scale"][0]),
        float(doc.get("gamma", DEFAULT_GAMMA)), {f: t[f"mean.{f}"] for f in features},
        {f: t[f"std.{f}"] for f in features}, {c: int(counts.get(c, 0)) for c in classes}, features=features,
        bands=tuple(map(str, doc.get("bands") or ())),
        wavelengths=tuple(float(v) for v in doc.get("wavelengths") or ()),
        model=str(doc.get("model") or ""), strength=float(doc.get("strength", DEFAULT_STRENGTH)),
    )
    teaching = Teaching(head, tuple(points), doc.get("crs"))
    _LOADED[key] = teaching
    return teaching

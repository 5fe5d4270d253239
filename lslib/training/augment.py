"""Augmentations of LandSegmenter training batches: what makes a model trained on a few sensors generalise.

Applied to a collated batch (:func:`lslib.training.dataset.collate`: one subset, one band set, one size)
by :func:`augment_batch`, in this order, each family switched by :class:`~lslib.training.config.AugmentConfig`:

1. **spectral views** (multispectral optical chips): the batch is seen as RGB only, RGBN, a random band
   subset that keeps RGB, or all bands (``view_probs``); an RGB(N) view is rendered with probability
   ``display_prob`` as an 8-bit *display* image (2-98 % stretch, random gamma, quantised to 256 levels,
   /255), so users with RGB photos and orthos get a model that has seen them;
2. **scale jitter** (random resized crop, GSD jitter): a factor ``f`` log-uniform in ``scale_range``; the
   chip is seen at ``f`` x its native GSD: ``f < 1`` crops a window of ``H*f`` pixels and enlarges it to
   ``H`` (finer GSD), ``f > 1`` shrinks the whole chip to ``H/f`` pixels (coarser GSD); one factor per
   batch (the batch must stack), images area/bilinear-resampled, labels and masks nearest;
3. **geometric**: one of the 8 flips / 90° rotations per chip;
4. **radiometric**, per chip and band: gain (contrast about the band mean), gamma, additive haze that
   decreases with wavelength, Gaussian noise; SAR: a dB offset and speckle-like noise.

The model's per-image robust stretch (:func:`lslib.model.spectral_adapter.normalise_bands`) undoes
global gains, so what the radiometric family teaches is the *non-linear* part: gamma, haze, noise,
per-band imbalance. Everything is a pure function of the ``numpy.random.Generator`` passed in (the
trainer derives it from (seed, epoch, batch index)), so a resumed run sees the same augmented batches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from lslib.model.spectral_adapter import SAR_MIN_WAVELENGTH_UM

#: central wavelengths (µm) of the view bands and how far a band may be from them
VIEW_BANDS_UM = {"blue": 0.49, "green": 0.56, "red": 0.665, "nir": 0.842}
_TOLERANCE_UM = 0.06
_MIN_SIDE = 32


def view_indices(wavelengths_um: torch.Tensor, names: tuple[str, ...]) -> list[int] | None:
    """Indices of the bands nearest to ``names`` (keys of :data:`VIEW_BANDS_UM`); None if one is missing."""
    waves = wavelengths_um.tolist()
    out = []
    for name in names:
        target = VIEW_BANDS_UM[name]
        dist = [abs(w - target) for w in waves]
        i = int(np.argmin(dist))
        if dist[i] > _TOLERANCE_UM or i in out:
            return None
        out.append(i)
    return out


def _select_bands(batch: dict[str, Any], idx: list[int]) -> None:
    batch["image"] = batch["image"][:, idx]
    batch["wavelengths"] = batch["wavelengths"][idx]
    batch["band_names"] = [batch["band_names"][i] for i in idx]


def display_render(image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """An 8-bit display rendering of ``(B, C, H, W)`` reflectance.

    Per image one 2-98 % stretch over all
    bands (as photo/ortho exports do), a random gamma in [0.7, 1.4], quantised to 256 levels, /255.
    NaN stays NaN.
    """
    out = torch.empty_like(image)
    for b in range(image.shape[0]):
        x = image[b]
        finite = x[torch.isfinite(x)]
        if finite.numel() == 0:
            out[b] = x
            continue
        lo, hi = torch.quantile(finite[:: max(1, finite.numel() // 65536)], torch.tensor([0.02, 0.98])).tolist()
        gamma = float(math.exp(rng.uniform(math.log(0.7), math.log(1.4))))
        y = ((x - lo) / max(hi - lo, 1e-6)).clamp(0, 1) ** gamma
        out[b] = torch.where(torch.isfinite(x), torch.round(y * 255) / 255, x)
    return out


def spectral_view(batch: dict[str, Any], rng: np.random.Generator, cfg: Any) -> str:
    """Choose and apply a spectral view in place; returns its name (``full`` when the chip can't have it)."""
    waves = batch["wavelengths"]
    if bool((waves >= SAR_MIN_WAVELENGTH_UM).any()) or waves.numel() < 4:
        return "full"
    probs = np.asarray(cfg.view_probs, dtype=np.float64)
    view = ("rgb", "rgbn", "subset", "full")[int(rng.choice(4, p=probs / probs.sum()))]
    if view == "full":
        return view
    rgb = view_indices(waves, ("red", "green", "blue"))
    if rgb is None:
        return "full"
    if view == "subset":
        others = [i for i in range(waves.numel()) if i not in rgb]
        keep = sorted(rgb + [i for i in others if rng.random() < 0.5])
        _select_bands(batch, keep)
        return view
    idx = rgb if view == "rgb" else view_indices(waves, ("red", "green", "blue", "nir"))
    if idx is None:
        return "full"
    _select_bands(batch, idx)
    if rng.random() < cfg.display_prob:
        batch["image"] = display_render(batch["image"], rng)
        return f"{view}-display"
    return view


def _resize_image(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resample ``(B, C, H, W)`` with NaN nodata: NaN where the resampled nodata share exceeds 0.5."""
    nan = ~torch.isfinite(x)
    filled = torch.where(nan, torch.zeros((), dtype=x.dtype), x)
    kwargs: dict[str, Any] = {} if mode == "area" else {"align_corners": False}
    out = F.interpolate(filled, size=size, mode=mode, **kwargs)
    share = F.interpolate(nan.float(), size=size, mode=mode, **kwargs)
    weight = (1 - share).clamp_min(1e-6)
    out = out / weight  # renormalise the partly-nodata neighbourhoods
    return torch.where(share > 0.5, torch.full_like(out, float("nan")), out)


def _nearest(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    dtype = x.dtype
    y = F.interpolate(x.float().unsqueeze(1) if x.ndim == 3 else x.float(), size=size, mode="nearest")
    y = y.squeeze(1) if x.ndim == 3 else y
    return y.to(dtype)


def scale_jitter(batch: dict[str, Any], rng: np.random.Generator, scale_range: tuple[float, float]) -> float:
    """Random resized crop with GSD factor ``f`` (log-uniform in ``scale_range``), in place; returns ``f``."""
    lo, hi = scale_range
    f = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    h, w = batch["image"].shape[-2:]
    if f < 1.0:
        ch, cw = max(_MIN_SIDE, round(h * f)), max(_MIN_SIDE, round(w * f))
        if ch >= h and cw >= w:
            return 1.0
        r0, c0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = (slice(r0, r0 + ch), slice(c0, c0 + cw))
        size = (h, w)
        batch["image"] = _resize_image(batch["image"][..., crop[0], crop[1]], size, "bilinear")
        for key in ("label", "valid", "targets"):
            batch[key] = _nearest(batch[key][..., crop[0], crop[1]], size)
        return f
    size = (max(_MIN_SIDE, round(h / f)), max(_MIN_SIDE, round(w / f)))
    if size[0] >= h and size[1] >= w:
        return 1.0
    batch["image"] = _resize_image(batch["image"], size, "area")
    for key in ("label", "valid", "targets"):
        batch[key] = _nearest(batch[key], size)
    return f


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 symmetries of the square on the last two dims: ``k // 4`` flips, ``k % 4`` quarter turns."""
    if k >= 4:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, k % 4, dims=(-2, -1))


def geometric(batch: dict[str, Any], rng: np.random.Generator) -> list[int]:
    """One dihedral transform per chip (square chips; non-square chips only flip), in place."""
    h, w = batch["image"].shape[-2:]
    ks = []
    for b in range(batch["image"].shape[0]):
        k = int(rng.integers(8)) if h == w else int(rng.choice([0, 2, 4, 6]))
        ks.append(k)
        for key in ("image", "label", "valid", "targets"):
            batch[key][b] = dihedral(batch[key][b], k)
    return ks


def radiometric(batch: dict[str, Any], rng: np.random.Generator) -> None:
    """Per chip and band: contrast gain, gamma, haze, noise (optical); dB offset and noise (SAR); in place."""
    image = batch["image"]
    b, c = image.shape[:2]
    waves = batch["wavelengths"].to(torch.float32).view(1, c, 1, 1)
    sar = waves >= SAR_MIN_WAVELENGTH_UM
    finite = torch.isfinite(image)
    x = torch.where(finite, image, torch.zeros((), dtype=image.dtype))
    n = finite.sum((-2, -1), keepdim=True).clamp_min(1)
    mean = x.sum((-2, -1), keepdim=True) / n
    std = (torch.where(finite, x - mean, torch.zeros(())) ** 2).sum((-2, -1), keepdim=True).div(n).sqrt()

    def draw(lo: float, hi: float) -> torch.Tensor:  # log-uniform per (chip, band)
        return torch.from_numpy(np.exp(rng.uniform(math.log(lo), math.log(hi), (b, c, 1, 1))).astype(np.float32))

    gain, gamma = draw(0.85, 1.18), draw(0.8, 1.25)
    hazy = rng.uniform(0.0, 0.06, (b, 1, 1, 1)) * (rng.random((b, 1, 1, 1)) < 0.3)  # haze on 30 % of chips
    haze = torch.from_numpy(hazy.astype(np.float32))
    noise_sd = torch.from_numpy(rng.uniform(0.0, 0.05, (b, c, 1, 1)).astype(np.float32)) * std
    noise = torch.from_numpy(rng.standard_normal(image.shape, dtype=np.float32))
    y = mean + (x - mean) * gain
    y = torch.sign(y) * y.abs() ** gamma
    y = y + haze * (0.49 / waves.clamp_min(0.3)) ** 2 + noise * noise_sd
    offset_db = torch.from_numpy(rng.normal(0.0, 1.0, (b, c, 1, 1)).astype(np.float32))
    y_sar = x + offset_db + noise * 0.5
    y = torch.where(sar, y_sar, y)
    batch["image"] = torch.where(finite, y.to(image.dtype), image)


def augment_batch(batch: dict[str, Any], cfg: Any, rng: np.random.Generator) -> dict[str, Any]:
    """Augment a collated batch (a shallow copy; tensors replaced, never modified in place) as ``cfg`` says.

    ``cfg``: an :class:`~lslib.training.config.AugmentConfig`. Returns the batch with ``augment`` added: a
    dict of what was applied (view, scale factor, dihedral codes) for logging and tests.
    """
    out = dict(batch)
    for key in ("image", "label", "valid", "targets"):
        out[key] = batch[key].clone()
    applied: dict[str, Any] = {}
    if not cfg.enabled:
        out["augment"] = applied
        return out
    if cfg.spectral_views:
        applied["view"] = spectral_view(out, rng, cfg)
    if cfg.scale_jitter:
        applied["scale"] = scale_jitter(out, rng, tuple(cfg.scale_range))
    if cfg.geometric:
        applied["dihedral"] = geometric(out, rng)
    if cfg.radiometric and not str(applied.get("view", "")).endswith("display"):
        radiometric(out, rng)
    out["valid"] = out["valid"] & torch.isfinite(out["image"]).any(dim=1)
    if "presence" in out:  # a crop may lose a present class: presence follows what is left in view
        seen = (out["targets"] > 0.5) & out["valid"][:, None]
        out["presence"] = batch["presence"] * seen.flatten(2).any(-1).float()
    out["augment"] = applied
    return out

"""Closed-set CNN baseline: a tiny U-Net with a fixed class head (no text), trained on weak labels.

See :mod:`lslib.training.baselines.forest` for the protocol (shared pieces: :mod:`lslib.training.baselines.common`);
saved as safetensors + JSON (nothing pickled).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lslib.atomic import atomic_path, write_text
from lslib.taxonomy import get_taxonomy
from lslib.training.baselines.common import check_bands, pixel_features, read_config, subset_indices
from lslib.training.dataset import LASDataset

Array = npt.NDArray[Any]


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
        self,
        dataset: LASDataset,
        *,
        subset: str,
        steps: int = 300,
        batch_size: int = 8,
        lr: float = 1e-3,
        seed: int = 0,
    ) -> ClosedSetNet:
        """Train on ``subset``'s chips with cross-entropy over valid pixels.

        Batches of ``batch_size`` chips of one size (drawn with replacement, randomly flipped/rotated);
        AdamW with cosine decay; class weights ∝ 1/sqrt(pixel share) (clipped to [0.2, 5] of the mean) so
        that rare classes are learnt. All chips of the subset are held in memory as features.
        """
        start = time.perf_counter()
        indices = subset_indices(dataset, subset)
        rec = dataset.records[indices[0]]
        self.taxonomy, self.band_names, self.band_wavelengths = rec.taxonomy, rec.bands, rec.wavelengths_um
        feats, labels = [], []
        for i in indices:
            item = dataset[i]
            feats.append(torch.from_numpy(pixel_features(item["image"], item["wavelengths"])[0]))
            labels.append(torch.where(item["valid"], item["label"], -1))
        pixels = torch.cat([f.flatten(1)[:, (lab >= 0).flatten()] for f, lab in zip(feats, labels, strict=True)], 1)
        if pixels.shape[1] == 0:
            raise ValueError(f"no valid labelled pixels in the chips of subset {subset!r}")
        self.mean, self.std = pixels.mean(1), pixels.std(1).clamp_min(1e-6)
        seen = set(torch.cat([lab.flatten() for lab in labels]).unique().tolist())
        self.classes = tuple(c for c in get_taxonomy(self.taxonomy).codes if c in seen)
        lut = torch.full((max(self.classes) + 1,), -1, dtype=torch.long)  # product code -> head index
        lut[torch.tensor(self.classes)] = torch.arange(len(self.classes))
        groups: dict[tuple[int, int], tuple[list[Tensor], list[Tensor]]] = {}
        for f, lab in zip(feats, labels, strict=True):
            xs, ys = groups.setdefault((lab.shape[0], lab.shape[1]), ([], []))
            xs.append((f - self.mean[:, None, None]) / self.std[:, None, None])
            ys.append(torch.where(lab >= 0, lut[lab.clamp_min(0)], -1))
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
        check_bands("ClosedSetNet", self.band_wavelengths, wavelengths)
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
        doc = read_config(folder, "closed_set_net")
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



"""Training augmentations: hand-checked transforms, label/image alignment, determinism, views, sampling."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch

from lslib.data.bands import wavelengths
from lslib.training.augment import augment_batch, dihedral, display_render, scale_jitter, spectral_view, view_indices
from lslib.training.config import AugmentConfig

S2 = torch.tensor(wavelengths("sentinel2_l2a"), dtype=torch.float32)
ON = AugmentConfig(enabled=True)
ONLY_GEOMETRY = replace(ON, scale_jitter=False, radiometric=False, spectral_views=False)


def _batch(b: int = 2, size: int = 32, waves: torch.Tensor = S2, codes: tuple[int, ...] = (1, 2, 3)) -> dict[str, Any]:
    """Band 0 carries the label code, so alignment after any geometry can be checked pixel by pixel."""
    g = torch.Generator().manual_seed(0)
    label = torch.randint(1, 4, (b, size, size), generator=g)
    image = torch.rand(b, waves.numel(), size, size, generator=g) * 0.3
    image[:, 0] = label.float() / 10
    targets = torch.stack([(label == c).float() for c in codes], dim=1)
    return {
        "image": image, "wavelengths": waves, "band_names": [f"b{i}" for i in range(waves.numel())],
        "label": label, "valid": torch.ones(b, size, size, dtype=torch.bool), "targets": targets,
        "presence": targets.flatten(2).amax(-1), "class_mask": torch.ones(b, len(codes), dtype=torch.bool),
    }  # fmt: skip


def test_dihedral_is_the_group_of_the_square() -> None:
    x = torch.arange(4.0).view(2, 2)  # [[0, 1], [2, 3]]
    outs = {tuple(dihedral(x, k).flatten().tolist()) for k in range(8)}
    assert len(outs) == 8  # eight distinct symmetries
    assert dihedral(x, 1).tolist() == [[1.0, 3.0], [0.0, 2.0]]  # a quarter turn counter-clockwise
    assert dihedral(x, 4).tolist() == [[1.0, 0.0], [3.0, 2.0]]  # a left-right flip


def test_disabled_is_identity_and_never_modifies_the_input() -> None:
    batch = _batch()
    before = batch["image"].clone()
    out = augment_batch(batch, AugmentConfig(enabled=False), np.random.default_rng(0))
    assert torch.equal(out["image"], before) and out["augment"] == {}
    augment_batch(batch, ON, np.random.default_rng(0))
    assert torch.equal(batch["image"], before)


def test_geometry_keeps_image_label_and_targets_aligned() -> None:
    for seed in range(6):
        out = augment_batch(_batch(), ONLY_GEOMETRY, np.random.default_rng(seed))
        torch.testing.assert_close(out["image"][:, 0] * 10, out["label"].float())
        for k, code in enumerate((1, 2, 3)):
            assert torch.equal(out["targets"][:, k] > 0.5, out["label"] == code)


@pytest.mark.parametrize("lo_hi", [(0.5, 0.6), (1.7, 2.0)])
def test_scale_jitter_changes_gsd_and_keeps_labels_consistent(lo_hi: tuple[float, float]) -> None:
    batch = _batch(size=64)
    f = scale_jitter(batch, np.random.default_rng(1), lo_hi)
    h = batch["image"].shape[-1]
    if f < 1:
        assert h == 64  # a window of 64 * f pixels enlarged back to 64: finer GSD
    else:
        assert h == round(64 / f) < 64  # the chip shrunk: coarser GSD
    assert batch["label"].shape[-1] == batch["targets"].shape[-1] == batch["valid"].shape[-1] == h
    for k, code in enumerate((1, 2, 3)):
        assert torch.equal(batch["targets"][:, k] > 0.5, batch["label"] == code)


def test_presence_follows_what_a_crop_keeps() -> None:
    batch = _batch(b=1, size=64, codes=(1, 9))  # code 9 is absent; make class 1 live in one corner only
    batch["label"][:] = 2
    batch["label"][0, :20, :20] = 1
    batch["targets"] = torch.stack([(batch["label"] == c).float() for c in (1, 9)], dim=1)
    batch["presence"] = torch.tensor([[1.0, 0.0]])
    cfg = replace(ON, spectral_views=False, geometric=False, radiometric=False, scale_range=(0.5, 0.5))
    seen = [augment_batch(batch, cfg, np.random.default_rng(s))["presence"][0].tolist() for s in range(30)]
    assert [0.0, 0.0] in seen and [1.0, 0.0] in seen  # lost when the crop misses the corner, kept otherwise


def test_views_pick_bands_by_wavelength_and_display_is_8bit() -> None:
    assert view_indices(S2, ("red", "green", "blue", "nir")) == [3, 2, 1, 7]  # B04, B03, B02, B08
    assert view_indices(torch.tensor([5.55e4, 5.55e4]), ("red",)) is None  # SAR has no RGB
    names = Counter()
    for seed in range(40):
        batch = _batch()
        names[spectral_view(batch, np.random.default_rng(seed), ON)] += 1
        assert batch["image"].shape[1] == batch["wavelengths"].numel() == len(batch["band_names"])
    assert {"rgb", "rgbn", "subset", "full"} <= {n.removesuffix("-display") for n in names}
    assert any(n.endswith("-display") for n in names)
    shown = display_render(torch.rand(1, 3, 16, 16) * 0.3, np.random.default_rng(0))
    assert shown.min() >= 0 and shown.max() <= 1
    torch.testing.assert_close(shown * 255, torch.round(shown * 255))


def test_sar_keeps_its_bands_and_nodata_stays_invalid() -> None:
    batch = _batch(waves=torch.tensor([5.55e4, 5.55e4]))
    batch["image"] = batch["image"] * -60  # dB
    batch["image"][0, :, :5, :5] = float("nan")
    out = augment_batch(batch, ON, np.random.default_rng(3))
    assert out["image"].shape[1] == 2 and out["augment"]["view"] == "full"
    assert not bool(out["valid"][~torch.isfinite(out["image"]).all(1)].any())


def test_same_generator_same_batch() -> None:
    a = augment_batch(_batch(), ON, np.random.default_rng(7))
    b = augment_batch(_batch(), ON, np.random.default_rng(7))
    assert a["augment"] == b["augment"]
    torch.testing.assert_close(a["image"], b["image"], equal_nan=True)

"""Training losses: 2x2 examples computed on paper, masking, gradients, label smoothing, alignment."""

from __future__ import annotations

import math

import pytest
import torch

from lslib.training.losses import (
    LossWeights,
    alignment_loss,
    dice_loss,
    mask_loss,
    pixel_loss,
    presence_loss,
    presence_targets,
    total_loss,
)

LN2, LN43, LN3 = math.log(2.0), math.log(4.0 / 3.0), math.log(3.0)


def _example() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """B=1, K=1, 2x2: logits [[0, ln3], [-ln3, 0]] -> p = [[.5, .75], [.25, .5]]; targets [[1, 1], [0, 0]]."""
    logits = torch.tensor([[[[0.0, LN3], [-LN3, 0.0]]]], requires_grad=True)
    targets = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    valid = torch.ones(1, 2, 2, dtype=torch.bool)
    class_mask = torch.ones(1, 1, dtype=torch.bool)
    return logits, targets, valid, class_mask


def test_bce_hand_value() -> None:
    logits, targets, valid, class_mask = _example()
    # per pixel -log p_t: (0,0) p=.5,y=1 -> ln2; (0,1) p=.75,y=1 -> ln(4/3);
    # (1,0) p=.25,y=0 -> -ln(.75) = ln(4/3); (1,1) p=.5,y=0 -> ln2.  mean = (2 ln2 + 2 ln(4/3)) / 4
    expected = (2 * LN2 + 2 * LN43) / 4  # = ln(8/3) / 2 = 0.49041
    got = pixel_loss(logits, targets, valid, class_mask, kind="bce")
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(math.log(8 / 3) / 2)


def test_focal_hand_value_and_gamma0_equals_bce() -> None:
    logits, targets, valid, class_mask = _example()
    # p_t = [.5, .75, .75, .5] -> (1 - p_t)^2 = [.25, .0625, .0625, .25]
    # focal = (.25 ln2 + .0625 ln(4/3) + .0625 ln(4/3) + .25 ln2) / 4 = .125 ln2 + .03125 ln(4/3)
    expected = 0.125 * LN2 + 0.03125 * LN43  # = 0.095634
    focal = pixel_loss(logits, targets, valid, class_mask, kind="focal", gamma=2.0)
    assert focal.item() == pytest.approx(expected, rel=1e-6)
    g0 = mask_loss(logits, targets, valid, class_mask, kind="focal", gamma=0.0, dice_weight=0.0)
    bce = mask_loss(logits, targets, valid, class_mask, kind="bce", dice_weight=0.0)
    assert g0.item() == pytest.approx(bce.item(), rel=1e-7)
    # and random soft targets on a bigger batch
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 3, 4, 5, generator=g), torch.rand(2, 3, 4, 5, generator=g)
    v, c = torch.rand(2, 4, 5, generator=g) > 0.3, torch.tensor([[True, True, False], [True, True, True]])
    assert pixel_loss(x, y, v, c, kind="focal", gamma=0.0).item() == pytest.approx(
        pixel_loss(x, y, v, c, kind="bce").item(), rel=1e-6
    )


def test_alpha_hand_value() -> None:
    logits, targets, valid, class_mask = _example()
    # alpha_t = .25 on y=1 pixels, .75 on y=0: (.25 ln2 + .25 ln(4/3) + .75 ln(4/3) + .75 ln2) / 4 = (ln2 + ln(4/3)) / 4
    got = pixel_loss(logits, targets, valid, class_mask, kind="bce", alpha=0.25)
    assert got.item() == pytest.approx((LN2 + LN43) / 4, rel=1e-6)


def test_dice_and_mask_loss_hand_value() -> None:
    logits, targets, valid, class_mask = _example()
    # sum p y = .5 + .75 = 1.25; sum p = .5 + .75 + .25 + .5 = 2; sum y = 2 -> Dice = 1 - 2 * 1.25 / 4 = 0.375
    assert dice_loss(logits, targets, valid, class_mask).item() == pytest.approx(0.375, rel=1e-6)
    got = mask_loss(logits, targets, valid, class_mask, kind="bce", dice_weight=2.0)
    assert got.item() == pytest.approx((2 * LN2 + 2 * LN43) / 4 + 2 * 0.375, rel=1e-6)


def test_invalid_pixels_and_padding_classes_do_not_change_the_loss() -> None:
    logits, targets, valid, class_mask = _example()
    valid = valid.clone()
    valid[0, 1, 1] = False
    # without pixel (1,1): BCE = (ln2 + 2 ln(4/3)) / 3; Dice: sum py = 1.25, sum p = 1.5, sum y = 2 -> 1 - 2.5/3.5 = 2/7
    expected = (LN2 + 2 * LN43) / 3 + 2 / 7
    base = mask_loss(logits, targets, valid, class_mask, kind="bce")
    assert base.item() == pytest.approx(expected, rel=1e-6)
    # garbage at the invalid pixel and in a padding class changes nothing (not even NaN leaks in)
    x = torch.cat([logits.detach(), torch.full_like(logits.detach(), 7.0)], dim=1)
    x[0, 0, 1, 1] = float("nan")
    x[0, 1, 0, 0] = float("nan")
    x.requires_grad_(True)
    y = torch.cat([targets, torch.ones_like(targets)], dim=1)
    y[0, 0, 1, 1] = 5.0
    c = torch.tensor([[True, False]])
    for kind in ("bce", "focal"):
        ref = mask_loss(logits, targets, valid, class_mask, kind=kind)
        got = mask_loss(x, y, valid, c, kind=kind)
        assert got.item() == pytest.approx(ref.item(), rel=1e-6)
    got.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad[0, 1].abs().sum() == 0 and x.grad[0, 0, 1, 1] == 0


def test_dice_skips_classes_absent_from_the_image() -> None:
    logits, targets, valid, _ = _example()
    # class 2: absent (targets 0), logits 0 -> BCE ln2 at its 4 pixels, Dice skipped (0/0 if it predicted nothing)
    x = torch.cat([logits.detach(), torch.zeros_like(logits.detach())], dim=1)
    y = torch.cat([targets, torch.zeros_like(targets)], dim=1)
    c = torch.ones(1, 2, dtype=torch.bool)
    # pixel term: (2 ln2 + 2 ln(4/3) + 4 ln2) / 8; Dice over class 1 only: 0.375
    expected = (6 * LN2 + 2 * LN43) / 8 + 0.375
    assert mask_loss(x, y, valid, c, kind="bce").item() == pytest.approx(expected, rel=1e-6)


def test_no_valid_pixel_gives_zero_with_grad() -> None:
    logits, targets, _, class_mask = _example()
    none = torch.zeros(1, 2, 2, dtype=torch.bool)
    loss = mask_loss(logits, targets, none, class_mask)
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert logits.grad is not None and (logits.grad == 0).all()
    assert mask_loss(logits, targets, torch.ones(1, 2, 2, dtype=torch.bool), torch.zeros(1, 1, dtype=torch.bool)) == 0


def test_gradients_flow_and_have_the_right_sign() -> None:
    logits, targets, valid, class_mask = _example()
    mask_loss(logits, targets, valid, class_mask).backward()
    assert logits.grad is not None
    # positives pushed up (negative gradient), negatives pushed down
    assert (logits.grad[0, 0][targets[0, 0] == 1] < 0).all()
    assert (logits.grad[0, 0][targets[0, 0] == 0] > 0).all()
    # BCE gradient per pixel is (p - y) / N: at (0,0) (0.5 - 1) / 4 = -0.125
    x = logits.detach().clone().requires_grad_(True)
    pixel_loss(x, targets, valid, class_mask, kind="bce").backward()
    assert x.grad is not None
    assert x.grad[0, 0, 0, 0].item() == pytest.approx(-0.125)


def test_label_smoothing_moves_the_optimum() -> None:
    # one positive pixel; eps = 0.2 -> target 0.9, so d/dx BCE = sigmoid(x) - 0.9 = 0 at x = ln 9
    valid, c, y = torch.ones(1, 1, 1, dtype=torch.bool), torch.ones(1, 1, dtype=torch.bool), torch.ones(1, 1, 1, 1)
    x = torch.full((1, 1, 1, 1), math.log(9.0), requires_grad=True)
    smoothed = mask_loss(x, y, valid, c, kind="bce", dice_weight=0.0, label_smoothing=0.2)
    smoothed.backward()
    assert x.grad is not None and abs(x.grad.item()) < 1e-6
    # value there = entropy of Bernoulli(0.9) = -(0.9 ln 0.9 + 0.1 ln 0.1) = 0.325083
    assert smoothed.item() == pytest.approx(-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)), rel=1e-5)
    x.grad = None
    mask_loss(x, y, valid, c, kind="bce", dice_weight=0.0).backward()
    assert x.grad is not None and x.grad.item() == pytest.approx(0.9 - 1.0, abs=1e-6)  # still pushing up
    # the minimiser over a grid of logits is ln 9 (= 2.197) with smoothing, the largest logit without
    grid = torch.linspace(-6, 6, 1201).reshape(1, 1, 1, -1)
    ok = torch.ones(1, 1, 1201, dtype=torch.bool)
    per = [
        pixel_loss(grid[..., i : i + 1], y, ok[..., :1], c, kind="bce", label_smoothing=0.2).item()
        for i in range(0, 1201, 10)
    ]
    best = grid.flatten()[::10][int(torch.tensor(per).argmin())].item()
    assert best == pytest.approx(math.log(9.0), abs=0.06)


def test_presence_loss_hand_value_and_padding() -> None:
    logits = torch.tensor([[0.0, LN3, 5.0]], requires_grad=True)
    presence = torch.tensor([[1.0, 0.0, 1.0]])
    c = torch.tensor([[True, True, False]])
    # BCE(0, 1) = ln2; BCE(ln3, 0) = -ln(1 - .75) = ln4; padding ignored -> (ln2 + ln4) / 2 = 1.5 ln2
    loss = presence_loss(logits, presence, c)
    assert loss.item() == pytest.approx(1.5 * LN2, rel=1e-6)
    loss.backward()
    assert logits.grad is not None and logits.grad[0, 2] == 0
    assert presence_loss(logits, presence, torch.zeros_like(c)).item() == 0.0


def test_presence_targets() -> None:
    y = torch.zeros(1, 3, 2, 2)
    y[0, 0, 0, 0] = 1  # valid hit
    y[0, 1, 1, 1] = 1  # only at an invalid pixel
    valid = torch.tensor([[[True, True], [True, False]]])
    c = torch.tensor([[True, True, False]])
    assert presence_targets(y, valid, c).tolist() == [[1.0, 0.0, 0.0]]


def test_alignment_loss_one_pixel_two_classes() -> None:
    # similarity [.5, .3], scale 10 -> logits [5, 3]; target class 0:
    # CE = -log(e^5 / (e^5 + e^3)) = log(1 + e^-2) = 0.126928
    sim = torch.tensor([0.5, 0.3]).reshape(1, 2, 1, 1).requires_grad_(True)
    targets = torch.tensor([1.0, 0.0]).reshape(1, 2, 1, 1)
    valid, c = torch.ones(1, 1, 1, dtype=torch.bool), torch.ones(1, 2, dtype=torch.bool)
    scale = torch.tensor(10.0, requires_grad=True)
    loss = alignment_loss(sim, targets, valid, c, scale)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-6)
    assert loss.item() == pytest.approx(0.126928, abs=1e-6)
    loss.backward()
    assert sim.grad is not None and scale.grad is not None
    assert sim.grad[0, 0].item() < 0 < sim.grad[0, 1].item() and scale.grad.item() < 0
    # a padding class with the highest similarity changes nothing
    sim3 = torch.tensor([0.5, 0.3, 1.0]).reshape(1, 3, 1, 1)
    t3 = torch.tensor([1.0, 0.0, 1.0]).reshape(1, 3, 1, 1)
    got = alignment_loss(sim3, t3, valid, torch.tensor([[True, True, False]]), torch.tensor(10.0))
    assert got.item() == pytest.approx(loss.item(), rel=1e-6)


def test_alignment_loss_2x2_ignores_ambiguous_and_invalid_pixels() -> None:
    # K = 2, scale 10. pixel (0,0): class 0, sim [.5, -.5] -> logits [5, -5] -> CE log(1 + e^-10)
    #                  pixel (0,1): class 1, sim [.2, .6] -> logits [2, 6] -> CE log(1 + e^-4)
    #                  pixel (1,0): both classes positive -> ignored; pixel (1,1): invalid (NaN sim) -> ignored
    sim = torch.tensor([[[0.5, 0.2], [0.9, 0.9]], [[-0.5, 0.6], [-0.9, float("nan")]]]).unsqueeze(0)
    targets = torch.tensor([[[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]).unsqueeze(0)
    valid = torch.tensor([[[True, True], [True, False]]])
    c = torch.ones(1, 2, dtype=torch.bool)
    expected = (math.log1p(math.exp(-10.0)) + math.log1p(math.exp(-4.0))) / 2
    got = alignment_loss(sim, targets, valid, c, torch.tensor(10.0))
    assert got.item() == pytest.approx(expected, rel=1e-5)
    none = alignment_loss(sim, torch.zeros_like(targets), valid, c, torch.tensor(10.0, requires_grad=True))
    assert none.item() == 0.0 and none.requires_grad


def test_total_loss_combines_the_parts() -> None:
    g = torch.Generator().manual_seed(1)
    b, k, h, w = 2, 3, 4, 4
    mask_logits = torch.randn(b, k, h, w, generator=g, requires_grad=True)
    presence_logits = torch.randn(b, k, generator=g, requires_grad=True)
    similarity = (torch.rand(b, k, h, w, generator=g) * 2 - 1).requires_grad_(True)
    scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    labels = torch.randint(0, k, (b, h, w), generator=g)
    targets = torch.nn.functional.one_hot(labels, k).permute(0, 3, 1, 2).float()
    valid = torch.rand(b, h, w, generator=g) > 0.2
    class_mask = torch.tensor([[True, True, True], [True, True, False]])
    presence = presence_targets(targets, valid, class_mask)
    weights = LossWeights(mask=2.0, dice=0.5, presence=0.3, alignment=0.7)
    loss, parts = total_loss(
        mask_logits=mask_logits,
        presence_logits=presence_logits,
        similarity=similarity,
        logit_scale=scale.exp(),
        targets=targets,
        valid=valid,
        class_mask=class_mask,
        presence=presence,
        weights=weights,
        label_smoothing=0.1,
    )
    assert set(parts) == {"pixel", "dice", "mask", "presence", "alignment", "total"}
    mask = mask_loss(mask_logits, targets, valid, class_mask, dice_weight=0.5, label_smoothing=0.1)
    assert parts["mask"] == pytest.approx(mask.item(), rel=1e-6)
    assert parts["mask"] == pytest.approx(parts["pixel"] + 0.5 * parts["dice"], rel=1e-6)
    expected = 2.0 * parts["mask"] + 0.3 * parts["presence"] + 0.7 * parts["alignment"]
    assert loss.item() == pytest.approx(expected, rel=1e-6) and parts["total"] == pytest.approx(expected, rel=1e-6)
    loss.backward()
    for t in (mask_logits, presence_logits, similarity, scale):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    # a zero weight keeps the term out of the graph but still logs it
    sim2 = similarity.detach().clone().requires_grad_(True)
    loss0, parts0 = total_loss(
        mask_logits=mask_logits.detach(),
        presence_logits=presence_logits.detach(),
        similarity=sim2,
        logit_scale=torch.tensor(14.0),
        targets=targets,
        valid=valid,
        class_mask=class_mask,
        presence=presence,
        weights=LossWeights(alignment=0.0),
    )
    loss0.backward()
    assert sim2.grad is not None and (sim2.grad == 0).all() and parts0["alignment"] > 0


def test_bad_arguments() -> None:
    logits, targets, valid, class_mask = _example()
    with pytest.raises(ValueError, match="kind"):
        mask_loss(logits, targets, valid, class_mask, kind="dice")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="valid"):
        mask_loss(logits, targets, valid.float(), class_mask)
    with pytest.raises(ValueError, match="targets"):
        mask_loss(logits, targets[..., :1], valid, class_mask)
    with pytest.raises(ValueError, match="label_smoothing"):
        mask_loss(logits, targets, valid, class_mask, label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight"):
        LossWeights(mask=-1.0)

"""Vision-text decoder and dense alignment head: shapes for any K/B/h/w, order equivariance, gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lslib.model.decoder import VisionTextDecoder
from lslib.model.dense_alignment import DenseAlignmentHead

DIM, TEXT_DIM, HR = 32, 24, (8, 16)


def _decoder(high_res: bool = True) -> VisionTextDecoder:
    torch.manual_seed(0)
    return VisionTextDecoder(dim=DIM, text_dim=TEXT_DIM, depth=2, heads=4, high_res_dims=HR if high_res else None)


def _inputs(
    b: int, k: int, h: int = 3, w: int = 5
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    image = torch.randn(b, DIM, h, w, generator=g)
    text = F.normalize(torch.randn(k, TEXT_DIM, generator=g), dim=-1)
    high_res = (torch.randn(b, HR[0], 4 * h, 4 * w, generator=g), torch.randn(b, HR[1], 2 * h, 2 * w, generator=g))
    return image, text, high_res


@pytest.mark.parametrize("b", [1, 2])
@pytest.mark.parametrize("k", [0, 1, 5, 20])
def test_shapes(b: int, k: int) -> None:
    dec = _decoder().eval()
    h, w = 3, 5
    image, text, high_res = _inputs(b, k, h, w)
    with torch.inference_mode():
        out = dec(image, text, high_res)
    assert out.mask_logits.shape == (b, k, 4 * h, 4 * w)
    assert out.presence_logits.shape == (b, k)
    assert out.pixel_embed.shape == (b, dec.upscale_dim, 4 * h, 4 * w)
    assert out.tokens.shape == (b, k, DIM)
    for t in out:
        assert torch.isfinite(t).all()


def test_text_shared_equals_batched() -> None:
    dec = _decoder().eval()
    image, text, high_res = _inputs(2, 5)
    with torch.inference_mode():
        shared = dec(image, text, high_res)
        batched = dec(image, text.unsqueeze(0).expand(2, -1, -1).clone(), high_res)
    for a, c in zip(shared, batched, strict=True):
        torch.testing.assert_close(a, c)


def test_per_image_class_lists() -> None:
    """(B, K, E) with different classes per image equals running each image alone."""
    dec = _decoder().eval()
    image, _, high_res = _inputs(2, 0)
    text = F.normalize(torch.randn(2, 4, TEXT_DIM), dim=-1)
    with torch.inference_mode():
        both = dec(image, text, high_res)
        for i in range(2):
            one = dec(image[i : i + 1], text[i], (high_res[0][i : i + 1], high_res[1][i : i + 1]))
            torch.testing.assert_close(both.mask_logits[i : i + 1], one.mask_logits, atol=1e-5, rtol=1e-5)


def test_permutation_equivariance() -> None:
    dec = _decoder().eval()
    image, text, high_res = _inputs(2, 7)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        out = dec(image, text, high_res)
        out_p = dec(image, text[perm], high_res)
    torch.testing.assert_close(out_p.mask_logits, out.mask_logits[:, perm], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out_p.presence_logits, out.presence_logits[:, perm], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out_p.pixel_embed, out.pixel_embed, atol=1e-5, rtol=1e-5)


def test_deterministic_in_eval() -> None:
    dec = _decoder().eval()
    image, text, high_res = _inputs(1, 3)
    with torch.inference_mode():
        a, b = dec(image, text, high_res), dec(image, text, high_res)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


def test_gradients_reach_every_parameter() -> None:
    dec = _decoder().train()
    image, text, high_res = _inputs(2, 4)
    out = dec(image, text, high_res)
    target = (torch.rand_like(out.mask_logits) > 0.5).float()
    loss = F.binary_cross_entropy_with_logits(out.mask_logits, target) + F.binary_cross_entropy_with_logits(
        out.presence_logits, torch.ones_like(out.presence_logits)
    )
    loss.backward()
    for name, p in dec.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_without_high_res() -> None:
    dec = _decoder(high_res=False).eval()
    image, text, high_res = _inputs(2, 3, h=4, w=2)
    with torch.inference_mode():
        out = dec(image, text)
    assert out.mask_logits.shape == (2, 3, 16, 8)
    with pytest.raises(ValueError, match="high_res_dims=None"):
        dec(image, text, high_res)


def test_high_res_is_optional_and_validated() -> None:
    dec = _decoder().eval()
    image, text, high_res = _inputs(1, 2)
    with torch.inference_mode():
        plain = dec(image, text)
    assert plain.mask_logits.shape == (1, 2, 12, 20)
    with pytest.raises(ValueError, match="stride-4"):
        dec(image, text, (high_res[1], high_res[0]))
    with pytest.raises(ValueError, match="text"):
        dec(image, torch.randn(2, TEXT_DIM + 1))


def test_parameter_count(capsys: pytest.CaptureFixture[str]) -> None:
    for hr in (None, (96, 192)):
        dec = VisionTextDecoder(dim=128, text_dim=384, depth=2, heads=4, high_res_dims=hr)
        n = sum(p.numel() for p in dec.parameters())
        with capsys.disabled():
            print(f"\nVisionTextDecoder(dim=128, text_dim=384, depth=2, heads=4, high_res_dims={hr}): {n:,} parameters")
        assert 100_000 < n < 2_000_000


# --- dense alignment head -------------------------------------------------------------------------


def test_alignment_hand_computed() -> None:
    head = DenseAlignmentHead(in_dim=2, text_dim=2)
    assert isinstance(head.proj, torch.nn.Conv2d)
    with torch.no_grad():
        head.proj.weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        assert head.proj.bias is not None
        head.proj.bias.zero_()
    # pixel vectors (row-major): (3, 4), (1, 0), (0, -2), (1, 1)
    pixels = torch.tensor([[[3.0, 1.0], [0.0, 1.0]], [[4.0, 0.0], [-2.0, 1.0]]]).unsqueeze(0)
    text = torch.tensor([[2.0, 0.0], [0.0, 1.0]])  # normalised inside
    sim = head(pixels, text)
    r = 1 / math.sqrt(2)
    expected = torch.tensor([[[[0.6, 1.0], [0.0, r]], [[0.8, 0.0], [-1.0, r]]]])
    torch.testing.assert_close(sim, expected)
    torch.testing.assert_close(head.logits(sim), sim / 0.07)


@pytest.mark.parametrize("k", [0, 1, 6])
def test_alignment_range_and_shapes(k: int) -> None:
    torch.manual_seed(0)
    head = DenseAlignmentHead(in_dim=16, text_dim=TEXT_DIM, hidden=32)
    pixels = torch.randn(2, 16, 5, 3) * 10
    text = torch.randn(k, TEXT_DIM)
    sim = head(pixels, text)
    assert sim.shape == (2, k, 5, 3)
    assert ((sim >= -1) & (sim <= 1)).all()
    torch.testing.assert_close(head(pixels, text.expand(2, -1, -1)), sim)
    torch.testing.assert_close(head.similarity(pixels, text), sim)


def test_alignment_scale_clamped_and_trainable() -> None:
    head = DenseAlignmentHead(in_dim=4, text_dim=TEXT_DIM)
    torch.testing.assert_close(head.scale(), torch.tensor(1 / 0.07))
    with torch.no_grad():
        head.logit_scale.fill_(10.0)
    assert head.scale().item() == pytest.approx(100.0)
    with torch.no_grad():
        head.logit_scale.fill_(1.0)
    sim = head(torch.randn(1, 4, 2, 2), torch.randn(3, TEXT_DIM))
    head.logits(sim).sum().backward()
    assert head.logit_scale.grad is not None and head.logit_scale.grad != 0

"""lslib.fusion on 2x2 examples computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest
import torch

from lslib.fusion import UNKNOWN, class_confidence, fuse, similarity_probabilities


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def _case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # Two classes on a 2x2 image. Class 0 ("water"): the decoder draws it confidently on the top row.
    # Class 1 ("trees"): the decoder omits it (mask prob 0.1, presence 0.2) but the similarity map shows
    # it clearly on the bottom row.
    p0 = [[0.9, 0.9], [0.1, 0.1]]
    p1 = [[0.1, 0.1], [0.1, 0.1]]
    mask_logits = torch.tensor([[[[logit(v) for v in r] for r in p0], [[logit(v) for v in r] for r in p1]]])
    presence_logits = torch.tensor([[logit(0.9), logit(0.2)]])
    s0 = [[0.3, 0.3], [0.0, 0.0]]
    s1 = [[0.0, 0.0], [0.3, 0.3]]
    similarity = torch.tensor([[s0, s1]])
    return mask_logits, presence_logits, similarity


def test_similarity_softmax_and_class_confidence_by_hand() -> None:
    _, presence, sim = _case()
    q = similarity_probabilities(sim, scale=10.0)
    # top row: softmax(10*[0.3, 0]) = [e^3, 1] / (e^3 + 1) -> class 0 gets 0.952574
    assert q[0, 0, 0, 0].item() == pytest.approx(math.exp(3) / (math.exp(3) + 1), abs=1e-6)
    assert q[0, 1, 1, 0].item() == pytest.approx(math.exp(3) / (math.exp(3) + 1), abs=1e-6)
    p = torch.sigmoid(_case()[0])
    c = class_confidence(p, torch.sigmoid(presence))
    # c_0 = 0.9 * max(0.9, 0.1) = 0.81 ; c_1 = 0.2 * 0.1 = 0.02
    torch.testing.assert_close(c, torch.tensor([[0.81, 0.02]]))


def test_semantic_omission_is_recovered() -> None:
    masks, presence, sim = _case()
    decoder_only = fuse(masks, presence, sim, scale=10.0, mode="decoder")
    # decoder alone: bottom row p = [0.1, 0.1] -> a tie, class 1 ("trees") is never the clear winner
    assert (decoder_only.class_index[0, 0] == 0).all()
    fused = fuse(masks, presence, sim, scale=10.0, mode="classwise")
    # bottom-left, class 0: f = 0.81*0.1 + 0.19*1*0.047426 = 0.081 + 0.009011 = 0.090011
    #               class 1: f = 0.02*0.1 + 0.98*1*0.952574 = 0.002 + 0.933523 = 0.935523
    q_hi = math.exp(3) / (math.exp(3) + 1)
    assert fused.scores[0, 0, 1, 0].item() == pytest.approx(0.81 * 0.1 + 0.19 * (1 - q_hi), abs=1e-5)
    assert fused.scores[0, 1, 1, 0].item() == pytest.approx(0.02 * 0.1 + 0.98 * q_hi, abs=1e-5)
    assert fused.class_index.tolist() == [[[0, 0], [1, 1]]]  # trees recovered on the bottom row
    # top-left, class 0: 0.81*0.9 + 0.19*0.952574 = 0.729 + 0.180989 = 0.909989
    assert fused.confidence[0, 0, 0].item() == pytest.approx(0.81 * 0.9 + 0.19 * q_hi, abs=1e-5)


def test_a_class_with_no_support_is_not_invented_and_unknown_threshold() -> None:
    masks, presence, sim = _case()
    # a third class "snow": decoder says no (mask 0.05, presence 0.05), similarity flat at 0
    masks3 = torch.cat([masks, torch.full((1, 1, 2, 2), logit(0.05))], dim=1)
    presence3 = torch.cat([presence, torch.tensor([[logit(0.05)]])], dim=1)
    sim3 = torch.cat([sim, torch.zeros(1, 1, 2, 2)], dim=1)
    fused = fuse(masks3, presence3, sim3, scale=10.0, mode="classwise")
    assert not (fused.class_index == 2).any()
    # a high per-class threshold for class 1 turns its pixels into UNKNOWN, class 0 untouched
    strict = fuse(masks3, presence3, sim3, scale=10.0, threshold=[0.5, 0.99, 0.5], mode="classwise")
    assert strict.class_index.tolist() == [[[0, 0], [UNKNOWN, UNKNOWN]]]


def test_global_mode_and_alpha_zero() -> None:
    masks, presence, sim = _case()
    glob = fuse(masks, presence, sim, scale=10.0, mode="global")
    # c = mean(0.81, 0.02) = 0.415 for both classes; bottom-left class 1: 0.415*0.1 + 0.585*0.952574
    q_hi = math.exp(3) / (math.exp(3) + 1)
    assert glob.scores[0, 1, 1, 0].item() == pytest.approx(0.415 * 0.1 + 0.585 * q_hi, abs=1e-5)
    no_sim = fuse(masks, presence, sim, scale=10.0, alpha=0.0)
    # with alpha = 0 the fused score is c_k * p_k: bottom row 0.081 (class 0) vs 0.002 (class 1)
    assert no_sim.class_index.tolist() == [[[0, 0], [0, 0]]]


def test_class_order_only_relabels_and_bad_inputs() -> None:
    masks, presence, sim = _case()
    a = fuse(masks, presence, sim, scale=10.0)
    b = fuse(masks.flip(1), presence.flip(1), sim.flip(1), scale=10.0)
    assert torch.equal(a.class_index, 1 - b.class_index)
    torch.testing.assert_close(a.confidence, b.confidence)
    empty = fuse(masks[:, :0], presence[:, :0], sim[:, :0])
    assert (empty.class_index == UNKNOWN).all()
    with pytest.raises(ValueError, match="shapes differ"):
        fuse(masks, presence, sim[:, :1])
    with pytest.raises(ValueError, match="alpha"):
        fuse(masks, presence, sim, alpha=2.0)
    with pytest.raises(ValueError, match="2 classes"):
        fuse(masks, presence, sim, threshold=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="unknown fusion mode"):
        fuse(masks, presence, sim, mode="max")  # type: ignore[arg-type]


# --- the official rule (the authors' evaluation script) ---------------------------------------------------
def test_official_weights_each_case_by_hand() -> None:
    """thr 0.5. Class 0: both sure (0.8, 0.9) -> 2:2. Class 1: only CLIP sure (LS 0.3 < 0.5 <= CLIP 0.7) -> 3:1
    for CLIP. Class 2: only LandSegmenter sure (CLIP 0.2 < 0.5 <= LS 0.6) -> 1:3. Class 3: neither -> 2:2."""
    from lslib.fusion import official_weights

    m_ls = torch.tensor([[0.8, 0.3, 0.6, 0.1]])
    m_clip = torch.tensor([[0.9, 0.7, 0.2, 0.4]])
    w_clip, w_ls = official_weights(m_ls, m_clip, 0.5)
    assert w_clip.tolist() == [[2.0, 3.0, 1.0, 2.0]] and w_ls.tolist() == [[2.0, 1.0, 3.0, 2.0]]
    # the threshold belongs to the "sure" side: m == thr counts as sure
    w_clip, w_ls = official_weights(torch.tensor([[0.5]]), torch.tensor([[0.49]]), 0.5)
    assert (w_clip.item(), w_ls.item()) == (1.0, 3.0)


def _two_by_two(weak: list[list[list[float]]], clip: list[list[list[float]]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor([weak]), torch.tensor([clip])


def test_official_fusion_equal_weights_2x2() -> None:
    """Both classes sure in both maps (max >= 0.5): weights 2:2, so f = (clip + weak) / sum over classes.
    Pixel (0,0): class 0 = 2*0.9 + 2*0.6 = 3.0, class 1 = 2*0.1 + 2*0.4 = 1.0 -> 0.75 / 0.25."""
    from lslib.fusion import official_fusion

    weak, clip = _two_by_two([[[0.6, 0.2], [0.1, 0.1]], [[0.4, 0.8], [0.9, 0.9]]],
                             [[[0.9, 0.1], [0.5, 0.2]], [[0.1, 0.9], [0.5, 0.8]]])
    f = official_fusion(weak, clip, 0.5)
    torch.testing.assert_close(f[0, :, 0, 0], torch.tensor([0.75, 0.25]))
    torch.testing.assert_close(f.sum(1), torch.ones(1, 2, 2))


def test_official_fusion_clip_only_class_2x2() -> None:
    """Class 1 is only CLIP's (LS max 0.3 < 0.5 <= CLIP max 0.8) -> 3:1 for CLIP; class 0 sure in both -> 2:2.
    Pixel (1,1): class 0 = 2*0.1 + 2*0.7 = 1.6, class 1 = 3*0.8 + 1*0.3 = 2.7 -> class 1 (the decoder alone
    would say class 0: 0.7 > 0.3); confidence 2.7 / 4.3."""
    from lslib.fusion import fuse, official_fusion

    weak, clip = _two_by_two([[[0.9, 0.8], [0.7, 0.7]], [[0.1, 0.2], [0.3, 0.3]]],
                             [[[0.9, 0.6], [0.2, 0.1]], [[0.1, 0.4], [0.8, 0.8]]])
    f = official_fusion(weak, clip, 0.5)
    torch.testing.assert_close(f[0, 1, 1, 1], torch.tensor(2.7 / 4.3))
    assert f[0].argmax(0).tolist() == [[0, 0], [1, 1]]
    logits = torch.log(weak / (1 - weak))
    res = fuse(logits, torch.zeros(1, 2), torch.zeros_like(weak), mode="official", knowledge=clip, thr=0.5)
    assert res.class_index[0].tolist() == [[0, 0], [1, 1]]


def test_official_fusion_landsegmenter_only_class_2x2() -> None:
    """Class 1 is only LandSegmenter's (CLIP max 0.3 < 0.5 <= LS max 0.6) -> 1:3; class 0 sure in both -> 2:2.
    Pixel (0,1): class 0 = 2*0.9 + 2*0.4 = 2.6, class 1 = 1*0.1 + 3*0.6 = 1.9 -> class 0; pixel (1,1): class 0 =
    2*0.8 + 2*0.2 = 2.0, class 1 = 1*0.3 + 3*0.6 = 2.1 -> class 1 (CLIP alone would say class 0)."""
    from lslib.fusion import official_fusion

    weak, clip = _two_by_two([[[0.9, 0.4], [0.5, 0.2]], [[0.1, 0.6], [0.5, 0.6]]],
                             [[[0.9, 0.9], [0.7, 0.8]], [[0.1, 0.1], [0.3, 0.3]]])
    f = official_fusion(weak, clip, 0.5)
    torch.testing.assert_close(f[0, :, 0, 1], torch.tensor([2.6, 1.9]) / 4.5)
    torch.testing.assert_close(f[0, :, 1, 1], torch.tensor([2.0, 2.1]) / 4.1)
    assert f[0].argmax(0).tolist() == [[0, 0], [0, 1]]


def test_official_fusion_edge_cases() -> None:
    from lslib.fusion import fuse, official_fusion

    zero = torch.zeros(1, 3, 2, 2)
    torch.testing.assert_close(official_fusion(zero, zero), torch.full((1, 3, 2, 2), 1 / 3))  # no evidence: uniform
    assert official_fusion(torch.zeros(1, 0, 2, 2), torch.zeros(1, 0, 2, 2)).shape == (1, 0, 2, 2)
    with pytest.raises(ValueError, match="differ"):
        official_fusion(torch.zeros(1, 2, 2, 2), torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match="knowledge"):
        fuse(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2), torch.zeros(1, 2, 2, 2), mode="official",
             knowledge=torch.zeros(1, 3, 2, 2))
    with pytest.raises(ValueError, match="official"):
        fuse(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2), torch.zeros(1, 2, 2, 2), mode="nope")  # type: ignore[arg-type]


def test_official_mode_uses_the_similarity_probabilities_by_default() -> None:
    """Without ``knowledge`` the CLIP map is q = softmax(scale * s): the offline default branch."""
    from lslib.fusion import fused_scores, official_fusion

    mask_logits, presence_logits, similarity = _case()
    scores, _ = fused_scores(mask_logits, presence_logits, similarity, scale=10.0, mode="official", thr=0.5)
    expected = official_fusion(torch.sigmoid(mask_logits), similarity_probabilities(similarity, scale=10.0), 0.5)
    torch.testing.assert_close(scores, expected)

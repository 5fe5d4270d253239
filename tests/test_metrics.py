"""ConfusionMatrix on a 3x3 example computed on paper, streaming, merging, ignored codes, plotting."""

from __future__ import annotations

import json
import math
import sys

import matplotlib
import numpy as np
import pytest
import torch

from lslib.metrics import ConfusionMatrix, predict_classes

# reference          prediction
#   1 1 1              1 1 2
#   1 2 2              1 2 2
#   3 3 3              3 2 1
TARGET = torch.tensor([[1, 1, 1], [1, 2, 2], [3, 3, 3]])
PRED = torch.tensor([[1, 1, 2], [1, 2, 2], [3, 2, 1]])
# pairs (ref, pred): (1,1) x3, (1,2), (2,2) x2, (3,3), (3,2), (3,1)
# matrix rows = ref:  1: [3, 1, 0]   2: [0, 2, 0]   3: [1, 1, 1]
MATRIX = [[3, 1, 0], [0, 2, 0], [1, 1, 1]]
# TP = [3, 2, 1]; support (row sums) = [4, 2, 3]; predicted (column sums) = [4, 4, 1]
# IoU = TP / (support + predicted - TP) = [3/5, 2/4, 1/3]; mIoU = (.6 + .5 + 1/3) / 3 = 43/90
# F1 = 2 TP / (support + predicted) = [6/8, 4/6, 2/4]; macro F1 = (3/4 + 2/3 + 1/2) / 3 = 23/36
# OA = (3 + 2 + 1) / 9 = 2/3; precision = TP / predicted = [3/4, 1/2, 1]; recall = TP / support = [3/4, 1, 1/3]
IOU = {1: 3 / 5, 2: 2 / 4, 3: 1 / 3}
F1 = {1: 6 / 8, 2: 4 / 6, 3: 2 / 4}


def _full() -> ConfusionMatrix:
    return ConfusionMatrix([1, 2, 3]).update(PRED, TARGET)


def test_hand_example() -> None:
    cm = _full()
    assert cm.matrix.tolist() == MATRIX and cm.matrix.dtype == np.int64
    assert cm.per_class_iou() == pytest.approx(IOU)
    assert cm.miou() == pytest.approx(43 / 90)
    assert cm.overall_accuracy() == pytest.approx(2 / 3)
    assert cm.per_class_f1() == pytest.approx(F1)
    assert cm.macro_f1() == pytest.approx(23 / 36)
    assert cm.precision() == pytest.approx({1: 3 / 4, 2: 1 / 2, 3: 1.0})
    assert cm.recall() == pytest.approx({1: 3 / 4, 2: 1.0, 3: 1 / 3})
    assert cm.total == 9 and cm.ignored == 0


def test_absent_class_is_nan_and_present_only() -> None:
    cm = ConfusionMatrix([1, 2, 3, 4]).update(PRED.numpy(), TARGET.numpy())  # numpy input works too
    iou = cm.per_class_iou()
    assert math.isnan(iou[4]) and math.isnan(cm.per_class_f1()[4])
    assert cm.miou() == pytest.approx(43 / 90)  # class 4 (absent from both) skipped
    assert cm.miou(present_only=False) == pytest.approx(43 / 90 * 3 / 4)  # counted as 0 over 4 classes
    assert cm.macro_f1(present_only=False) == pytest.approx(23 / 36 * 3 / 4)
    assert math.isnan(ConfusionMatrix([1]).miou()) and math.isnan(ConfusionMatrix([1]).overall_accuracy())


def test_streaming_two_halves_equals_one_update_and_batches() -> None:
    cm = ConfusionMatrix([1, 2, 3])
    cm.update(PRED[:1], TARGET[:1]).update(PRED[1:], TARGET[1:])
    assert cm.matrix.tolist() == MATRIX
    batched = ConfusionMatrix([1, 2, 3]).update(torch.stack([PRED, PRED]), torch.stack([TARGET, TARGET]))
    assert (batched.matrix == 2 * np.array(MATRIX)).all()
    assert batched.per_class_iou() == pytest.approx(IOU)  # ratios unchanged by doubling


def test_merge() -> None:
    a = ConfusionMatrix([1, 2, 3]).update(PRED[:2], TARGET[:2])
    b = ConfusionMatrix([1, 2, 3]).update(PRED[2:], TARGET[2:])
    b.ignored = 4
    merged = a.merge(b)
    assert merged is a and a.matrix.tolist() == MATRIX and a.ignored == 4
    with pytest.raises(ValueError, match="different classes"):
        a.merge(ConfusionMatrix([3, 2, 1]))


def test_valid_mask_and_codes_outside_classes() -> None:
    target = TARGET.clone()
    pred = PRED.clone()
    target[0, 0] = 0  # reference 0 (nodata / not evaluated): ignored, counted in .ignored
    pred[1, 0] = 9  # reference 1 predicted as 9: a miss of class 1, no false positive anywhere
    valid = torch.ones(3, 3, dtype=torch.bool)
    valid[2, 2] = False  # (3, 1) pair skipped entirely
    cm = ConfusionMatrix([1, 2, 3]).update(pred, target, valid)
    # remaining pairs: (1,1), (1,2), (1,9)->other, (2,2) x2, (3,3), (3,2)
    assert cm.matrix.tolist() == [[1, 1, 0], [0, 2, 0], [0, 1, 1]]
    assert cm.other.tolist() == [1, 0, 0] and cm.ignored == 1 and cm.total == 7
    # class 1: TP 1, support 3 (incl. the miss), predicted 1 -> IoU 1/3, recall 1/3
    assert cm.per_class_iou()[1] == pytest.approx(1 / 3) and cm.recall()[1] == pytest.approx(1 / 3)
    assert cm.overall_accuracy() == pytest.approx(4 / 7)


def test_bad_inputs() -> None:
    cm = ConfusionMatrix([1, 2])
    with pytest.raises(TypeError, match="integer"):
        cm.update(PRED.float(), TARGET)
    with pytest.raises(ValueError, match="same shape"):
        cm.update(PRED[:2], TARGET)
    with pytest.raises(ValueError, match="valid"):
        cm.update(PRED, TARGET, torch.ones(3, 3))
    with pytest.raises(ValueError, match="distinct"):
        ConfusionMatrix([1, 1])


def test_frame_dict_and_json_roundtrip() -> None:
    cm = ConfusionMatrix([1, 2, 3, 4]).update(PRED, TARGET)
    frame = cm.to_frame({1: "tree", 2: "grass"})
    assert list(frame.index) == [1, 2, 3, 4] and frame.loc[1, "name"] == "tree" and frame.loc[3, "name"] == "3"
    assert frame.loc[2, "iou"] == pytest.approx(0.5) and int(frame.loc[3, "support"]) == 3
    doc = json.loads(json.dumps(cm.as_dict(), allow_nan=False))  # strict JSON: NaN written as null
    assert doc["per_class"]["4"]["iou"] is None and doc["miou"] == pytest.approx(43 / 90)
    back = ConfusionMatrix.from_dict(doc)
    assert (back.matrix == cm.matrix).all() and back.classes == cm.classes


def test_plot_returns_a_figure_without_touching_pyplot() -> None:
    from matplotlib.figure import Figure

    backend = matplotlib.get_backend()
    had_pyplot = "matplotlib.pyplot" in sys.modules
    fignums = sys.modules["matplotlib.pyplot"].get_fignums() if had_pyplot else None
    cm = _full()
    fig = cm.plot(names={1: "tree"})
    assert isinstance(fig, Figure) and len(fig.axes) == 2  # matrix + colourbar
    own = Figure()
    ax = own.add_subplot()
    assert cm.plot(ax=ax, normalize=None) is own
    assert cm.normalized("true")[2].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert matplotlib.get_backend() == backend
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot
    if had_pyplot:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == fignums


def test_predict_classes() -> None:
    logits = torch.tensor([[[[2.0, -1.0]], [[0.0, 3.0]], [[1.0, 0.5]]]])  # (1, 3, 1, 2)
    # pixel 0: argmax channel 0 -> code 10; pixel 1: channel 1 -> code 20
    assert predict_classes(logits, [10, 20, 30]).tolist() == [[[10, 20]]]
    with pytest.raises(ValueError, match="one code per class"):
        predict_classes(logits, [10, 20])


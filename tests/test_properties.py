"""Property-based tests (hypothesis): fusion, taxonomy crosswalks, prompt-set parsing.

Examples are few (``max_examples`` modest) and deadlines off: the point is breadth of shapes and values,
not load. Tiling properties live with the tiling tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lslib.fusion import UNKNOWN, fuse
from lslib.prompt_set import ClassPrompt, PromptSet, load, normalise_name, parse, save
from lslib.taxonomy import crosswalk, get_taxonomy, list_taxonomies, remap

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MODES = ["classwise", "global", "decoder", "similarity"]


# --- fusion ------------------------------------------------------------------------------------------
@st.composite
def fusion_inputs(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    b, k = draw(st.integers(1, 2)), draw(st.integers(1, 6))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    finite = st.floats(-30, 30, allow_nan=False, width=32)
    masks = draw(arrays(np.float32, (b, k, h, w), elements=finite))
    presence = draw(arrays(np.float32, (b, k), elements=finite))
    sim = draw(arrays(np.float32, (b, k, h, w), elements=st.floats(-1, 1, width=32)))
    return torch.from_numpy(masks), torch.from_numpy(presence), torch.from_numpy(sim)


@SETTINGS
@given(fusion_inputs(), st.sampled_from(MODES), st.floats(0, 1), st.floats(0, 1), st.floats(1, 100))
def test_fusion_outputs_are_valid(inp: Any, mode: str, alpha: float, threshold: float, scale: float) -> None:
    masks, presence, sim = inp
    r = fuse(masks, presence, sim, mode=mode, alpha=alpha, threshold=threshold, scale=scale)  # type: ignore[arg-type]
    b, k, h, w = masks.shape
    assert r.class_index.shape == (b, h, w) and r.confidence.shape == (b, h, w)
    assert bool(((r.class_index >= UNKNOWN) & (r.class_index < k)).all())
    assert bool(((r.confidence >= 0) & (r.confidence <= 1)).all())
    assert bool(((r.scores >= 0) & (r.scores <= 1 + 1e-6)).all())
    # unknown exactly where the winning score is below the threshold
    assert bool(((r.class_index == UNKNOWN) == (r.confidence < threshold)).all())


@SETTINGS
@given(fusion_inputs(), st.sampled_from(MODES), st.randoms(use_true_random=False))
def test_fusion_is_invariant_to_class_order(inp: Any, mode: str, rnd: Any) -> None:
    masks, presence, sim = inp
    k = masks.shape[1]
    perm = list(range(k))
    rnd.shuffle(perm)
    p = torch.tensor(perm)
    a = fuse(masks, presence, sim, mode=mode)  # type: ignore[arg-type]
    b = fuse(masks[:, p], presence[:, p], sim[:, p], mode=mode)  # type: ignore[arg-type]
    torch.testing.assert_close(b.scores, a.scores[:, p])
    torch.testing.assert_close(b.confidence, a.confidence)
    # relabelled decision; where two classes tie (to rounding: a permuted copy may differ in the last bit),
    # either may win: then the class b picked scores as high in a as a's winner
    relabelled = torch.where(b.class_index >= 0, p[b.class_index.clamp(min=0)], b.class_index)
    won = a.scores.gather(1, relabelled.clamp(min=0)[:, None])[:, 0]
    tie = torch.isclose(won, a.confidence, rtol=1e-5, atol=1e-7)
    assert bool(((relabelled == a.class_index) | tie).all())


@SETTINGS
@given(fusion_inputs(), st.sampled_from(MODES), st.floats(0, 1), st.floats(0, 1), st.data())
def test_raising_a_threshold_never_names_an_unknown_pixel(inp: Any, mode: str, t1: float, t2: float,
                                                          data: st.DataObject) -> None:
    masks, presence, sim = inp
    k = masks.shape[1]
    low, high = min(t1, t2), max(t1, t2)
    a = fuse(masks, presence, sim, mode=mode, threshold=low)  # type: ignore[arg-type]
    b = fuse(masks, presence, sim, mode=mode, threshold=high)  # type: ignore[arg-type]
    assert bool(((a.class_index == UNKNOWN) <= (b.class_index == UNKNOWN)).all())
    # per-class thresholds: raise one class's threshold
    thr = data.draw(st.lists(st.floats(0, 1), min_size=k, max_size=k))
    c = data.draw(st.integers(0, k - 1))
    up = list(thr)
    up[c] = min(1.0, thr[c] + data.draw(st.floats(0, 1)))
    x = fuse(masks, presence, sim, mode=mode, threshold=thr)  # type: ignore[arg-type]
    y = fuse(masks, presence, sim, mode=mode, threshold=up)  # type: ignore[arg-type]
    assert bool(((x.class_index == UNKNOWN) <= (y.class_index == UNKNOWN)).all())
    assert bool(((y.class_index == x.class_index) | (y.class_index == UNKNOWN)).all())


# --- taxonomy crosswalks --------------------------------------------------------------------------------
TAXONOMIES = list_taxonomies()


@SETTINGS
@given(st.sampled_from(TAXONOMIES), st.sampled_from(TAXONOMIES), st.data())
def test_crosswalk_maps_into_target_codes(src: str, dst: str, data: st.DataObject) -> None:
    s, d = get_taxonomy(src), get_taxonomy(dst)
    table = crosswalk(s, d)
    assert set(s.codes) <= set(table)
    valid = set(d.codes) | ({d.nodata} if d.nodata is not None else set())
    for codes in table.values():
        assert set(codes) <= valid
    if s.nodata is not None:
        assert table[s.nodata] == (() if d.nodata is None else (d.nodata,))
    if d.nodata is None:
        return
    pool = [*s.codes, *([s.nodata] if s.nodata is not None else [])]
    values = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=50))
    dtype = np.uint16 if max(pool) > 255 else np.uint8
    arr = np.asarray(values, dtype=dtype).reshape(-1, 1)
    out = remap(arr, s, d, ambiguous="first")
    assert out.shape == arr.shape
    assert set(np.unique(out).tolist()) <= valid
    if s.nodata is not None:
        assert bool((out[arr == s.nodata] == d.nodata).all()), "nodata must stay nodata"
    for v, o in zip(arr.ravel(), out.ravel(), strict=True):  # the first counterpart, or nodata when none
        expected = table[int(v)][0] if table[int(v)] else d.nodata
        assert int(o) == expected


@SETTINGS
@given(st.sampled_from(TAXONOMIES), st.data())
def test_identity_crosswalk_is_identity(key: str, data: st.DataObject) -> None:
    t = get_taxonomy(key)
    table = crosswalk(t, t)
    assert all(table[c] == (c,) for c in t.codes)
    pool = [*t.codes, *([t.nodata] if t.nodata is not None else [])]
    values = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=40))
    arr = np.asarray(values, dtype=np.uint16)
    np.testing.assert_array_equal(remap(arr, t, t), arr)


# --- prompt sets ----------------------------------------------------------------------------------------
WORDS = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), max_codepoint=0x24F),
                min_size=1, max_size=10)
COLOURS = st.from_regex(r"#[0-9a-f]{6}", fullmatch=True)


@st.composite
def prompt_sets(draw: st.DrawFn) -> PromptSet:
    names = draw(st.lists(st.lists(WORDS, min_size=1, max_size=3).map(" ".join), min_size=1, max_size=8,
                          unique_by=normalise_name))
    seen = {normalise_name(n) for n in names}
    classes = []
    for n in names:
        syns = []
        for s in draw(st.lists(WORDS, max_size=2)):
            if normalise_name(s) not in seen:
                seen.add(normalise_name(s))
                syns.append(s)
        classes.append(ClassPrompt(
            name=n, synonyms=tuple(syns), description=draw(st.none() | WORDS), colour=draw(st.none() | COLOURS),
            threshold=draw(st.none() | st.floats(0, 1)), code=draw(st.none() | st.integers(0, 255)),
        ))
    return PromptSet(classes=tuple(classes), name=draw(WORDS), threshold=draw(st.floats(0, 1)))


@SETTINGS
@given(ps=prompt_sets())
def test_prompt_set_round_trip(ps: PromptSet, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert parse(ps.to_dict()) == ps
    path = save(ps, Path(tmp_path_factory.mktemp("ps")) / "set.yaml")
    assert load(path) == ps


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["name", "synonyms", "description", "colour", "color", "threshold", "code", "classes", "x"])
DOCS = JSONISH | st.dictionaries(KEYS, JSONISH, max_size=4) | st.fixed_dictionaries(
    {"classes": st.lists(st.text(max_size=4) | st.dictionaries(KEYS, JSONISH, max_size=4), max_size=5)},
    optional={"threshold": JSONISH, "name": JSONISH},
)


@settings(max_examples=150, deadline=None)
@given(DOCS)
def test_invalid_prompt_docs_raise_value_error_only(doc: Any) -> None:
    try:
        ps = parse(doc)
    except ValueError:
        return
    assert isinstance(ps, PromptSet) and len(ps) >= 1  # accepted: then it is a valid set
    assert parse(ps.to_dict()) == ps

"""LASDataset, SubsetBatchSampler and collate on real LAS-mini chips (built from the sample mirror)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from lslib.data.las.chips import list_chips
from lslib.taxonomy import crosswalk, get_taxonomy
from lslib.training.dataset import (
    BalancedBatchSampler,
    LASDataset,
    SubsetBatchSampler,
    boundary_mask,
    collate,
    split_of,
)

SUBSETS = ["mini-zion-landsat-nlcd", "mini-terramesh-s2-esri", "mini-terramesh-s1-esri"]


@pytest.fixture(scope="module")
def las_root(sample: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LAS-mini, 8 points per subset (NLCD on Landsat, Esri LULC on Sentinel-2 and on Sentinel-1)."""
    from lslib.data.las.build import build_las
    from lslib.data.las.recipes import load_recipe
    from lslib.data.local_stac.catalog import local_stac

    root = tmp_path_factory.mktemp("las")
    with local_stac(tmp_path_factory.mktemp("stac")) as server:
        for name in SUBSETS:
            build_las(load_recipe(name), root, stac_url=server.url, workers=0, progress=False, limit=8)
    return root


@pytest.fixture(scope="module")
def ds(las_root: Path) -> LASDataset:
    return LASDataset(roots=las_root)


def _present_codes(label: torch.Tensor, valid: torch.Tensor, taxonomy: str) -> set[int]:
    return {int(c) for c in torch.unique(label[valid])} & set(get_taxonomy(taxonomy).codes)


def test_samples_have_documented_shapes_and_consistent_targets(ds: LASDataset) -> None:
    assert {r.subset for r in ds.records} == set(SUBSETS) and not ds.skipped
    for i in range(len(ds)):
        s = ds[i]
        tax = get_taxonomy(s["taxonomy"])
        c, h, w = s["image"].shape
        k = len(s["classes"])
        assert s["image"].dtype == torch.float32 and s["wavelengths"].shape == (c,) and len(s["band_names"]) == c
        assert s["label"].dtype == torch.int64 and s["label"].shape == (h, w)
        assert s["valid"].dtype == torch.bool and s["valid"].shape == (h, w)
        assert s["targets"].shape == (k, h, w) and s["presence"].shape == (k,)
        assert len(s["descriptions"]) == len(s["taxonomies"]) == k
        assert bool((0.3 < s["wavelengths"]).all() and (s["wavelengths"] < 3e5).all())  # µm (SAR: cm-scale)
        label, valid = s["label"], s["valid"]
        assert not (valid & (label == tax.nodata)).any() and bool(torch.isfinite(s["image"]).any(0)[valid].all())
        present = _present_codes(label, valid, s["taxonomy"])
        own_present = {
            tax.by_name(n).code
            for n, t in zip(s["classes"], s["taxonomies"], strict=True)
            if t == tax.key and tax.by_name(n).code in present
        }
        assert len(own_present) == min(len(present), ds.max_classes)
        for j, (name, key) in enumerate(zip(s["classes"], s["taxonomies"], strict=True)):
            cls = get_taxonomy(key).by_name(name)
            assert s["descriptions"][j] == cls.description
            if key == tax.key and cls.code in present:
                assert s["presence"][j] == 1
                assert torch.equal(s["targets"][j], (label == cls.code).float())
            else:
                assert s["presence"][j] == 0 and not s["targets"][j].any()
                if key == tax.key:
                    assert not (label == cls.code).any(), f"{name} is a negative but in the label"
        n_negatives = sum(1 for t, p in zip(s["taxonomies"], s["presence"], strict=True) if t == tax.key and not p)
        assert n_negatives == min(ds.negatives, sum(not (label == c).any() for c in tax.codes))
        assert sum(t != tax.key for t in s["taxonomies"]) == ds.foreign_negatives
        names = [n.casefold() for n in s["classes"]]
        assert len(set(names)) == len(names)


def test_max_classes_keeps_the_largest_and_descriptions_are_optional(las_root: Path) -> None:
    small = LASDataset(roots=las_root, subsets=["mini-zion-landsat-nlcd"], max_classes=2, use_descriptions=False)
    s = small[0]
    counts = torch.bincount(s["label"][s["valid"]])
    largest = {int(c) for c in torch.argsort(counts, descending=True)[:2]}
    tax = get_taxonomy("nlcd")
    kept = {tax.by_name(n).code for n, p in zip(s["classes"], s["presence"], strict=True) if p}
    assert kept == largest
    assert s["descriptions"] == [None] * len(s["classes"])


def test_foreign_negatives_never_crosswalk_to_a_present_class(ds: LASDataset) -> None:
    seen_foreign = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            s = ds[i]
            own = s["taxonomy"]
            present = _present_codes(s["label"], s["valid"], own)
            present_names = {get_taxonomy(own).by_code(c).name.casefold() for c in present}
            for name, key in zip(s["classes"], s["taxonomies"], strict=True):
                if key == own:
                    continue
                seen_foreign.add(key)
                code = get_taxonomy(key).by_name(name).code
                targets = set(crosswalk(key, own)[code])
                assert targets and not targets & present, f"{key} {name!r} on {s['point_id']} ({present})"
                assert name.casefold() not in present_names
    ds.set_epoch(0)
    assert {"esa_worldcover", "dynamic_world", "nlcd"} <= seen_foreign  # globals + the other subsets' products


def test_worldcover_tree_cover_is_no_negative_where_esri_trees_are_present(ds: LASDataset) -> None:
    tree_cover = get_taxonomy("esa_worldcover").by_name("Tree cover").code
    with_trees = without = 0
    for i, rec in enumerate(ds.records):
        if rec.taxonomy != "terramesh_lulc":
            continue
        s = ds[i]
        present = _present_codes(s["label"], s["valid"], rec.taxonomy)
        safe = ds._safe_foreign(rec.taxonomy, present, set())
        trees = get_taxonomy(rec.taxonomy).by_name("Trees").code in present
        assert (tree_cover in safe.get("esa_worldcover", [])) is not trees
        esri_trees = get_taxonomy("esri_lulc").by_name("Trees").code
        assert (esri_trees in safe.get("esri_lulc", [])) is not trees
        with_trees, without = with_trees + trees, without + (not trees)
    assert with_trees and without  # both cases exercised on the real chips


def test_class_sampling_is_deterministic_per_seed_and_epoch(las_root: Path) -> None:
    a, b = LASDataset(roots=las_root), LASDataset(roots=las_root)
    first = [a[i]["classes"] for i in range(len(a))]
    assert first == [b[i]["classes"] for i in range(len(b))]
    a.set_epoch(1)
    second = [a[i]["classes"] for i in range(len(a))]
    assert second != first and sorted(map(sorted, second)) != sorted(map(sorted, first))
    a.set_epoch(0)
    assert [a[i]["classes"] for i in range(len(a))] == first
    c = LASDataset(roots=las_root, seed=1)
    assert [c[i]["classes"] for i in range(len(c))] != first


def test_split_is_disjoint_complete_and_stable(las_root: Path) -> None:
    ids = {
        split: {r.point_id for r in LASDataset(roots=las_root, split=split).records}
        for split in ("train", "val", "all")
    }
    assert ids["train"] and ids["val"] and not ids["train"] & ids["val"]
    assert ids["train"] | ids["val"] == ids["all"]
    bigger = {r.point_id for r in LASDataset(roots=las_root, split="val", val_fraction=0.5).records}
    assert ids["val"] <= bigger  # raising val_fraction only moves chips train -> val
    assert all(split_of(p, seed=0, val_fraction=0.2) == "val" for p in ids["val"])
    one = {r.point_id for r in LASDataset(roots=las_root, split="val", subsets=[SUBSETS[0]]).records}
    assert one == {p for p in ids["val"] if p.startswith(SUBSETS[0])}  # per chip, not per dataset
    other_seed = {r.point_id for r in LASDataset(roots=las_root, split="val", seed=3).records}
    assert other_seed != ids["val"]


def test_sampler_batches_stack_and_cover_every_index_once(ds: LASDataset) -> None:
    sampler = SubsetBatchSampler(ds, batch_size=3, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(ds)))
    for batch in batches:
        assert len({ds.group_key(i) for i in batch}) == 1 and 1 <= len(batch) <= 3
    assert list(sampler) == batches
    sampler.set_epoch(1)
    assert list(sampler) != batches and sorted(i for b in sampler for i in b) == list(range(len(ds)))
    dropped = SubsetBatchSampler(ds, batch_size=3, drop_last=True)
    assert all(len(b) == 3 for b in dropped) and len(list(dropped)) == len(dropped) < len(sampler)
    ordered = list(SubsetBatchSampler(ds, batch_size=len(ds), shuffle=False))
    assert [i for b in ordered for i in b] == list(range(len(ds)))
    assert len(ordered) == len({ds.group_key(i) for i in range(len(ds))}) == len(SUBSETS)


def test_collate_pads_classes_and_rejects_mixed_shapes(ds: LASDataset) -> None:
    batch_idx = next(b for b in SubsetBatchSampler(ds, batch_size=4, seed=0) if len(b) == 4)
    samples = [ds[i] for i in batch_idx]
    out = collate(samples)
    ks = [len(s["classes"]) for s in samples]
    c, h, w = samples[0]["image"].shape
    assert out["image"].shape == (4, c, h, w) and out["label"].shape == out["valid"].shape == (4, h, w)
    assert out["targets"].shape == (4, max(ks), h, w) and out["presence"].shape == out["class_mask"].shape
    assert out["class_mask"].sum(1).tolist() == ks and out["wavelengths"].shape == (c,)
    for i, s in enumerate(samples):
        assert torch.equal(out["targets"][i, : ks[i]], s["targets"]) and not out["targets"][i, ks[i] :].any()
        assert torch.equal(out["presence"][i, : ks[i]], s["presence"]) and not out["class_mask"][i, ks[i] :].any()
    assert out["classes"] == [s["classes"] for s in samples] and len(out["point_id"]) == 4
    other = next(i for i in range(len(ds)) if ds.group_key(i) != ds.group_key(batch_idx[0]))
    with pytest.raises(ValueError, match="SubsetBatchSampler"):
        collate([samples[0], ds[other]])


def test_boundary_ignore_removes_only_pixels_next_to_class_edges(las_root: Path) -> None:
    plain = LASDataset(roots=las_root, subsets=[SUBSETS[0]])
    edged = LASDataset(roots=las_root, subsets=[SUBSETS[0]], ignore_boundary_px=1)
    nodata = get_taxonomy("nlcd").nodata
    assert nodata is not None
    removed_any = False
    for i in range(len(plain)):
        a, b = plain[i], edged[i]
        label = a["label"].numpy()
        labelled = label != nodata
        pad = np.pad(label, 1, constant_values=nodata)
        near_other = np.zeros(label.shape, dtype=bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                nb = pad[1 + dy : 1 + dy + label.shape[0], 1 + dx : 1 + dx + label.shape[1]]
                near_other |= (nb != label) & (nb != nodata)
        expected = a["valid"].numpy() & ~(near_other & labelled)
        assert np.array_equal(b["valid"].numpy(), expected)
        assert np.array_equal(boundary_mask(label, labelled, 1), near_other & labelled)
        assert a["classes"] == b["classes"] and torch.equal(a["targets"], b["targets"])
        removed_any |= bool((a["valid"] & ~b["valid"]).any())
    assert removed_any
    assert not boundary_mask(np.ones((4, 4), dtype=np.int64), np.ones((4, 4), dtype=bool), 2).any()


def test_bad_chips_are_skipped_with_a_warning_and_single_class_chips_work(las_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "las"
    subset = SUBSETS[1]
    shutil.copytree(las_root / subset / "chips", root / subset / "chips")
    chips = list_chips(root, subset)
    (chips[0] / "image.tif").write_bytes(b"II*\x00 this is not a GeoTIFF")
    (chips[1] / "label.tif").unlink()
    meta = json.loads((chips[2] / "meta.json").read_text())
    del meta["wavelengths_um"]
    (chips[2] / "meta.json").write_text(json.dumps(meta))
    (chips[3] / "meta.json").write_text("{ truncated")
    with rasterio.open(chips[4] / "label.tif", "r+") as dst:  # one class only
        dst.write(np.full((1, dst.height, dst.width), 2, dtype=dst.dtypes[0]))
    with pytest.warns(UserWarning) as record:
        ds = LASDataset(roots=root)
    messages = "\n".join(str(w.message) for w in record)
    for bad in chips[:4]:
        assert str(bad) in messages
    assert "wavelengths_um" in messages and "label.tif is missing" in messages
    assert len(ds) == len(chips) - 4 and len(ds.skipped) == 4
    single = ds[[r.path for r in ds.records].index(chips[4])]
    assert single["presence"].sum() == 1 and single["classes"][int(single["presence"].argmax())] == "Trees"
    assert len(single["classes"]) == 1 + ds.negatives + ds.foreign_negatives


def test_clear_errors_without_chips(tmp_path: Path, las_root: Path) -> None:
    with pytest.raises(ValueError, match=r"lslib las build") as e:
        LASDataset(roots=tmp_path)
    assert str(tmp_path) in str(e.value)
    with pytest.raises(ValueError, match="lslib las build"):
        LASDataset(roots=las_root, subsets=["mini-nonexistent"])
    with pytest.raises(ValueError, match=r"no chips for subset\(s\) \['mini-nonexistent'\]"):
        LASDataset(roots=las_root, subsets=[SUBSETS[0], "mini-nonexistent"])  # a typo never drops data silently
    with pytest.raises(ValueError, match="split"):
        LASDataset(roots=las_root, split="test")  # type: ignore[arg-type]


def test_prompt_synonyms_vary_the_wording_deterministically(las_root: Path) -> None:
    plain = LASDataset(roots=las_root)
    varied = LASDataset(roots=las_root, prompt_synonyms=True)
    changed = 0
    for i in range(len(varied)):
        a, b = plain[i], varied[i]
        assert b["classes"] == varied[i]["classes"]  # same (seed, epoch, chip): same words
        assert len(set(map(str.casefold, b["classes"]))) == len(b["classes"])  # never a name twice
        for key, name, orig in zip(b["taxonomies"], b["classes"], a["classes"], strict=True):
            entry = get_taxonomy(key).by_name(orig)
            assert name in (entry.name, *entry.synonyms)
            changed += name != orig
        assert torch.equal(a["targets"], b["targets"])  # wording only: same classes, same targets
    assert changed > 0


def test_balanced_sampler_balances_subsets_and_is_deterministic(ds: LASDataset) -> None:
    sampler = BalancedBatchSampler(ds, batch_size=2, seed=0)
    batches = list(sampler)
    assert len(batches) == len(SubsetBatchSampler(ds, batch_size=2)) and batches == list(sampler)
    for batch in batches:
        assert len({ds.group_key(i) for i in batch}) == 1 and len(set(batch)) == len(batch)
    sampler.set_epoch(1)
    assert list(sampler) != batches
    counts = Counter(ds.records[b[0]].subset for e in range(30) for b in (sampler.set_epoch(e), list(sampler))[1])
    shares = np.asarray(list(counts.values())) / sum(counts.values())
    assert len(counts) == len(SUBSETS) and shares.min() > 0.5 / len(SUBSETS)  # every subset gets its share
    assert np.all(sampler.weights >= 1.0) and np.all(sampler.weights <= 10.0)

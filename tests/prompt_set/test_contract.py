"""One prompt contract (issue 13): every door resolves prompts with lslib.prompt_set.resolve, and classes
without a colour get the colour of their nearest land-cover product class (suggest_colours)."""

from __future__ import annotations

import argparse
import colorsys
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from lslib import prompt_set as ps
from lslib.prompt_set import ClassPrompt, PromptSet
from lslib.prompt_set.colours import product_terms


def _hue_sat_val(colour: str) -> tuple[float, float, float]:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    return 360 * h, s, v


def blueish(colour: str) -> bool:  # cyan to blue, visibly coloured
    h, s, _ = _hue_sat_val(colour)
    return 170 <= h <= 250 and s >= 0.2


def greenish(colour: str) -> bool:
    h, s, _ = _hue_sat_val(colour)
    return 75 <= h <= 165 and s >= 0.2


def reddish(colour: str) -> bool:
    h, s, _ = _hue_sat_val(colour)
    return (h <= 20 or h >= 345) and s >= 0.5


def pinkish(colour: str) -> bool:  # magenta to pink: what the Tableau palette gave "sand" (#e377c2)
    h, s, _ = _hue_sat_val(colour)
    return 280 <= h < 345 and s >= 0.15


def distinct(colours: list[str]) -> bool:
    rgb = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colours], dtype=float)
    d = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1)
    return bool((d[~np.eye(len(colours), dtype=bool)] >= ps.MIN_COLOUR_DISTANCE).all())


# --- the bare-string rule ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def worldcover() -> PromptSet:
    return ps.from_taxonomy("esa_worldcover")


def _cli_prompts(text: str) -> PromptSet:
    from lslib.cli.predict import _prompts

    return _prompts(argparse.Namespace(prompt_set=None, preset=None, prompts=text))


def test_preset_key_is_the_preset_at_every_door(worldcover: PromptSet) -> None:
    pytest.importorskip("ipywidgets")
    from lslib.inference.predictor import resolve_prompts
    from lslib.mapui.prompt_editor import PromptEditor, initial_prompts

    assert len(worldcover) == 11 and worldcover.taxonomy == "esa_worldcover"
    assert worldcover.names[:2] == ["Tree cover", "Shrubland"] and worldcover.classes[0].code == 10
    for key in ("esa_worldcover", "ESA_WorldCover", "  esa_worldcover "):  # case and outer spaces ignored
        assert ps.resolve(key) == worldcover
        assert resolve_prompts(key) == worldcover  # Predictor.predict / raw
        assert initial_prompts(key) == worldcover  # MapApp(prompts=...) / PromptEditor
        assert _cli_prompts(key) == worldcover  # lslib predict --prompts esa_worldcover
    editor = PromptEditor("esa_worldcover")  # the rows keep the preset's official colours and codes
    assert [(c.name, c.colour, c.code) for c in editor.prompts] == [
        (c.name, c.colour, c.code) for c in worldcover
    ]
    # in a list, a preset key is a class name; with a comma it is one of several names
    assert ps.resolve(["esa_worldcover"]).names == ["esa_worldcover"]
    assert ps.resolve("esa_worldcover, water").names == ["esa_worldcover", "water"]


def test_tiling_resolves_a_preset_key(tmp_path: Path, worldcover: PromptSet) -> None:
    from lslib.inference.tiling.large_area import map_large_area
    from lslib.model.build import build_model

    torch.manual_seed(0)
    yy, xx = np.mgrid[0:24, 0:24].astype(np.float32)
    data = np.stack([0.1 + 0.05 * b + 0.02 * np.sin(yy / 5 + xx / 7) for b in range(4)]).astype(np.float32)
    da = xr.DataArray(
        data, dims=("band", "y", "x"),
        coords={"band": ["red", "green", "blue", "nir"], "wavelength": ("band", [0.665, 0.56, 0.49, 0.842]),
                "y": 5e6 - 10 * (np.arange(24) + 0.5), "x": 4e5 + 10 * (np.arange(24) + 0.5)},
    ).rio.write_crs("EPSG:32633")  # fmt: skip
    result = map_large_area(da, "esa_worldcover", tmp_path / "out", model=build_model("tiny"), progress=False)
    assert ps.load(result.paths["prompts"]) == worldcover
    assert json.loads(result.paths["sidecar"].read_text())["prompts"]["taxonomy"] == "esa_worldcover"
    with pytest.raises(ValueError, match="the prompt set is empty: give at least one class name"):
        map_large_area(da, " , ", tmp_path / "empty", model=build_model("tiny"), progress=False)


def test_yaml_paths(tmp_path: Path) -> None:
    path = tmp_path / "My Classes.YML"  # suffix matched in any case; spaces in the path are fine
    ps.save(ps.from_names(["water", "sand"]), path)
    expected = ps.load(path)
    assert ps.resolve(str(path)) == expected and ps.resolve(path) == expected
    assert ps.resolve(f"  {path}  ") == expected
    assert _cli_prompts(str(path)) == expected  # lslib predict --prompts my.yaml
    assert expected.names == ["water", "sand"]


def test_missing_yaml_is_file_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FileNotFoundError, match=r"no prompt-set file .*nope\.yaml.*existing YAML file"):
        ps.resolve(str(missing))
    with pytest.raises(FileNotFoundError, match=r"nope\.yml"):
        ps.resolve("nope.yml")  # relative, not there: never read as a class called "nope.yml"
    with pytest.raises(FileNotFoundError):
        ps.resolve(missing)  # a Path is always a file


def test_comma_names_and_single_names() -> None:
    assert ps.resolve("water, forest,, cropland ,").names == ["water", "forest", "cropland"]
    assert ps.resolve("forest").names == ["forest"]  # one name that is no preset: a one-class set
    assert ps.resolve("esa worldcover").names == ["esa worldcover"]  # only the exact key (any case) is the preset
    assert ps.resolve(("water", "forest")).names == ["water", "forest"]
    assert ps.resolve(["water ", " forest"]).names == ["water", "forest"]
    free = ps.resolve("water, forest")
    assert all(c.colour is None and c.code is None for c in free) and free.taxonomy is None
    given = ps.from_names(["a", "b"])
    assert ps.resolve(given) is given


@pytest.mark.parametrize("empty", ["", "   ", " , ,", [], (), ["", "  "], None])
def test_empty_says_what_to_pass(empty: object) -> None:
    with pytest.raises(ValueError, match=r"give at least one class name, e\.g\. 'water, forest'.*esa_worldcover"):
        ps.resolve(empty)  # type: ignore[arg-type]


def test_empty_cli_prompts_name_the_flag() -> None:
    with pytest.raises(ValueError, match=r"^--prompts: the prompt set is empty: give at least one class name"):
        _cli_prompts(" , ")


def test_bad_elements_and_types() -> None:
    with pytest.raises(ValueError, match=r"class 2 is int 3, not a class name: pass names as text"):
        ps.resolve(["water", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="class 1 is NoneType"):
        ps.resolve([None])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="class 2 has an empty name"):
        ps.resolve(["water", " "])  # a blank entry in an explicit list is refused, not dropped
    with pytest.raises(ValueError, match="duplicates 'Water'"):
        ps.resolve("Water, water")
    for bad in (3, {"classes": ["water"]}, {"water"}):
        with pytest.raises(TypeError, match="prompts must be a PromptSet, a YAML path, a preset key"):
            ps.resolve(bad)  # type: ignore[arg-type]


def test_duplicate_error_says_which_classes() -> None:
    with pytest.raises(ps.DuplicateNameError) as names:
        ps.from_names(["water", "forest", "Water "])
    assert (names.value.index, names.value.other_index, names.value.names) == (2, 0, True)
    assert (names.value.term, names.value.other) == ("Water", "water")
    with pytest.raises(ps.DuplicateNameError) as synonym:
        PromptSet((ClassPrompt("trees", synonyms=("woods",)), ClassPrompt("woods")))
    assert (synonym.value.index, synonym.value.other_index, synonym.value.names) == (1, 0, False)
    assert isinstance(synonym.value, ValueError)


def test_editor_duplicate_check_is_validate() -> None:
    pytest.importorskip("ipywidgets")
    from lslib.mapui.prompt_editor import PromptEditor

    editor = PromptEditor("water, forest, cropland")
    valid = editor.prompts
    editor.set_name(2, "Forest ")
    assert editor.error == (
        "class 3 'Forest' has the same name as class 2 'forest' (ignoring case, spaces and punctuation); "
        "rename one of them"
    )
    assert editor.prompts == valid
    editor.set_name(2, "cropland")
    editor.set_synonyms(0, "lake, Cropland")  # a synonym clash: validate's own words
    assert "'cropland' (class 'cropland') duplicates 'Cropland' (class 'water')" in str(editor.error)
    assert editor.prompts == valid


# --- default colours ---------------------------------------------------------------------------------------------

FREE = ["water", "forest", "sand", "built-up area", "cropland", "snow"]


def _check_sensible(coloured: PromptSet) -> dict[str, str]:
    colours = dict(zip(coloured.names, coloured.colours, strict=True))
    assert blueish(colours["water"]), colours
    assert greenish(colours["forest"]), colours
    assert reddish(colours["built-up area"]), colours
    assert not pinkish(colours["sand"]) and not pinkish(colours["cropland"]), colours
    v = _hue_sat_val(colours["snow"])[2]
    assert v >= 0.8 and not pinkish(colours["snow"]), colours  # white to ice blue
    assert distinct(list(colours.values())), colours
    assert not set(colours.values()) & set(ps.PALETTE[:8]), colours  # product colours, not the palette's
    return colours


def test_palette_colours_were_the_problem() -> None:
    plain = ps.from_names(FREE)  # palette colours go by position, not meaning
    assert plain.colours[1] == "#ff7f0e" and not greenish(plain.colours[1])  # forest orange
    assert pinkish(ps.from_names(["a", "b", "c", "d", "e", "f", "sand"]).colours[6])  # sand pink (#e377c2)


def test_lexical_suggestions() -> None:
    coloured = ps.suggest_colours(ps.from_names(FREE))
    colours = _check_sensible(coloured)
    # equally good matches agree: water is Esri/Dynamic World/TerraMesh blue, forest their tree green,
    # cropland their crop tan (the medoid of every product's cropland colour, not WorldCover's lone pink)
    assert colours["water"] == "#419bdf" and colours["forest"] == "#397d49" and colours["cropland"] == "#e49635"
    assert colours["sand"] == "#e6e6e6"  # CORINE "Beaches, dunes, sands" (synonym sand)
    assert coloured.names == FREE and all(c.code is None for c in coloured)


def test_explicit_colours_never_change_and_are_avoided() -> None:
    given = PromptSet(
        (ClassPrompt("water", colour="#419bdf"), ClassPrompt("lake"), ClassPrompt("forest", colour="#ff0000"))
    )
    out = ps.suggest_colours(given)
    assert out.classes[0].colour == "#419bdf" and out.classes[2].colour == "#ff0000"
    assert blueish(out.classes[1].colour) and distinct(out.colours)  # lake: another water blue
    full = ps.from_taxonomy("dynamic_world")
    assert ps.suggest_colours(full) is full  # nothing to colour: the same object, embed never called
    assert ps.suggest_colours(full, embed=lambda names: 1 / 0) is full


def test_no_duplicate_colours_where_avoidable() -> None:
    trees = ps.suggest_colours(ps.from_names(["forest", "woodland", "trees"]))
    assert all(greenish(c) for c in trees.colours) and distinct(trees.colours)
    waters = ps.suggest_colours(ps.from_names(["water", "lake", "ocean", "river"]))
    assert distinct(waters.colours) and blueish(waters.colours[0]) and blueish(waters.colours[1])
    many = ps.suggest_colours(ps.from_names([f"zzq{i}" for i in range(25)]))  # no product match: palette
    assert set(many.colours[:20]) == set(ps.PALETTE)  # every palette colour once before any repeats
    assert distinct(many.colours[:12])  # clearly different ones first


def test_unmatched_free_text_gets_a_palette_colour() -> None:
    out = ps.suggest_colours(ps.from_names(["water", "solar panels"]))
    assert out.colours[1] == ps.PALETTE[0]  # nothing like it in any product: the first free palette colour
    out = ps.suggest_colours(ps.from_names(["cropland", "not cropland"]))
    assert out.colours[0] != out.colours[1]  # "not cropland" is WorldCereal's class, matched by name only


def test_prefer_gives_the_product_in_use_its_own_colours() -> None:
    from lslib.taxonomy import get_taxonomy

    esri = {c.name.lower(): c.color.lower() for c in get_taxonomy("terramesh_lulc").classes}
    names = ["water", "trees", "crops", "built area", "solar panels"]
    default = ps.suggest_colours(ps.from_names(names))
    assert default.colours[1] != esri["trees"]  # without a preference: the colour most products agree on
    out = ps.suggest_colours(ps.from_names(names), prefer="terramesh_lulc")
    assert out.colours[:4] == [esri["water"], esri["trees"], esri["crops"], esri["built area"]]
    assert out.colours[4] == default.colours[4] == ps.PALETTE[0]  # matches no product class: as without prefer
    wc = ps.suggest_colours(ps.from_names(["trees", "forest"]), prefer="esa_worldcover")
    assert wc.colours[0] == "#006400" and wc.colours[1] != wc.colours[0]  # one product colour, then distinct
    given = ps.PromptSet(classes=(ps.ClassPrompt("trees", colour="#123456"), ps.ClassPrompt("water")))
    assert ps.suggest_colours(given, prefer="terramesh_lulc").colours == ["#123456", esri["water"]]
    assert ps.suggest_colours(ps.from_names(names), prefer=None) == default
    with pytest.raises(ValueError, match="not a taxonomy key"):
        ps.suggest_colours(ps.from_names(names), prefer="esri")


@pytest.fixture(scope="module")
def encoder_embed() -> Callable[[list[str]], np.ndarray]:
    """The real MiniLM text encoder (packaged, offline) of a model, through the app/CLI adapter."""
    from lslib.inference.colours import name_embedder
    from lslib.model.build import build_model

    return name_embedder(build_model("tiny"))


def test_suggestions_with_the_real_text_encoder(encoder_embed: Callable[[list[str]], np.ndarray]) -> None:
    calls: list[int] = []

    def counting(names: list[str]) -> np.ndarray:
        calls.append(len(names))
        return encoder_embed(names)

    coloured = ps.suggest_colours(ps.from_names(FREE), counting)
    _check_sensible(coloured)
    n_terms = len(product_terms()[0])
    calls.clear()
    ps.suggest_colours(ps.from_names(["lake", "woodland", "beach", "vineyard", "parking lot"]), counting)
    assert max(calls) < n_terms  # the product terms were embedded once: only probe + new names now
    # free text that no product lists word for word, matched by meaning
    out = ps.suggest_colours(ps.from_names(["lake", "woodland", "reservoir", "parking lot"]), encoder_embed)
    colours = dict(zip(out.names, out.colours, strict=True))
    assert blueish(colours["lake"]) and blueish(colours["reservoir"]) and greenish(colours["woodland"]), colours
    assert colours["parking lot"] in ps.PALETTE, colours  # nearest is 'parks' at cos 0.57: too far
    assert distinct(out.colours)


def test_a_different_encoder_is_not_served_the_cached_table(encoder_embed: Callable[[list[str]], np.ndarray]) -> None:
    ps.suggest_colours(ps.from_names(["water"]), encoder_embed)  # the MiniLM table is cached
    rng_calls: list[int] = []

    def random_embed(names: list[str]) -> np.ndarray:
        rng_calls.append(len(names))
        return np.stack([np.random.default_rng(abs(hash(n)) % 2**32).normal(size=8) for n in names])

    out = ps.suggest_colours(ps.from_names(["water", "qqq"]), random_embed)
    assert max(rng_calls) == len(product_terms()[0])  # its own table
    assert blueish(out.colours[0])  # an exact name match counts 1 whatever the encoder
    with pytest.raises(ValueError, match="one vector per name"):
        ps.suggest_colours(ps.from_names(["water"]), lambda names: np.zeros((1, 4)))


def test_adapter_leaves_the_prompt_cache_alone() -> None:
    from lslib.inference.colours import name_embedder
    from lslib.model.build import build_model

    model = build_model("tiny")
    before = model.text_encoder.cache_info()
    vectors = name_embedder(model)(["water", "forest"])
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert model.text_encoder.cache_info() == before  # the predictor's prompt vectors stay bit-identical


def test_editor_and_cli_colour_free_text_alike(tmp_path: Path, encoder_embed) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("ipywidgets")
    from lslib.cli.main import main
    from lslib.data.readers import write_geotiff
    from lslib.inference.colours import with_suggested_colours
    from lslib.mapui.prompt_editor import PromptEditor
    from lslib.model.build import build_model, save_model

    torch.manual_seed(0)
    ckpt = save_model(build_model("tiny"), tmp_path / "tiny")
    expected = with_suggested_colours(ps.resolve("water, forest, sand"), build_model("tiny"))
    assert ps.suggest_colours(ps.resolve("water, forest, sand"), encoder_embed) == expected
    preferred = with_suggested_colours(ps.resolve("water, trees"), build_model("tiny"), prefer="terramesh_lulc")
    assert preferred.colours == ["#419bdf", "#397d49"]  # Esri's Water and Trees
    editor = PromptEditor("water, forest, sand", embed=encoder_embed)
    assert editor.prompts.colours == expected.colours
    editor.add_class("built-up area")  # a new row: its suggested colour, distinct from the others
    assert reddish(editor.prompts.colours[-1]) and distinct(editor.prompts.colours)
    rng = np.random.default_rng(0)
    da = xr.DataArray(
        rng.uniform(0.02, 0.4, (4, 24, 24)).astype(np.float32), dims=("band", "y", "x"),
        coords={"band": ["red", "green", "blue", "nir"], "wavelength": ("band", [0.665, 0.56, 0.49, 0.842]),
                "y": 5e6 - 10 * (np.arange(24) + 0.5), "x": 4e5 + 10 * (np.arange(24) + 0.5)},
    ).rio.write_crs("EPSG:32633")  # fmt: skip
    image = write_geotiff(da, tmp_path / "img.tif")
    out = tmp_path / "out"
    assert main(["predict", "--image", str(image), "--prompts", "water, forest, sand", "--out", str(out),
                 "--checkpoint", str(ckpt), "-q"]) == 0  # fmt: skip
    assert ps.load(out / "prompts.yaml").colours == expected.colours

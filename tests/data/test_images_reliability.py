"""Hostile and malformed inputs: YAML alias bombs and custom tags, look-alike class names, malformed STAC items,
non-UTF-8 files, and ``lslib las report`` on a folder that is not a LAS build.

Every one must end in a short, clear error that names the file (a ValueError, exit code 2 on the CLI), fast and
in little memory; nothing in a user's YAML is executed, and no user file is overwritten.
"""

from __future__ import annotations

import copy
import importlib
import itertools
import json
import re
import time
import tracemalloc
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lslib import prompt_set as psm
from lslib.cli.main import main
from lslib.prompt_set import MAX_NAME_CHARS, ClassPrompt, DuplicateNameError, PromptSet, from_names, normalise_name
from lslib.yaml_config import MAX_QUOTE, load_yaml, parse_yaml, short

REPO = Path(__file__).resolve().parents[2]
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
#: an error message may quote a few user values (each at most MAX_QUOTE characters) and a path or two
MAX_MESSAGE = 6 * MAX_QUOTE


def bomb(levels: int = 9, width: int = 9) -> str:
    """The 'billion laughs' YAML: ``width ** levels`` strings from a few hundred bytes of nested aliases."""
    lines = ["a: &a [" + ",".join(['"lol"'] * width) + "]"]
    names = "abcdefghijklmnopqrstuvwxyz"
    for prev, name in itertools.pairwise(names[:levels]):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * width) + "]")
    # a prompt set whose classes are the expansion: a door that prints the bad entry would print all of it
    lines.append(f"classes: *{names[levels - 1]}")
    return "\n".join(lines) + "\n"


def _fast_and_small(fn: Any, exc: type[BaseException] = ValueError) -> str:
    """Run ``fn`` (expecting ``exc``); assert it took < 1 s and < 50 MB (imports included); return the message."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(exc) as info:
            fn()
    finally:
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert seconds < 1.0, f"took {seconds:.2f} s"
    assert peak < 50e6, f"peak memory {peak / 1e6:.0f} MB"
    message = str(info.value)
    assert len(message) < MAX_MESSAGE, f"{len(message)} characters: {message[:300]}..."
    return message


# --- YAML: one bounded loader for every user file ------------------------------------------------------
def test_the_bomb_is_a_few_hundred_bytes() -> None:
    assert 300 <= len(bomb().encode()) <= 400  # the report's bomb: 364 bytes


@pytest.mark.parametrize("door", ["load_yaml", "prompt_set.load", "resolve", "train config", "recipe"])
def test_alias_bomb_fails_fast_with_a_short_message(door: str, tmp_path: Path) -> None:
    from lslib.data.las.recipes import load_recipe
    from lslib.training.config import load_config

    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(), encoding="utf-8")
    fn = {
        "load_yaml": lambda: load_yaml(path),
        "prompt_set.load": lambda: psm.load(path),
        "resolve": lambda: psm.resolve(str(path)),
        "train config": lambda: load_config(path),
        "recipe": lambda: load_recipe(path),
    }[door]
    message = _fast_and_small(fn)
    assert str(path) in message and "alias" in message


def test_alias_bomb_on_the_cli_and_in_the_map_app(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb(), encoding="utf-8")
    for module in ("lslib.inference.colours", "lslib.inference.predictor", "lslib.inference.tiling.large_area"):
        importlib.import_module(module)  # imported first: the parse is timed, not the imports

    t0 = time.perf_counter()
    code = main(["predict", "--prompt-set", str(path), "--image", str(tmp_path / "x.tif"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and time.perf_counter() - t0 < 1.0
    assert len(err) < MAX_MESSAGE and str(path) in err and "alias" in err
    pytest.importorskip("ipywidgets")
    from lslib.mapui import PromptEditor

    editor = PromptEditor("water, forest")
    editor.load(path)
    assert editor.error is not None and "alias" in editor.error and len(editor.error) < MAX_MESSAGE
    assert editor.prompts.names == ["water", "forest"]


def test_aliases_within_the_budget_still_work() -> None:
    doc = parse_yaml("base: &b {lr: 0.001, steps: 3}\noptim: {<<: *b, steps: 5}\nalso: [*b, *b]\n")
    assert doc["optim"] == {"lr": 0.001, "steps": 5} and doc["also"] == [doc["base"]] * 2
    assert len(parse_yaml(bomb(levels=4, width=9))["classes"]) == 9  # 9**4 values: small enough


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a: &a [1, *a]\n", "alias refers to the value that contains it"),
        ("x: !!python/object/apply:os.system ['echo hi']\n", r"tag 'tag:yaml.org,2002:python/object/apply:os\.system'"),
        ("x: !custom 3\n", "tag '!custom' is not allowed"),
        ("[" * 3000 + "]" * 3000, "nested more than 50 levels deep"),
        ("[a," * 100_000, "nested more than 50 levels deep"),
        ("".join(" " * i + f"k{i}:\n" for i in range(200)), "nested more than 50 levels deep"),
        ("\x1f", "not valid YAML: unacceptable character #x001f"),
        ("a: 1\n---\nb: 2\n", "not valid YAML: expected a single document"),
        ("classes: [water, {name: forest\n", "not valid YAML"),
    ],
)
def test_refused_yaml(text: str, match: str) -> None:
    message = _fast_and_small(lambda: parse_yaml(text, where="f.yaml"))
    assert message.startswith("f.yaml")
    assert re.search(match, message), message


def test_python_tags_are_never_executed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"
    config = tmp_path / "evil.yaml"
    config.write_text(
        f"variant: tiny\nseed: !!python/object/apply:builtins.exec [\"open({str(marker)!r}, 'w').close()\"]\n",
        encoding="utf-8",
    )
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "not allowed" in err and "nothing was executed" in err
    prompts = tmp_path / "evil_prompts.yaml"
    prompts.write_text(f"classes: [!!python/object/new:os.system [touch {marker}]]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"evil_prompts\.yaml.*not allowed"):
        psm.load(prompts)
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("door", ["prompt_set.load", "train config", "recipe", "cli predict"])
def test_latin1_yaml_names_the_file(door: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lslib.data.las.recipes import load_recipe
    from lslib.training.config import load_config

    path = tmp_path / "latin.yaml"
    path.write_bytes("name: forêt\nclasses: [forêt, eau]\n".encode("latin-1"))
    if door == "cli predict":
        assert main(["predict", "--prompt-set", str(path), "--image", "x.tif", "--out", str(tmp_path)]) == 2
        message = capsys.readouterr().err
    else:
        fn = {"prompt_set.load": psm.load, "train config": load_config, "recipe": load_recipe}[door]
        with pytest.raises(ValueError) as info:
            fn(path)
        message = str(info.value)
    assert str(path) in message and "not UTF-8" in message and "0xea" in message


def test_utf8_bom_and_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffclasses: [forêt, eau]\n".encode())
    assert psm.load(path).names == ["forêt", "eau"]
    monkeypatch.setattr("lslib.yaml_config.MAX_YAML_BYTES", 10)
    with pytest.raises(ValueError, match=r"bom\.yaml is too large for a prompt set"):
        psm.load(path)


def test_error_messages_quote_user_input_briefly(tmp_path: Path) -> None:
    huge = "x" * 100_000
    docs = [
        {"classes": [[huge] * 50]},  # a class that is a list
        {"classes": [{"name": "water", huge: 1}]},  # an unknown key
        {"classes": huge},
        {"classes": [{"name": "water", "colour": huge}]},
        {"classes": [{"name": "water", "threshold": huge}]},
        {"classes": [{"name": "water", "synonyms": {huge: huge}}]},
        {"classes": [{"name": "water", "code": huge}]},
        {"classes": ["water", "forest"], "threshold": [huge]},
    ]
    for doc in docs:
        message = _fast_and_small(lambda doc=doc: psm.parse(doc))
        assert "xxxxx" in message or "x" * 10 not in message
    names = [f"{huge[:150]}{i}" for i in range(200)]
    with pytest.raises(KeyError) as info:
        from_names(names).without("nope")
    assert len(str(info.value)) < MAX_MESSAGE
    with pytest.raises(ValueError) as info2:
        psm.resolve(["water", [huge]])  # type: ignore[list-item]
    assert len(str(info2.value)) < MAX_MESSAGE
    assert len(short(huge)) <= MAX_QUOTE and len(short({"a": [[[[huge]]]] * 1000})) <= MAX_QUOTE


def test_training_config_errors_name_the_file(tmp_path: Path) -> None:
    from lslib.training.config import load_config

    path = tmp_path / "cfg.yaml"
    for text, match in [
        ("- a\n- b\n", r"cfg\.yaml: a training config is a mapping of settings, got list"),
        ("optim: 3\n", r"cfg\.yaml\.optim: expected a mapping, got int"),
        ("optim:\n", None),
        (f"{'k' * 1000}: 1\n", r"cfg\.yaml: unknown key\(s\)"),
        (f"{'k' * 10_000}: 1\n", r"cfg\.yaml is not valid YAML"),  # PyYAML: keys of at most 1024 characters
    ]:
        path.write_text(text, encoding="utf-8")
        if match is None:
            assert load_config(path, **{"optim.max_steps": 2}).optim.max_steps == 2
            continue
        message = _fast_and_small(lambda: load_config(path, **{"optim.max_steps": 2}))
        assert re.search(match, message), message


# --- look-alike class names -------------------------------------------------------------------------------
LOOKALIKES = [
    ("café", unicodedata.normalize("NFD", "café")),  # composed vs decomposed accent
    ("forest", "for\u200best"),  # zero-width space
    ("forest", "\ufefffor\u200dest\u00ad"),  # BOM, zero-width joiner, soft hyphen
    ("bare ground", "bare\u00a0ground"),  # no-break space
    ("bare ground", "bare\u3000ground"),  # ideographic space
    ("bare ground", "bare\u2003\u2003ground"),  # em spaces
    ("water", "ｗａｔｅｒ"),  # full-width letters
    ("water", "water\ufe0f"),  # variation selector
    ("flooded vegetation", "ﬂooded vegetation"),  # ligature
    ("Grassland", "grass\u2060land"),  # word joiner
]


@pytest.mark.parametrize(("a", "b"), LOOKALIKES)
def test_lookalike_names_are_duplicates(a: str, b: str) -> None:
    assert normalise_name(a) == normalise_name(b)
    with pytest.raises(DuplicateNameError) as info:
        from_names([a, b])
    message = str(info.value)
    assert ascii(b)[1:-1] in message or repr(b)[1:-1] in message  # both named, invisible characters shown
    assert ascii(a)[1:-1] in message or repr(a)[1:-1] in message
    assert info.value.index == 1 and info.value.other_index == 0 and info.value.names
    with pytest.raises(DuplicateNameError):  # as a synonym of another class too
        PromptSet(classes=(ClassPrompt(a), ClassPrompt("other", synonyms=(b,))))


def test_lookalike_names_in_a_yaml_file_and_in_resolve(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text('classes: [forest, "for\\u200best"]\n', encoding="utf-8")
    with pytest.raises(DuplicateNameError, match=r"for\\u200best.*duplicates 'forest'.*look-alike Unicode"):
        psm.load(path)
    with pytest.raises(DuplicateNameError):
        psm.resolve(f"water, {unicodedata.normalize('NFD', 'étang')}, étang")


def test_invisible_only_and_overlong_names() -> None:
    with pytest.raises(ValueError, match="class 2 has an empty name"):
        from_names(["water", "\u200b\u200c"])
    assert len(from_names(["x" * MAX_NAME_CHARS])) == 1
    with pytest.raises(ValueError, match=rf"the name has {MAX_NAME_CHARS + 1} characters \(at most {MAX_NAME_CHARS}\)"):
        from_names(["x" * (MAX_NAME_CHARS + 1)])
    with pytest.raises(ValueError, match=r"the synonym 'yyy.*at most"):
        PromptSet(classes=(ClassPrompt("water", synonyms=("y" * 5000,)),))
    with pytest.raises(ValueError, match="description has 5000 characters"):
        PromptSet(classes=(ClassPrompt("water", description="d" * 5000),))


def test_every_preset_is_still_valid() -> None:
    for key in psm.presets():
        assert len(psm.from_taxonomy(key)) >= 2


WORDS = st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyzéüß"), min_size=1, max_size=8)
INVISIBLE = st.sampled_from(["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\ufe0f", "\u034f"])
SPACES = st.sampled_from([" ", "\u00a0", "\u2002", "\u2003", "\u2009", "\u3000", "  ", "\t", "_", "-"])


@st.composite
def lookalike_pairs(draw: st.DrawFn) -> tuple[str, str]:
    words = draw(st.lists(WORDS, min_size=1, max_size=3))
    name = " ".join(words)
    variant = draw(SPACES).join(words)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(variant)))
        variant = variant[:at] + draw(INVISIBLE) + variant[at:]
    form = draw(st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
    variant = unicodedata.normalize(form, variant)
    if draw(st.booleans()):
        variant = variant.upper()
    if draw(st.booleans()):  # full-width ASCII letters
        variant = "".join(chr(ord(c) + 0xFEE0) if "a" <= c <= "z" or "A" <= c <= "Z" else c for c in variant)
    return name, variant


@SETTINGS
@given(lookalike_pairs())
def test_lookalike_names_are_always_refused(pair: tuple[str, str]) -> None:
    name, variant = pair
    assert normalise_name(variant) == normalise_name(name)
    with pytest.raises(DuplicateNameError) as info:
        from_names([name, "other class", variant])
    assert info.value.index == 2 and info.value.other_index == 0 and len(str(info.value)) < MAX_MESSAGE


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_normalise_name_is_idempotent(text: str) -> None:
    key = normalise_name(text)
    assert normalise_name(key) == key


@SETTINGS
@given(levels=st.integers(1, 12), width=st.integers(1, 12))
def test_alias_expansion_is_bounded(levels: int, width: int) -> None:
    from lslib.yaml_config import MAX_YAML_VALUES

    sizes = [1 + width]  # values in level k's list, its aliases expanded
    for _ in range(levels - 1):
        sizes.append(1 + width * sizes[-1])
    expanded = 1 + (levels + 1) + sum(sizes) + sizes[-1]  # the mapping, its keys, each level, classes: *top
    t0 = time.perf_counter()
    try:
        doc = parse_yaml(bomb(levels, width), where="b.yaml")
    except ValueError as exc:
        assert expanded > MAX_YAML_VALUES and "alias" in str(exc) and len(str(exc)) < MAX_MESSAGE
    else:
        assert expanded <= MAX_YAML_VALUES and len(doc["classes"]) == width
    assert time.perf_counter() - t0 < 1.0


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60) | st.binary(max_size=60).map(lambda b: b.decode("latin-1")))
def test_any_text_is_yaml_or_a_value_error(text: str) -> None:
    try:
        parse_yaml(text, where="t.yaml")
    except ValueError as exc:
        assert str(exc).startswith("t.yaml") and len(str(exc)) < MAX_MESSAGE


# --- malformed STAC items ---------------------------------------------------------------------------
def valid_item() -> dict[str, Any]:
    band = {"name": "B04", "common_name": "red", "center_wavelength": 0.665}
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": "chip",
        "geometry": {"type": "Polygon", "coordinates": [[[9, 45], [9.1, 45], [9.1, 45.1], [9, 45.1], [9, 45]]]},
        "bbox": [9, 45, 9.1, 45.1],
        "properties": {"datetime": "2020-06-01T00:00:00Z", "proj:code": "EPSG:32632"},
        "links": [],
        "assets": {
            "red": {
                "href": "red.tif",
                "type": "image/tiff; application=geotiff",
                "eo:bands": [band],
                "raster:bands": [{"scale": 1e-4, "offset": 0, "nodata": 0}],
                "proj:shape": [10, 10],
                "proj:transform": [10, 0, 500000, 0, -10, 5000000],
            }
        },
    }


def _bad(**changes: Any) -> dict[str, Any]:
    doc = valid_item()
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = doc
        for p in parents:
            target = target[p]
        if value is ...:
            del target[leaf]
        else:
            target[leaf] = value
    return doc


MALFORMED: dict[str, tuple[bytes, str]] = {
    "list": (b"[1, 2]", "a STAC item is a JSON object .*not list"),
    "string": (b'"item"', "not str"),
    "not json": (b"{not json", r"not valid JSON \(Expecting property name.* line 1, column 2\)"),
    "empty": (b"", "not valid JSON"),
    "latin-1": ('{"id": "forêt"}'.encode("latin-1"), "not UTF-8 text"),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|not a STAC item|not valid JSON"),
    "collection": (
        json.dumps({"type": "FeatureCollection", "features": [valid_item()] * 2}).encode(),
        "FeatureCollection of 2 features",
    ),
    "catalog": (json.dumps({"type": "Catalog", "id": "c"}).encode(), "'type' is 'Catalog', not 'Feature'"),
    "no type": (json.dumps(_bad(type=...)).encode(), "'type' is None"),
    "no id": (json.dumps(_bad(id=...)).encode(), "has no 'id'"),
    "no assets": (json.dumps(_bad(assets=...)).encode(), "has no 'assets'"),
    "no properties": (json.dumps(_bad(properties=...)).encode(), "has no 'properties'"),
    "no stac_version": (json.dumps(_bad(stac_version=...)).encode(), "has no 'stac_version'"),
    "id a number": (json.dumps(_bad(id=3)).encode(), "'id' must be non-empty text"),
    "assets a list": (json.dumps(_bad(assets=[1])).encode(), "'assets' must be an object"),
    "asset a number": (json.dumps(_bad(assets__red=3)).encode(), "asset 'red' must be an object"),
    "asset without href": (json.dumps(_bad(assets__red__href=...)).encode(), "asset 'red' has no 'href'"),
    "properties a list": (json.dumps(_bad(properties=[])).encode(), "'properties' must be an object"),
    "links a dict": (json.dumps(_bad(links={})).encode(), "'links' must be a list"),
    "eo:bands a string": (
        json.dumps(_bad(**{"assets__red__eo:bands": "B04"})).encode(),
        "eo:bands must be a list of band objects",
    ),
    "wavelength text": (
        json.dumps(_bad(**{"assets__red__eo:bands": [{"center_wavelength": "red"}]})).encode(),
        r"center_wavelength must be a number, got 'red'",
    ),
    "scale text": (
        json.dumps(_bad(**{"assets__red__raster:bands": [{"scale": "x"}]})).encode(),
        "scale must be a number",
    ),
    "shape": (json.dumps(_bad(**{"assets__red__proj:shape": [10]})).encode(), "proj:shape must be"),
    "transform": (json.dumps(_bad(**{"assets__red__proj:transform": ["a"] * 6})).encode(), "proj:transform must be"),
    "epsg": (json.dumps(_bad(**{"properties__proj:epsg": "x"})).encode(), "proj:epsg must be an integer"),
    "no datetime": (json.dumps(_bad(properties={})).encode(), "not a STAC item pystac can read"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_stac_item_file(case: str, tmp_path: Path) -> None:
    from lslib.data.images import open_image
    from lslib.data.readers.stac_item import as_item

    raw, match = MALFORMED[case]
    path = tmp_path / "item.json"
    path.write_bytes(raw)
    for fn in (as_item, open_image):
        message = _fast_and_small(lambda fn=fn: fn(path), ValueError)
        assert str(path) in message, message
        assert re.search(match, message), message


def test_malformed_stac_item_on_the_cli_and_in_the_map_app(tmp_path: Path) -> None:
    import pystac

    from lslib.data.readers.stac_item import as_item, item_bands, item_geobox
    from lslib.inference.tiling.sources import open_source
    from lslib.mapui.imagery import load_stac_item

    path = tmp_path / "item.json"
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match=r"item\.json: a STAC item is a JSON object"):
        open_source(path, chunk=32)  # what `lslib predict --image item.json` opens
    good = tmp_path / "good.json"
    good.write_text(json.dumps(valid_item()), encoding="utf-8")
    item = as_item(good)
    assert [b.name for b in item_bands(item)] == ["B04"] and item_geobox(item, ["red"]).shape == (10, 10)
    # an item from an API (no file) whose fields are malformed: the map app's loader says what is wrong
    item = pystac.Item.from_dict(valid_item())
    item.assets["red"].extra_fields["eo:bands"] = "B04"
    with pytest.raises(ValueError, match=r"STAC item 'chip'.*eo:bands must be a list of band objects"):
        load_stac_item(item)
    item = pystac.Item.from_dict(valid_item())
    item.assets["red"].extra_fields["proj:transform"] = [1, 2]
    with pytest.raises(ValueError, match="proj:transform must be 6"):
        load_stac_item(item)
    item = pystac.Item.from_dict(_bad(**{"properties__proj:code": "EPSG:nope"}))
    with pytest.raises(ValueError, match="'EPSG:nope' is not a CRS"):
        item_geobox(item, ["red"])
    with pytest.raises(ValueError, match="the STAC item dict: 'type' is"):
        as_item({"assets": {}})


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    ["type", "stac_version", "id", "properties", "assets", "links", "bbox", "stac_extensions", "assets__red",
     "assets__red__href", "assets__red__eo:bands", "assets__red__raster:bands", "assets__red__proj:shape",
     "assets__red__proj:transform", "properties__datetime", "properties__proj:code", "properties__proj:epsg"]
)  # fmt: skip


@SETTINGS
@given(changes=st.dictionaries(FIELDS, JSONISH | st.just(...), min_size=1, max_size=3))
def test_malformed_stac_items_raise_value_error_only(changes: dict[str, Any], tmp_path_factory: Any) -> None:
    from lslib.data.readers.stac_item import as_item, item_bands, item_geobox

    try:
        doc = _bad(**changes)
    except (KeyError, TypeError, IndexError):  # a change below one that removed or replaced its parent
        return
    path = Path(tmp_path_factory.mktemp("stac")) / "item.json"
    path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
    for source in (path, copy.deepcopy(doc)):
        try:
            item = as_item(source)
            bands = item_bands(item)
            item_geobox(item, sorted({b.odc_name.split(".")[0] for b in bands}))
        except ValueError as exc:
            assert len(str(exc)) < MAX_MESSAGE
            if isinstance(source, Path):
                assert str(path) in str(exc) or "STAC item" in str(exc)


# --- lslib las report: never into a folder that is not a LAS build ----------------------------------------
def test_las_report_refuses_a_folder_that_is_not_a_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lslib.data.las.report import NotALasBuildError, las_report

    mine = tmp_path / "my-notes"
    (mine / "drafts").mkdir(parents=True)
    (mine / "report.md").write_text("# my thesis report\n", encoding="utf-8")
    (mine / "report.json").write_text('{"mine": true}', encoding="utf-8")
    (mine / "drafts" / "chips").mkdir()  # a folder that happens to be called chips is no build
    before = {p.name: p.read_bytes() for p in mine.iterdir() if p.is_file()}
    assert main(["las", "report", "--out", str(mine)]) == 2
    err = capsys.readouterr().err
    assert "not a LAS build folder" in err and str(mine) in err and "untouched" in err
    with pytest.raises(NotALasBuildError):
        las_report(mine)
    assert {p.name: p.read_bytes() for p in mine.iterdir() if p.is_file()} == before
    assert not (mine / "index.parquet").exists() and not (mine / "report.png").exists()


def test_las_report_of_a_build_without_chips_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lslib.data.las.report import is_las_build

    (tmp_path / "mini-x").mkdir()
    assert not is_las_build(tmp_path)
    (tmp_path / "mini-x" / "points.parquet").write_bytes(b"")  # as `lslib las sample` leaves it
    assert is_las_build(tmp_path)
    assert main(["las", "report", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "# LAS build report" in captured.out and "lslib las build --out" in captured.err
    assert (tmp_path / "report.json").exists()

"""The layer rule of lslib, read from the source with ``ast`` (nothing is imported, so it is fast and total).

Every ``import`` counts: at module level, inside functions and under ``if TYPE_CHECKING:`` (a type-only
import is still a coupling), plus ``importlib.import_module("lslib....")`` with a literal name. A module's
import of one of its own parent packages is not an arrow (Python runs the parents first anyway).

Rules (issue 15):

1. every module belongs to exactly one layer of :data:`LAYERS` and imports only its own layer and the
   layers that table lets it import (lslib never imports the notebooks, bench or tests);
2. no cycle between modules (strongly connected components of the import graph);
3. no private name crosses a module boundary: no ``from lslib.x import _y``, no ``module._y`` on an
   imported lslib module, no ``getattr(obj, "_y")`` on another object, no ``self.other._y`` (a
   collaborator's private state). Make the name public or move the code.

Nothing is allow-listed silently: :data:`KNOWN` names each violation that stays for now, with the reason;
a listed violation that is gone fails the test too (as ``xfail(strict=True)`` would), so the list only shrinks.
``python /work/shared/hooks/import_layers.py lslib`` checks a subset of the same rules in CI.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "lslib"

#: The layers, lowest first: ``name: (modules (exact names or fnmatch patterns), layers it may import)``.
#: A module may always import its own layer. Exact names win over patterns (``lslib.default_model``).
#:
#: - vocabulary: class names, products, prompt sets, and the two dependency-free utilities (atomic file
#:   writes, config checks) that every layer uses.
#: - data: files, STAC, readers, LAS construction. Knows no model.
#: - model: the network (tensors in, tensors out). Reads no files of the data layer (the hook checks it too).
#: - fusion: turning the model's scores into classes (``lslib.fusion``) and measuring classes against a
#:   reference (``lslib.metrics``): below both training and the map app, which both score maps.
#: - inference: the predictor and tiled mapping. Never imports training (nor the map app, nor the app).
#: - training: datasets, losses, the trainer, evaluation, baselines. Above inference: an evaluation may run
#:   the predictor; the predictor never depends on training code.
#: - mapui: the interactive map, and ``lslib.viz`` (plots shared by the map, the demo and the notebooks).
#:   Uses the predictor, never training: metrics come from ``lslib.metrics``.
#: - app: the doors users call (CLI, ``python -m lslib``, the demo) and the *default model*
#:   (``lslib.default_model``: the released checkpoint and its retraining). Only the app chooses a default
#:   model; ``Predictor(model)`` requires one. Above everything in lslib; the notebooks sit above the app.
#:   The package root ``lslib`` is in the app layer: it re-exports (lazily) the handful of names a notebook
#:   needs from every layer; no module of the package imports it (a submodule's parent import is not counted).
LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vocabulary": (
        ("lslib.taxonomy", "lslib.taxonomy.*", "lslib.prompt_set", "lslib.prompt_set.*", "lslib.atomic",
         "lslib.yaml_config"),
        (),
    ),
    "data": (("lslib.data", "lslib.data.*"), ("vocabulary",)),
    "model": (("lslib.model", "lslib.model.*"), ("vocabulary",)),
    "fusion": (("lslib.fusion", "lslib.metrics"), ("vocabulary", "model")),
    "inference": (("lslib.inference", "lslib.inference.*"), ("vocabulary", "data", "model", "fusion")),
    "training": (("lslib.training", "lslib.training.*"), ("vocabulary", "data", "model", "fusion", "inference")),
    "mapui": (("lslib.mapui", "lslib.mapui.*", "lslib.viz"), ("vocabulary", "data", "model", "fusion", "inference")),
    "app": (
        ("lslib", "lslib.__main__", "lslib.cli", "lslib.cli.*", "lslib.demo", "lslib.demo.*", "lslib.default_model"),
        ("vocabulary", "data", "model", "fusion", "inference", "training", "mapui"),
    ),
}

#: Violations that stay for now: the message the test prints -> why it stays (with a comment naming the issue
#: and the fix). Remove an entry with the change that fixes it. Empty: lslib keeps every rule. Example:
#:     "cycle: lslib.inference.tiling.large_area <-> lslib.inference.tiling.parallel": "issue 15: tiling's _Mapper",
KNOWN: dict[str, str] = {}


# --- reading the sources -------------------------------------------------------------------------------------
def _modules() -> dict[str, Path]:
    mods = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in MODULES.items()}
#: top-level names lslib must never import: the repository's other code
OUTSIDE = {"notebooks", "bench", "tests", *(p.stem for p in (REPO / "notebooks" / "src").glob("*.py"))}


@dataclass(frozen=True)
class Import:
    module: str  # the lslib module imported (resolved to the longest existing module)
    names: tuple[str, ...]  # the names taken from it (``from m import a, b``), empty for ``import m``
    line: int


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _owner(dotted: str) -> str | None:
    """The longest lslib module that ``dotted`` names or lies in (``lslib.x.f`` -> ``lslib.x``)."""
    while dotted and dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def _raw_imports(name: str) -> Iterator[tuple[str, tuple[str, ...], int]]:
    """``(module, names, line)`` for every import statement of module ``name``, relative ones resolved."""
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, (), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if _is_package(name) else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            yield source, tuple(a.name for a in node.names), node.lineno
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value, (), node.lineno


@functools.cache
def imports(name: str) -> tuple[Import, ...]:
    """The lslib modules ``name`` imports (``from pkg import submodule`` is an import of the submodule)."""
    out = []
    for source, names, line in _raw_imports(name):
        if not source.startswith("lslib"):
            continue
        owner = _owner(source)
        assert owner is not None, f"{name}:{line} imports {source}, which is not an lslib module"
        submodules = [f"{source}.{n}" for n in names if f"{source}.{n}" in MODULES]
        for sub in submodules:
            out.append(Import(sub, (), line))
        taken = tuple(n for n in names if f"{source}.{n}" not in MODULES)
        if taken or not names:
            out.append(Import(owner, taken, line))
    return tuple(out)


def _parent_of(module: str, target: str) -> bool:
    return module.startswith(target + ".") and _is_package(target)


@functools.cache
def graph() -> dict[str, frozenset[str]]:
    """Module -> the lslib modules it imports (imports of its own parent packages left out)."""
    return {
        m: frozenset(i.module for i in imports(m) if i.module != m and not _parent_of(m, i.module)) for m in MODULES
    }


def layer_of(module: str) -> str | None:
    exact = [layer for layer, (patterns, _) in LAYERS.items() if module in patterns]
    if exact:
        return exact[0]
    found = [layer for layer, (patterns, _) in LAYERS.items() if any(fnmatch.fnmatchcase(module, p) for p in patterns)]
    return found[0] if len(found) == 1 else None


def cycles(edges: Mapping[str, Collection[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def _private(name: str) -> bool:
    """``_x`` but not ``__dunder__`` nor IPython's display protocol (``_repr_html_``, ``_repr_mimebundle_``)."""
    return name.startswith("_") and not name.startswith("__") and not (name.startswith("_repr_") and name.endswith("_"))


@functools.cache
def private_uses(name: str) -> tuple[str, ...]:
    """Each private name of another module or object that module ``name`` reaches."""
    return tuple(_private_uses(name))


def _bound_modules(name: str) -> dict[str, str]:
    """Local name -> the lslib module it is bound to, for every ``import``/``from`` import of module ``name``."""
    bound: dict[str, str] = {}
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("lslib") and alias.name in MODULES:
                    bound[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lslib"):
            for alias in node.names:
                if f"{node.module}.{alias.name}" in MODULES:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def _is_private_getattr(node: ast.AST) -> bool:
    """``getattr``/``hasattr``/``setattr`` of a literal private name on an object other than ``self``/``cls``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "hasattr", "setattr")
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
        and _private(node.args[1].value)
        and not (isinstance(node.args[0], ast.Name) and node.args[0].id in ("self", "cls"))
    )


def _private_uses(name: str) -> Iterator[str]:
    for imp in imports(name):
        for taken in imp.names:
            if _private(taken) and imp.module != name:
                yield f"private: {name} imports {taken} from {imp.module}"
    bound = _bound_modules(name)
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            value = node.value
            if isinstance(value, ast.Name) and value.id in bound and bound[value.id] != name:
                yield f"private: {name} reads {bound[value.id]}.{node.attr}"
            elif isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name) and value.value.id == "self":
                yield f"private: {name}:{node.lineno} reaches self.{value.attr}.{node.attr}"
        elif _is_private_getattr(node):
            yield f"private: {name}:{node.lineno} {node.func.id}(..., {node.args[1].value!r}) on another object"


def _check(found: list[str], kind: str) -> None:
    """Fail on any violation of ``kind`` not in :data:`KNOWN`."""
    new = sorted(v for v in found if v not in KNOWN)
    assert not new, f"{len(new)} {kind}:\n" + "\n".join(new)


# --- the rules -----------------------------------------------------------------------------------------------
def test_every_module_has_one_layer() -> None:
    missing = sorted(m for m in MODULES if layer_of(m) is None)
    assert not missing, f"modules without a layer (add them to LAYERS in {Path(__file__).name}): {missing}"
    for layer, (_, allowed) in LAYERS.items():
        assert layer not in allowed and set(allowed) <= set(LAYERS), layer


def test_layers_form_an_order() -> None:
    """What a layer may import, it may import transitively: the table has no loop and no gap."""
    order = list(LAYERS)
    for layer, (_, allowed) in LAYERS.items():
        assert all(order.index(a) < order.index(layer) for a in allowed), f"{layer} may import a higher layer"
        for lower in allowed:
            assert set(LAYERS[lower][1]) <= set(allowed), f"{layer} may import {lower} but not all it imports"


def test_no_import_against_the_layers() -> None:
    bad = []
    for module, targets in graph().items():
        layer = layer_of(module)
        if layer is None:
            continue
        allowed = {layer, *LAYERS[layer][1]}
        for target in sorted(targets):
            if layer_of(target) not in allowed:
                lines = sorted({i.line for i in imports(module) if i.module == target})
                bad.append(f"layers: {module} ({layer}) imports {target} ({layer_of(target)}) at line(s) {lines}")
    _check(bad, "imports against the layers")


def test_lslib_never_imports_the_notebooks_bench_or_tests() -> None:
    bad = [
        f"{m}:{line} imports {source}"
        for m in MODULES
        for source, _, line in _raw_imports(m)
        if source.split(".")[0] in OUTSIDE
    ]
    assert not bad, bad


def test_no_import_cycles() -> None:
    found = [f"cycle: {' <-> '.join(c)}" for c in cycles(graph())]
    _check(found, "import cycles")


def test_no_private_names_across_modules() -> None:
    found = [v for m in MODULES for v in private_uses(m)]
    _check(found, "private names used across modules")


def test_known_exceptions_still_exist() -> None:
    """Strict, like ``xfail(strict=True)``: a fixed violation must leave :data:`KNOWN` with its fix."""
    edges = graph()
    current = {f"cycle: {' <-> '.join(c)}" for c in cycles(edges)}
    current |= {v for m in MODULES for v in private_uses(m)}
    gone = sorted(set(KNOWN) - current)
    assert not gone, f"fixed, so remove from KNOWN in {Path(__file__).name}: {gone}"


# --- the checker itself ---------------------------------------------------------------------------------------
def test_the_checker_sees_every_kind_of_import() -> None:
    """Function-level and TYPE_CHECKING imports count, ``from pkg import submodule`` reaches the submodule."""
    edges = graph()
    assert "lslib.data.images" in edges["lslib.data"]  # only under TYPE_CHECKING (and import_module at runtime)
    assert "lslib.mapui.analysis" in edges["lslib.mapui.app"]  # only inside methods
    assert "lslib.mapui.render" in edges["lslib.mapui.app"]  # ``from lslib.mapui import render as R``
    assert "lslib.mapui" not in edges["lslib.mapui.app"]  # its own package is no arrow


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_cycle_finder(edges: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(edges) == expected

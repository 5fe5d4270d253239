"""Reading user YAML safely, and building frozen dataclasses from YAML mappings with errors that name the bad field.

:func:`load_yaml` is the one YAML reader for files a user gives (prompt sets, training configs, recipes): plain
YAML only (no ``!!python/...`` or other custom tags, nothing executed), UTF-8, at most :data:`MAX_YAML_BYTES`,
and at most :data:`MAX_YAML_VALUES` values once anchors/aliases are expanded, so a few hundred bytes of nested
aliases (a "billion laughs" bomb) are refused in milliseconds instead of expanding into gigabytes. Every
error is a ValueError naming the file. :func:`short` bounds what an error message quotes of user input.
"""

from __future__ import annotations

import reprlib
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

#: larger YAML files are refused before parsing (prompt sets, configs and recipes are a few kB)
MAX_YAML_BYTES = 2_000_000
#: most values (scalars, lists, mappings) a YAML document may hold with every alias expanded
MAX_YAML_VALUES = 200_000
#: deepest nesting of lists/mappings (PyYAML's scanner is quadratic in the depth of ``[[[[...``)
MAX_YAML_DEPTH = 50
#: most characters of user input quoted in an error message
MAX_QUOTE = 200

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = MAX_QUOTE - 20
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8
_REPR.maxlevel = 3
# every tag the safe loader can build, plus the merge key ``<<``; anything else (!!python/object, !custom) is refused
_PLAIN_TAGS = frozenset(k for k in yaml.SafeLoader.yaml_constructors if k) | {"tag:yaml.org,2002:merge"}


def short(value: Any, limit: int = MAX_QUOTE) -> str:
    """``repr(value)`` for an error message, at most ``limit`` characters (long strings, lists, nesting elided)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a hostile __repr__: say what it is instead
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shorten(text: str, limit: int = MAX_QUOTE) -> str:
    """``text`` cut to at most ``limit`` characters (with ``...``), e.g. a parser's message quoting the input."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _TooDeep(Exception):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing nesting deeper than MAX_YAML_DEPTH while scanning ``[``/``{`` and composing."""

    _depth = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self.flow_level >= MAX_YAML_DEPTH:  # the scanner looks ahead up to 1024 characters per level
            raise _TooDeep
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise _TooDeep
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_graph(root: yaml.Node, where: str) -> None:
    """Refuse custom tags, recursive aliases and documents of more than MAX_YAML_VALUES expanded values.

    Iterative and memoised per node, so the cost is that of the distinct nodes, not of the expansion.
    """
    size: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            active.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > MAX_YAML_VALUES:
                raise ValueError(
                    f"{where}: the YAML expands to more than {MAX_YAML_VALUES:,} values (anchors &x reused with "
                    "aliases *x, nested: an alias bomb?); write the values out or use fewer aliases"
                )
            continue
        if key in size:
            continue
        if key in active:
            raise ValueError(f"{where}: line {node.start_mark.line + 1}: an alias refers to the value that contains it")
        if node.tag not in _PLAIN_TAGS:
            raise ValueError(
                f"{where}: line {node.start_mark.line + 1}: the tag {shorten(node.tag, 80)!r} is not allowed (plain "
                "YAML only: mappings, lists, text, numbers, true/false, dates); nothing was executed"
            )
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in reversed(children))


def parse_yaml(text: str, *, where: str = "YAML") -> Any:
    """The plain data of one YAML document (``None`` when empty), read with the bounds of :func:`load_yaml`.

    Raises:
        ValueError: invalid YAML, more than one document, a custom tag, a recursive alias, too many values
            once aliases are expanded, or nesting too deep; the message starts with ``where``.
    """
    loader = None
    try:
        loader = _BoundedLoader(text)  # checks the characters: may raise already
        loader.name = where  # marks in parser messages name the file, not "<unicode string>"
        node = loader.get_single_node()
        if node is None:
            return None
        _check_graph(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        message = str(exc).replace('"<unicode string>"', f'"{where}"')
        raise ValueError(f"{where} is not valid YAML: {shorten(message, 2 * MAX_QUOTE)}") from None
    except (_TooDeep, RecursionError):
        raise ValueError(f"{where}: the YAML is nested more than {MAX_YAML_DEPTH} levels deep") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml(path: str | Path, *, what: str = "YAML file") -> Any:
    """Read a user's YAML file safely: UTF-8 (a BOM is allowed), plain tags only, bounded size and expansion.

    Raises:
        FileNotFoundError: no such file.
        ValueError: larger than :data:`MAX_YAML_BYTES`, not UTF-8, or refused by :func:`parse_yaml`; the
            message names the file.
    """
    path = Path(path)
    with path.open("rb") as f:
        raw = f.read(MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        raise ValueError(
            f"{path} is too large for a {what} (more than {MAX_YAML_BYTES:,} bytes); is it the right file?"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}, e.g. a Latin-1 "
            "accent); save the file as UTF-8"
        ) from None
    return parse_yaml(text, where=str(path))


def from_mapping(cls: type[Any], doc: Any, where: str, *, none_is_default: bool = False) -> Any:
    """``cls(**doc)`` for a dataclass, after checking ``doc`` is a mapping of known fields.

    Lists become tuples (frozen dataclasses stay hashable). ``none_is_default``: ``None`` gives ``cls()``.

    Raises:
        ValueError: not a mapping, unknown keys (listing the valid ones), or a missing/invalid field.
    """
    if doc is None and none_is_default:
        return cls()
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(doc).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(map(str, doc)) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {short(unknown)}; valid: {sorted(names)}")
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()})
    except TypeError as exc:
        raise ValueError(f"{where}: {shorten(str(exc))}") from exc

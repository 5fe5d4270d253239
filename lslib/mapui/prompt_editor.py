"""The prompt editor: one row of widgets per class, presets, YAML load/save, validation shown in the panel.

Each row holds the class name, synonyms (comma-separated), a description, a colour picker, a threshold
slider, a move-up and a remove button. Text boxes use ``continuous_update=False``: an edit is committed on
Enter or when the box loses focus, so typing a new name re-encodes one prompt and re-renders once.

Every committed edit builds a candidate :class:`~lslib.prompt_set.PromptSet` from the rows. A valid one that
differs from the current set becomes current and is sent to the ``on_change`` callbacks (exactly one call per
edit); an invalid one (blank or duplicate names after normalisation, more than 200 classes, a bad colour)
shows the reason in the panel's message line and leaves the current set - and hence the map - unchanged.
Programmatic methods (:meth:`PromptEditor.set_name`, :meth:`add_class`, ...) go through the same widgets and
the same path as typing.

What the editor starts from follows the one prompt rule (:func:`lslib.prompt_set.resolve`), and classes that
come without a colour (free text, a YAML without colours, a new row) get the colour of their nearest product
class (:func:`lslib.prompt_set.suggest_colours`; the map app embeds with its model's text encoder).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import ipywidgets as w

from lslib import prompt_set as psm
from lslib.mapui.common import guarded, message_html
from lslib.prompt_set import ClassPrompt, PromptSet

ChangeCallback = Callable[[PromptSet], None]
#: colours for new rows: the prompt-set palette (Tableau 20), skipping colours already in use
_PALETTE = psm.PALETTE


def initial_prompts(prompts: PromptSet | Sequence[str] | str | os.PathLike[str]) -> PromptSet:
    """The editor's initial prompt set.

    A PromptSet, a YAML path, a taxonomy preset key (``"esa_worldcover"``), ``"a, b, c"`` or names -> a set:
    the one prompt rule of every door, :func:`lslib.prompt_set.resolve`.
    """
    return psm.resolve(prompts)


def _to_hex(colour: str) -> str:
    from matplotlib.colors import to_hex

    try:
        return str(to_hex(colour)).lower()
    except ValueError:
        raise ValueError(f"{colour!r} is not a colour: pick one or type '#rrggbb'") from None


class _Row:
    """The widgets of one class; ``code`` (a preset's product code) is dropped once the name is edited."""

    def __init__(self, prompt: ClassPrompt, colour: str, set_threshold: float, *, auto: bool = False) -> None:
        self.code = prompt.code
        #: the colour was suggested (not given by the user or the prompt set): it follows a rename
        self.auto = auto
        self.origin = psm.normalise_name(prompt.name)
        lay = w.Layout
        self.name = w.Text(
            value=prompt.name, placeholder="class name", continuous_update=False, layout=lay(width="170px")
        )
        self.name.add_class("lslib-prompt-name")
        self.synonyms = w.Text(
            value=", ".join(prompt.synonyms),
            placeholder="synonyms, comma-separated",
            continuous_update=False,
            layout=lay(width="170px"),
        )
        self.description = w.Text(
            value=prompt.description or "",
            placeholder="description",
            continuous_update=False,
            layout=lay(width="190px"),
        )
        self.colour = w.ColorPicker(value=colour, concise=True, layout=lay(width="36px"))
        value = set_threshold if prompt.threshold is None else prompt.threshold
        self.threshold = w.FloatSlider(
            value=value,
            min=0.0,
            max=1.0,
            step=0.01,
            continuous_update=False,
            readout_format=".2f",
            description="thr",
            layout=lay(width="190px"),
        )
        self.threshold.style.description_width = "24px"
        self.up = w.Button(icon="arrow-up", tooltip="move up", layout=lay(width="34px"))
        self.remove = w.Button(icon="trash", tooltip="remove this class", layout=lay(width="34px"))
        self.box = w.HBox(
            [self.name, self.synonyms, self.description, self.colour, self.threshold, self.up, self.remove]
        )
        self.box.add_class("lslib-prompt-row")

    def prompt(self, set_threshold: float) -> ClassPrompt:
        name = self.name.value.strip()
        if self.code is not None and psm.normalise_name(name) != self.origin:
            self.code = None  # renamed: no longer the preset's class
        thr = float(self.threshold.value)
        return ClassPrompt(
            name=name,
            synonyms=tuple(s.strip() for s in self.synonyms.value.split(",") if s.strip()),
            description=self.description.value.strip() or None,
            colour=_to_hex(self.colour.value),
            threshold=None if abs(thr - set_threshold) < 1e-9 else thr,
            code=self.code,
        )

    def watch(self, handler: Callable[..., None]) -> None:
        for widget in (self.name, self.synonyms, self.description, self.colour, self.threshold):
            widget.observe(handler, names="value")


class PromptEditor:
    """Widget-editable prompt set. ``prompts``: the last valid set; ``error``: the current problem or None.

    Args:
        prompts: the initial set (:func:`initial_prompts`: a PromptSet, a YAML path, a preset key, names or
            ``"a, b, c"``).
        on_change: called with the new PromptSet after each valid edit (more with :meth:`on_change`).
        embed: ``names -> (N, D)`` text embeddings for the colours of classes without one
            (:func:`lslib.prompt_set.suggest_colours`); ``None``: lexical matching.
        prefer: the taxonomy key of the product in use (the map's reference): a new class matching one of its
            classes takes that class's colour (``prefer`` of :func:`~lslib.prompt_set.suggest_colours`);
            ``None``: the product of the prompt set's preset, if any. Settable later (``editor.prefer``).
    """

    def __init__(
        self,
        prompts: PromptSet | Sequence[str] | str | os.PathLike[str],
        on_change: ChangeCallback | None = None,
        *,
        embed: psm.Embed | None = None,
        prefer: str | None = None,
    ) -> None:
        self._embed = embed
        self.prefer = prefer
        initial = initial_prompts(prompts)
        first = self._suggest(initial)
        self._callbacks: list[ChangeCallback] = [on_change] if on_change else []
        self._rows: list[_Row] = []
        self._muted = 0
        self._recolouring = False
        self._prompts = first
        self.error: str | None = None
        self.changes = 0
        self._meta = (first.name, first.threshold, first.taxonomy)
        self.message = w.HTML()
        self.message.add_class("lslib-prompt-error")
        self._rows_box = w.VBox()
        self._new_name = w.Text(placeholder="new class name", continuous_update=False, layout=w.Layout(width="170px"))
        self._add_button = w.Button(description="add class", icon="plus")
        self._preset = w.Dropdown(
            options=[("preset…", ""), *[(k, k) for k in psm.presets()]], value="", layout=w.Layout(width="200px")
        )
        self._path = w.Text(value="prompts.yaml", placeholder="prompt-set YAML path", layout=w.Layout(width="260px"))
        self._load_button = w.Button(description="load", icon="folder-open", layout=w.Layout(width="80px"))
        self._save_button = w.Button(description="save", icon="save", layout=w.Layout(width="80px"))
        safe = guarded(self._show_error)
        self._add_button.on_click(safe(self._on_add))
        self._new_name.observe(safe(self._on_new_name), names="value")
        self._preset.observe(safe(self._on_preset), names="value")
        self._load_button.on_click(safe(lambda _b: self.load(self._path.value)))
        self._save_button.on_click(safe(lambda _b: self.save(self._path.value)))
        header = w.HTML("<small>name · synonyms · description · colour · threshold (min score, below: unknown)</small>")
        self.widget = w.VBox(
            [
                header,
                self._rows_box,
                w.HBox([self._new_name, self._add_button, self._preset]),
                w.HBox([self._path, self._load_button, self._save_button]),
                self.message,
            ]
        )
        self.widget.add_class("lslib-prompt-editor")
        self._muted += 1
        try:
            self._set_rows(list(first.classes), [c.colour is None for c in initial.classes])
        finally:
            self._muted -= 1
        try:  # the rows give every class an explicit colour: that set is the current one
            self._prompts = self._candidate()
        except ValueError as exc:
            self._show_error(str(exc))

    # --- state ---------------------------------------------------------------------------------
    @property
    def prompts(self) -> PromptSet:
        """The last valid prompt set (what the map shows)."""
        return self._prompts

    @property
    def rows(self) -> int:
        """The number of class rows in the editor."""
        return len(self._rows)

    def on_change(self, callback: ChangeCallback) -> None:
        """Register ``callback(prompt_set)``, called once per valid edit."""
        self._callbacks.append(callback)

    def name_widget(self, i: int) -> w.Text:
        """The name box of row ``i`` (what a user types into)."""
        return self._rows[i].name

    # --- programmatic edits: the same widgets and code path as the UI --------------------------
    def set_name(self, i: int, name: str) -> None:
        """Type ``name`` into row ``i``'s name box (committed like Enter)."""
        self._rows[i].name.value = name

    def set_synonyms(self, i: int, synonyms: Sequence[str] | str) -> None:
        """Set the synonyms of row ``i`` (a sequence, or one comma-separated string)."""
        self._rows[i].synonyms.value = synonyms if isinstance(synonyms, str) else ", ".join(synonyms)

    def set_description(self, i: int, description: str) -> None:
        """Set the description of row ``i``."""
        self._rows[i].description.value = description

    def set_colour(self, i: int, colour: str) -> None:
        """Set the colour of row ``i``."""
        self._rows[i].colour.value = colour

    def set_threshold(self, i: int, threshold: float) -> None:
        """Set the threshold of row ``i`` (the minimum fused score to name a pixel)."""
        self._rows[i].threshold.value = threshold

    def add_class(self, name: str = "", *, colour: str | None = None) -> None:
        """Append a class (a blank name adds an empty row to type into; it stays an error until named).

        Without ``colour`` it gets the suggested colour of its name (distinct from the other rows').
        """
        prompt = ClassPrompt(name=name, colour=colour)
        suggested = prompt if colour is not None else self._suggested([prompt])[-1]
        self._rows.append(self._make_row(suggested, auto=colour is None))
        self._show_rows()
        self._edited()

    def remove_class(self, i: int) -> None:
        """Remove row ``i`` (the other classes keep their colours)."""
        del self._rows[i]
        self._show_rows()
        self._edited()

    def move_class(self, i: int, j: int) -> None:
        """Move row ``i`` to position ``j`` (colours travel with their class)."""
        row = self._rows.pop(i)
        self._rows.insert(j, row)
        self._show_rows()
        self._edited()

    def set_prompts(self, prompts: PromptSet | Sequence[str] | str | os.PathLike[str]) -> None:
        """Replace every row (one change). Names are not validated first: an invalid list shows its error."""
        if isinstance(prompts, PromptSet | str | os.PathLike):
            initial = initial_prompts(prompts)
            ps = self._suggest(initial)
            self._meta = (ps.name, ps.threshold, ps.taxonomy)
            classes = list(ps.classes)
            auto = [c.colour is None for c in initial.classes]
        else:
            self._meta = ("prompts", 0.0, None)
            self._rows = []  # the new list replaces every row: no old colour to avoid
            classes = self._suggested([ClassPrompt(name=str(n)) for n in prompts])
            auto = [True] * len(classes)
        self._muted += 1
        try:
            self._set_rows(classes, auto)
        finally:
            self._muted -= 1
        self._edited()

    def load_preset(self, key: str) -> None:
        """Replace the rows with a taxonomy preset (:func:`lslib.prompt_set.from_taxonomy`)."""
        ps = psm.from_taxonomy(key)
        self._muted += 1
        try:
            self._preset.value = ps.taxonomy or ""
        finally:
            self._muted -= 1
        self.set_prompts(ps)

    def load(self, path: str | Path) -> None:
        """Load a prompt-set YAML (:func:`lslib.prompt_set.load`); errors go to the message line."""
        try:
            ps = psm.load(path)
        except (ValueError, FileNotFoundError) as exc:
            self._show_error(str(exc))
            return
        self._path.value = str(path)
        self.set_prompts(ps)
        if self.error is None:
            self._info(f"loaded {len(ps)} classes from {path}")

    def save(self, path: str | Path) -> Path:
        """Save the current (last valid) set as YAML, atomically."""
        out = psm.save(self._prompts, path)
        self._path.value = str(path)
        note = " (the rows have an error: the last valid set was saved)" if self.error else ""
        self.message.value = message_html(f"saved {len(self._prompts)} classes to {out}{note}", "ok")
        return out

    # --- internals -----------------------------------------------------------------------------
    def _suggested(self, new: list[ClassPrompt]) -> list[ClassPrompt]:
        """``new`` with suggested colours, distinct from the current rows'.

        Unchanged while the rows plus
        ``new`` are not a valid set (a blank or duplicate name): their rows take free palette colours.
        """
        try:
            rows = tuple(r.prompt(self._meta[1]) for r in self._rows)
            ps = self._suggest(PromptSet(classes=(*rows, *new)), self._meta[2])
        except ValueError:
            return new
        return list(ps.classes[len(rows) :])

    def _suggest(self, prompts: PromptSet, taxonomy: str | None = None) -> PromptSet:
        """``prompts`` with suggested colours, the reference's product (else the preset's) preferred."""
        prefer = self.prefer or taxonomy or prompts.taxonomy
        return psm.suggest_colours(prompts, self._embed, prefer=prefer if prefer in psm.presets() else None)

    def _free_colour(self) -> str:
        used = {r.colour.value.lower() for r in self._rows}
        for c in _PALETTE:
            if c.lower() not in used:
                return c
        return _PALETTE[len(self._rows) % len(_PALETTE)]

    def _make_row(self, prompt: ClassPrompt, *, auto: bool = False) -> _Row:
        row = _Row(prompt, prompt.colour or self._free_colour(), self._meta[1], auto=auto)
        safe = guarded(self._show_error)
        # registered before the row's change handler: a renamed row's suggested colour is updated first, so
        # the rename renders once, with the colour of its new name
        row.name.observe(safe(lambda _change, r=row: self._recolour(r)), names="value")
        row.colour.observe(lambda _change, r=row: self._colour_chosen(r), names="value")
        row.watch(safe(lambda _change: self._edited()))
        row.remove.on_click(safe(lambda _b, r=row: self.remove_class(self._rows.index(r))))
        row.up.on_click(safe(lambda _b, r=row: self.move_class(self._rows.index(r), max(0, self._rows.index(r) - 1))))
        return row

    def _set_rows(self, classes: list[ClassPrompt], auto: Sequence[bool] | None = None) -> None:
        flags = list(auto) if auto is not None else [False] * len(classes)
        self._rows = []
        for c, a in zip(classes, flags, strict=True):
            self._rows.append(self._make_row(c, auto=a))
        self._show_rows()

    def _recolour(self, row: _Row) -> None:
        """Give a renamed row the suggested colour of its new name, if its colour was suggested.

        The suggestion is distinct from the other rows' colours; a colour the user or the prompt set chose
        stays, and so does the colour of a blank or duplicate name.
        """
        if not row.auto or row not in self._rows:
            return
        threshold = self._meta[1]
        try:
            others = tuple(r.prompt(threshold) for r in self._rows if r is not row)
            renamed = ClassPrompt(name=row.name.value.strip())
            colour = self._suggest(PromptSet(classes=(*others, renamed)), self._meta[2]).classes[-1].colour
        except ValueError:
            return
        if colour is None or colour.lower() == str(row.colour.value).lower():
            return
        self._muted += 1
        self._recolouring = True
        try:
            row.colour.value = colour
        finally:
            self._recolouring = False
            self._muted -= 1

    def _colour_chosen(self, row: _Row) -> None:
        """A colour picked by the user (or :meth:`set_colour`) is theirs: it no longer follows renames."""
        if not self._recolouring:
            row.auto = False

    def _show_rows(self) -> None:
        self._rows_box.children = tuple(r.box for r in self._rows)

    def _candidate(self) -> PromptSet:
        name, threshold, taxonomy = self._meta
        classes = tuple(r.prompt(threshold) for r in self._rows)
        try:  # lslib.prompt_set.validate is the one check; two rows with one name are worded for the rows
            return PromptSet(classes=classes, name=name, threshold=threshold, taxonomy=taxonomy)
        except psm.DuplicateNameError as exc:
            if not exc.names:
                raise
            raise ValueError(
                f"class {exc.index + 1} {exc.term!r} has the same name as class {exc.other_index + 1} "
                f"{exc.other!r} (ignoring case, spaces and punctuation); rename one of them"
            ) from None

    def _edited(self) -> None:
        """Validate the rows; a valid, different set becomes current and is announced once."""
        if self._muted:
            return
        try:
            candidate = self._candidate()
        except ValueError as exc:
            self._show_error(str(exc))
            return
        self.error = None
        self.message.value = ""
        if candidate == self._prompts:
            return
        self._prompts = candidate
        self.changes += 1
        for callback in list(self._callbacks):
            callback(candidate)

    def _show_error(self, text: str) -> None:
        self.error = text
        self.message.value = message_html(f"{text} (the map keeps the last valid prompts)")

    def _info(self, text: str) -> None:
        self.message.value = message_html(text, "info")

    def _on_add(self, _button: object) -> None:
        name = self._new_name.value.strip()
        self._muted += 1
        try:
            self._new_name.value = ""
        finally:
            self._muted -= 1
        self.add_class(name)

    def _on_new_name(self, change: dict[str, object]) -> None:
        if self._muted or not str(change["new"]).strip():
            return
        self._on_add(None)

    def _on_preset(self, change: dict[str, object]) -> None:
        if self._muted or not change["new"]:
            return
        self.load_preset(str(change["new"]))
